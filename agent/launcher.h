// ProcessLauncher: the seam between the agent's supervision logic and the operating system.
// The Supervisor only talks to this interface, so its state machines run against a fake in unit
// tests. The real implementation (agent/process_launcher.h, on agent/spawn.h) starts every
// instance in its own process group (setpgid), never through a shell, with stdout/stderr going
// straight to the instance's log file, and applies the memory limit (cgroup v2, v1, rlimit).
// Children are detached: they survive the agent, which re-adopts them by (pid, start time).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/status.h"

namespace tide {

struct LaunchSpec {
  std::string instance_id;
  std::vector<std::string> argv;           // argv[0] resolved through env PATH when it has no '/'
  std::map<std::string, std::string> env;  // the complete environment of the child
  std::string working_dir;                 // "" = agent's cwd
  std::string log_path;                    // stdout+stderr appended here (O_APPEND)
  int64_t memory_limit_bytes = 0;          // 0 = unlimited
  int64_t pids_limit = 0;                  // most tasks at once (agent/pids_limit.h); 0 = unlimited
  std::string user;                        // spec.user; "" = the node's default (agent/run_as.h)
  // Socket activation (spec.socketActivation): the launcher binds this port on every interface,
  // listens, and passes the socket as fd 3 with LISTEN_FDS=1, LISTEN_PID and
  // LISTEN_FDNAMES=http in the environment. 0 = none.
  int listen_port = 0;
};

struct LaunchResult {
  int pid = 0;
  uint64_t start_time = 0;     // /proc/PID/stat field 22: identifies the process with its pid
  std::string limit_enforcer;  // cgroup2 | cgroup1 | rlimit | none
  std::string pids_enforcer;   // cgroup2 | cgroup1 | rlimit | none (the task-count limit)
};

// CPU and memory of one instance: summed over every process in its process group.
struct ProcSample {
  double cpu_seconds_total = 0;  // user + system
  int64_t rss_bytes = 0;
};

// How a process ended, when the launcher can know it.
struct ExitInfo {
  int exit_code = -1;  // -1 when killed by a signal or unknown
  int signal = 0;      // 0 when it exited normally
  bool oom_killed = false;
};

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  // Starts the process. A missing executable or bad working dir is an error Status whose
  // message names the problem (e.g. "executable not found: foo").
  virtual Status Launch(const LaunchSpec& spec, LaunchResult* out) = 0;
  // Launches several processes; (*statuses)[i] and (*out)[i] answer specs[i]. The real launcher
  // overlaps them on a few threads (each launch waits until its child has exec'd).
  virtual void LaunchMany(const std::vector<LaunchSpec>& specs, std::vector<Status>* statuses,
                          std::vector<LaunchResult>* out) {
    statuses->assign(specs.size(), Status::Ok());
    out->assign(specs.size(), LaunchResult{});
    for (size_t i = 0; i < specs.size(); ++i) (*statuses)[i] = Launch(specs[i], &(*out)[i]);
  }
  // `listener` is called (from another thread) soon after any launched or re-adopted process
  // ends, so the caller can reap it without waiting for its next periodic pass; nullptr stops
  // the calls (none runs once this returns). Default: never called.
  virtual void SetExitListener(std::function<void()> listener) { (void)listener; }
  // Sends sig to the whole process group of pid (the instance and everything it forked).
  virtual void SignalGroup(int pid, int sig) = 0;
  // True while the process (pid, start_time) exists and is not a zombie; a reused pid with a
  // different start time is not alive.
  virtual bool IsAlive(int pid, uint64_t start_time) = 0;
  // Non-blocking: if the process has ended, reaps it (when it is our child) and returns how it
  // ended (exit code unknown, -1, for re-adopted non-children). nullopt while it still runs.
  virtual std::optional<ExitInfo> TryReap(int pid, uint64_t start_time) = 0;
  // Samples each instance's process group (keyed by its leader's pid) in one pass; an instance
  // of which nothing could be read is absent from the result.
  virtual std::map<int, ProcSample> Sample(const std::vector<int>& pids) = 0;
  // Releases per-instance OS resources (cgroup directory) after the process is gone.
  virtual void Cleanup(const std::string& instance_id) = 0;
};

}  // namespace tide
