// Task-count limits for instances (spec.resources.pids, issue 15): a fork bomb in one instance
// stops at its own limit instead of exhausting the node's pid space.
//
// Enforced, in order of preference, through
//   cgroup2: `pids` enabled in the agent's own v2 cgroup's subtree_control; the instance's v2
//            cgroup (<own>/tide/<instance>, the same directory agent/limits.h uses for memory)
//            gets pids.max. Counts processes and threads of everything in the instance.
//   cgroup1: the v1 `pids` hierarchy (<pids mount>/<own>/tide/<instance>, pids.max); the
//            child joins it beside its memory cgroup.
//   rlimit:  RLIMIT_NPROC in the child. Coarse: the kernel counts every process of the
//            instance's real uid on the whole host, not just the instance's, and ignores the
//            limit for root (CAP_SYS_ADMIN / CAP_SYS_RESOURCE). Used only where no pids
//            controller is reachable; the enforcer is reported so operators can see it.
// On a pure cgroup-v2 host under systemd 252 (no DelegateSubgroup=) the agent's service cgroup
// holds the agent itself, so no controller can be enabled below it ("no internal processes"):
// instances get the rlimit there (docs/operations.md).
//
// What the child does is in ChildLimit (agent/limits.h: pids_procs_path, nproc), applied
// between fork and exec by ChildLimit::ApplyInChild with async-signal-safe calls only.
// Prepare must be called after MemoryLimits::Prepare (which resets the ChildLimit).
//
// Thread-safety: PidsLimits has no mutable state beyond the file system; any thread may call it.
#pragma once

#include <cstdint>
#include <string>

#include "agent/limits.h"
#include "api/status.h"

namespace tide {

struct PidsLayout {
  std::string cgroup2_parent;  // <own v2 cgroup>/tide when `pids` is in its subtree_control
  std::string cgroup1_parent;  // <v1 pids mount>/<own>/tide when the v1 pids hierarchy exists
};

// Reads /proc/self/mountinfo and /proc/self/cgroup under proc_root; nothing assumed.
PidsLayout DetectPidsLayout(const std::string& proc_root = "/proc");

class PidsLimits {
 public:
  explicit PidsLimits(PidsLayout layout) : layout_(std::move(layout)) {}

  // Sets up at most `max` tasks (0 = unlimited: nothing is made, enforcer kNone) for the
  // instance's next process and fills limit->pids_enforcer / pids_procs_path / nproc. Falls
  // back cgroup2 -> cgroup1 -> rlimit when a cgroup cannot be made. Fails only on max < 0.
  Status Prepare(const std::string& instance_id, int64_t max, ChildLimit* limit) const;
  // Hands the pids cgroup prepared for `from_id` (a stub's, agent/cgroup_pool.h) to instance
  // to_id and sets `max` (0 = unlimited): v2 shares the memory cgroup's directory (already
  // renamed by MemoryLimits::Adopt), v1 renames its own. False when there is no pids cgroup
  // to give and a limit is asked (the rlimit fallback is the child's: a stub cannot take it).
  bool Adopt(const std::string& from_id, const std::string& to_id, int64_t max,
             LimitEnforcer* enforcer) const;
  // A stub's limit while it waits: high, replaced at Adopt.
  static constexpr int64_t kPoolMax = 1 << 22;
  // Kills what is left in the instance's pids cgroups and removes them. Best effort; works
  // without a prior Prepare (after an agent restart).
  void Cleanup(const std::string& instance_id) const;

  // What a new instance's limit will go through: "cgroup2 (DIR)", "cgroup1 (DIR)" or
  // "rlimit (RLIMIT_NPROC)", for the agent's start log.
  std::string Describe() const;
  const PidsLayout& layout() const { return layout_; }

 private:
  const PidsLayout layout_;
};

}  // namespace tide
