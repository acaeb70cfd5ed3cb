// Memory-limit enforcement for instance processes: cgroup v2, else cgroup v1, else RLIMIT_AS.
//
// Detection happens at run time (DetectCgroupLayout reads /proc/self/mountinfo and
// /proc/self/cgroup); nothing is assumed about the host. Instance cgroups are created under the
// agent's OWN cgroup (so a containerised or systemd-managed agent keeps its workloads inside
// its own accounting): <own cgroup>/tide/<instance>. For an agent in the root cgroup that is
// /sys/fs/cgroup[/memory]/tide/<instance>.
//   cgroup2: used when `memory` is in the parent's cgroup.subtree_control; writes memory.max
//            (+ memory.swap.max=0, memory.oom.group=1 when available).
//   cgroup1: the v1 memory hierarchy; writes memory.limit_in_bytes (+ memsw when available).
//   rlimit:  setrlimit(RLIMIT_AS) in the child (limits address space, not RSS: coarse).
// The parent (MemoryLimits::Prepare) creates and configures the directory and fills a
// ChildLimit; the child applies it between fork and exec with ChildLimit::ApplyInChild, which
// only makes async-signal-safe calls on strings prepared by the parent.
//
// Without a memory limit an instance still gets a cgroup of its own (v2, else v1, without a
// limit; enforcer stays kNone) when one can be made, so Cleanup kills everything it started,
// setsid() daemons included: Cleanup kills what cgroup.procs lists until the cgroup is empty.
//
// Thread-safety: MemoryLimits is internally locked; ChildLimit is a plain value.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "api/status.h"

namespace tide {

enum class LimitEnforcer { kNone, kCgroup2, kCgroup1, kRlimit };
// "none" | "cgroup2" | "cgroup1" | "rlimit"
const char* LimitEnforcerName(LimitEnforcer e);

// Where instance cgroups go. An empty string disables that mechanism.
struct CgroupLayout {
  std::string cgroup2_parent;  // e.g. /sys/fs/cgroup/<own>/tide (instances are subdirs)
  std::string cgroup1_parent;  // e.g. /sys/fs/cgroup/memory/<own>/tide
};

// Finds the cgroup v2 mount and the v1 memory mount, and the agent's own cgroup in each.
// cgroup2_parent is set only when `memory` is enabled in the own v2 cgroup's subtree_control.
CgroupLayout DetectCgroupLayout(const std::string& proc_root = "/proc");

// What the child does between fork and exec.
struct ChildLimit {
  LimitEnforcer enforcer = LimitEnforcer::kNone;
  std::string procs_path;    // cgroup.procs to write the child's pid into; "" = no cgroup
  int64_t rlimit_bytes = 0;  // RLIMIT_AS (rlimit)
  // The task-count limit (agent/pids_limit.h): a second cgroup.procs to join (the v1 pids
  // hierarchy; "" when none or when it is procs_path itself) or RLIMIT_NPROC (rlimit).
  LimitEnforcer pids_enforcer = LimitEnforcer::kNone;
  std::string pids_procs_path;
  int64_t nproc = 0;
  // Async-signal-safe. Returns 0, or an errno value (errno is also left set).
  int ApplyInChild() const noexcept;
};

class MemoryLimits {
 public:
  explicit MemoryLimits(CgroupLayout layout);

  // Chooses and prepares enforcement of `bytes` (0 = none) for the instance's next process.
  // Falls back v2 -> v1 -> rlimit when a cgroup cannot be created or configured; the
  // returned ChildLimit says which one was chosen. Only fails on bytes < 0.
  Status Prepare(const std::string& instance_id, int64_t bytes, ChildLimit* out);
  // Hands the cgroup prepared for `from_id` (without a limit: a stub's, agent/cgroup_pool.h) to
  // instance_id: renames its directory to the instance's and writes `bytes` (0 = none). False
  // when that cannot be done; then nothing was renamed and from_id keeps its cgroup. *enforcer
  // says what enforces the limit (kNone without one).
  bool Adopt(const std::string& from_id, const std::string& instance_id, int64_t bytes,
             LimitEnforcer* enforcer);
  // True when the instance's cgroup recorded an OOM kill since Prepare.
  bool OomKilled(const std::string& instance_id) const;
  // Removes the instance's cgroup directory (killing stragglers left in it first). Works
  // without a prior Prepare (e.g. after an agent restart). Best effort.
  void Cleanup(const std::string& instance_id);

  const CgroupLayout& layout() const { return layout_; }
  // The directory an instance's cgroup has under `parent` (instance id sanitised).
  static std::string InstanceDir(const std::string& parent, const std::string& instance_id);

 private:
  struct Prepared {
    LimitEnforcer enforcer = LimitEnforcer::kNone;
    std::string dir;
    int64_t oom_baseline = 0;
  };
  bool TryCgroup2(const std::string& dir, int64_t bytes);
  bool TryCgroup1(const std::string& dir, int64_t bytes);
  static bool WriteLimit2(const std::string& dir, int64_t bytes);
  static bool WriteLimit1(const std::string& dir, int64_t bytes);
  static int64_t OomCount(LimitEnforcer e, const std::string& dir);

  const CgroupLayout layout_;
  mutable std::mutex mu_;
  std::map<std::string, Prepared> prepared_;  // by instance id
};

}  // namespace tide
