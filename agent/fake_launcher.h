// FakeLauncher: an in-memory ProcessLauncher for unit tests of the Supervisor (and anything else
// above the OS seam). "Processes" are records; tests make them exit with Exit() and see every
// signal sent. Not thread-safe (tests drive it from one thread).
#pragma once

#include <signal.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/launcher.h"

namespace tide {

class FakeLauncher : public ProcessLauncher {
 public:
  struct Proc {
    LaunchSpec spec;
    int pid = 0;
    uint64_t start_time = 0;
    bool alive = true;
    bool reaped = false;
    ExitInfo exit;
    ProcSample sample;
  };

  Status Launch(const LaunchSpec& spec, LaunchResult* out) override {
    ++launch_attempts;
    if (spec.argv.empty() || missing_commands.count(spec.argv[0])) {
      return Status::NotFound("executable not found: " + (spec.argv.empty() ? "" : spec.argv[0]));
    }
    if (!fail_message.empty()) {
      return fail_not_found ? Status::NotFound(fail_message) : Status::Internal(fail_message);
    }
    Proc p;
    p.spec = spec;
    p.pid = next_pid_++;
    p.start_time = 5000 + static_cast<uint64_t>(p.pid);
    procs_[p.pid] = p;
    launched.push_back(p.pid);
    out->pid = p.pid;
    out->start_time = p.start_time;
    out->limit_enforcer = spec.memory_limit_bytes > 0 ? "rlimit" : "none";
    out->pids_enforcer = spec.pids_limit > 0 ? "rlimit" : "none";
    return Status::Ok();
  }

  void SignalGroup(int pid, int sig) override {
    signals.emplace_back(pid, sig);
    auto it = procs_.find(pid);
    if (it == procs_.end() || !it->second.alive) return;
    if (sig == SIGKILL || (sig == SIGTERM && exit_on_sigterm)) Exit(pid, ExitInfo{-1, sig, false});
  }

  bool IsAlive(int pid, uint64_t start_time) override {
    auto it = procs_.find(pid);
    return it != procs_.end() && it->second.alive && it->second.start_time == start_time;
  }

  std::optional<ExitInfo> TryReap(int pid, uint64_t start_time) override {
    auto it = procs_.find(pid);
    if (it == procs_.end() || it->second.start_time != start_time) return ExitInfo{};
    if (it->second.alive) return std::nullopt;
    if (it->second.reaped) return ExitInfo{};
    it->second.reaped = true;
    return it->second.exit;
  }

  std::map<int, ProcSample> Sample(const std::vector<int>& pids) override {
    ++sample_calls;
    std::map<int, ProcSample> out;
    for (int pid : pids) {
      auto it = procs_.find(pid);
      if (it != procs_.end() && it->second.alive) out[pid] = it->second.sample;
    }
    return out;
  }

  void Cleanup(const std::string& instance_id) override { cleaned.push_back(instance_id); }

  // ---- test controls ----
  void Exit(int pid, ExitInfo info) {
    Proc& p = procs_.at(pid);
    p.alive = false;
    p.exit = info;
  }
  Proc& Get(int pid) { return procs_.at(pid); }
  Proc& Last() { return procs_.at(launched.back()); }
  int SignalCount(int pid, int sig) const {
    int n = 0;
    for (const auto& [p, s] : signals) n += (p == pid && s == sig) ? 1 : 0;
    return n;
  }

  std::set<std::string> missing_commands;  // argv[0] values that are "not found"
  std::string fail_message;                // non-empty: every Launch fails with it
  bool fail_not_found = false;             // ... with code NotFound instead of Internal
  bool exit_on_sigterm = true;             // a SIGTERMed process ends at once
  int launch_attempts = 0;
  int sample_calls = 0;       // Sample() calls (each is one pass over /proc for the real launcher)
  std::vector<int> launched;  // pids, in launch order
  std::vector<std::pair<int, int>> signals;  // (pid, signal)
  std::vector<std::string> cleaned;          // Cleanup() calls

 private:
  int next_pid_ = 100;
  std::map<int, Proc> procs_;
};

}  // namespace tide
