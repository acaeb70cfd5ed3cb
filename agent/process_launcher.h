// OsProcessLauncher: the real ProcessLauncher (agent/launcher.h); children start through
// agent/spawn.h (clone + exec, as cheap as posix_spawn).
//
// Launch: argv is executed directly (never through a shell); argv[0] without '/' is looked up
// in the child's own PATH (spec.env, default "/usr/local/bin:/usr/bin:/bin"), and a missing
// executable or working dir is reported before spawning. The child gets exactly spec.env,
// stdin from /dev/null, stdout+stderr appended to spec.log_path (O_APPEND|O_CREAT, 0600), its
// own process group (setpgid(0,0)), the memory limit (agent/limits.h) and the task-count limit
// (agent/pids_limit.h), default signal mask and
// dispositions, and no other inherited file descriptors. It runs as spec.user or the node's
// default user (agent/run_as.h: resolved here, before the spawn; a user that cannot be
// resolved or is refused fails the launch with a message starting "spec.user"). The log file
// and the cgroup stay the agent's. The process is detached: it outlives
// the agent and is tracked by (pid, start time).
//
// Reaping: a launched process stays our child until TryReap reaps it with waitpid(pid) on that
// pid only (never waitpid(-1), so other children's statuses are not stolen). Processes that are
// not our children (re-adopted after an agent restart) are reported ended, with exit code -1,
// once they are gone. OOM kills are detected through the instance's cgroup counters.
//
// With Options::cgroup_pool, Launch first tries a ready exec stub (agent/cgroup_pool.h): its
// cgroup becomes the instance's (MemoryLimits::Adopt) and it execs the same argv, env, fds and
// user as Spawn would give; when none is ready, or it cannot be used, the launch takes the
// ordinary way.
//
// Exits are noticed through agent/exit_watcher.h (a pidfd per launched or re-adopted process).
//
// LaunchMany runs up to kLaunchThreads launches at a time: each one waits for its child to
// exec, and on a busy host most of that wait is the child waiting for a CPU. Its threads
// launch from a private descriptor table holding only fds 0-2 (unshare(CLONE_FILES)), so the
// cost of a launch does not grow with the pidfds of the instances already running.
//
// Thread-safety: every method may be called from any thread (internally locked).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "agent/launcher.h"
#include "agent/limits.h"
#include "agent/pids_limit.h"
#include "agent/run_as.h"

namespace tide {

class OsProcessLauncher : public ProcessLauncher {
 public:
  struct Options {
    std::string proc_root = "/proc";
    // Where instance cgroups go; nullopt = DetectCgroupLayout(proc_root).
    std::optional<CgroupLayout> cgroups;
    // Where instance pids cgroups go (agent/pids_limit.h); nullopt = DetectPidsLayout.
    std::optional<PidsLayout> pids;
    // Who instances run as when their spec names no user, and whether root is allowed. The
    // library default keeps the launcher's own user, root included; the agent sets its policy.
    RunAsPolicy run_as{"", true};
    // Exec stubs kept ready inside cgroups of their own (agent/cgroup_pool.h), so a launch
    // skips the cgroup join; 0 = none. pool_exe is the binary whose main() calls
    // MaybeRunExecStub (the agent's own: "/proc/self/exe"); stubs are started from the small
    // `tide-exec-stub` beside it when there is one (ExecStubBinary, agent/exec_stub.h). Used by
    // Launch, not LaunchMany.
    size_t cgroup_pool = 0;
    std::string pool_exe;
  };

  OsProcessLauncher();
  explicit OsProcessLauncher(Options options);
  ~OsProcessLauncher() override;
  OsProcessLauncher(const OsProcessLauncher&) = delete;
  OsProcessLauncher& operator=(const OsProcessLauncher&) = delete;

  static constexpr int kLaunchThreads = 4;

  Status Launch(const LaunchSpec& spec, LaunchResult* out) override;
  void LaunchMany(const std::vector<LaunchSpec>& specs, std::vector<Status>* statuses,
                  std::vector<LaunchResult>* out) override;
  void SetExitListener(std::function<void()> listener) override;
  void SignalGroup(int pid, int sig) override;
  bool IsAlive(int pid, uint64_t start_time) override;
  std::optional<ExitInfo> TryReap(int pid, uint64_t start_time) override;
  std::map<int, ProcSample> Sample(const std::vector<int>& pids) override;
  void Cleanup(const std::string& instance_id) override;
  // How spec.resources.pids is enforced on this host (PidsLimits::Describe), for the start log.
  std::string PidsEnforcement() const;

  // Waits until the cgroup pool holds n ready stubs (tests, benchmarks); false at the deadline
  // or without a pool.
  bool WaitPoolReady(size_t n, int timeout_ms);

  // Resolves argv[0] the way Launch does: through env's PATH when it has no '/', relative
  // paths against working_dir. NotFound "executable not found: NAME" when there is none.
  static Status ResolveExecutable(const std::string& name,
                                  const std::map<std::string, std::string>& env,
                                  const std::string& working_dir, std::string* path);

 private:
  // Launch without registering the child with the exit watcher (the caller does, from the
  // thread whose descriptor table the pidfd belongs in).
  // may_use_pool: false on LaunchMany's threads, whose descriptor tables lack the stubs'.
  Status LaunchUnwatched(const LaunchSpec& spec, LaunchResult* out, bool may_use_pool);

  // How long a stub may take to exec before the launch gives it up.
  static constexpr int kStubAnswerMs = 10000;
  // Through a ready stub: *pid stays -1 when none was ready or usable (then spawn directly);
  // an error when the program itself could not be started.
  Status LaunchFromPool(const LaunchSpec& spec, const std::string& exe,
                        const std::string& chdir_path, const RunAs& run_as, int stdin_fd,
                        int log_fd, int listen_fd, int* pid, LimitEnforcer* enforcer,
                        LimitEnforcer* pids_enforcer);
  Status SpawnDirect(const LaunchSpec& spec, const std::string& exe, const std::string& chdir_path,
                     const RunAs& run_as, const ChildLimit& limit, int stdin_fd, int log_fd,
                     int listen_fd, int* pid);
  // Socket activation: a listening socket on every interface at port (fd >= 4, close-on-exec).
  static Status ListenForActivation(int port, int* fd);
  static constexpr size_t kPidDigits = 11;  // room for any pid and its NUL

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tide
