// Internal to the rollout planner (rollout*.cc; see rollout.h for the rules): one pass over a
// workload's live instances, split by generation, and the step each file contributes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/control/rollout.h"

namespace tide {

struct RolloutPass {
  RolloutPass(const RolloutInput& in, RolloutPlan& plan);

  const RolloutInput& in;
  RolloutPlan& plan;
  int desired = 0;                               // in.desired, at least 0
  std::vector<const RolloutInstance*> current;   // this generation
  std::vector<const RolloutInstance*> outdated;  // older ones
  int surge = 1, unavailable = 0;                // rollout settings, both 0 -> surge 1
  int64_t min_ready_ms = 0;
  int64_t progress_deadline_ms = 0;
  int available_current = 0;  // set by CheckProgress

  void Create(int64_t generation, int count);
  void Event(const std::string& type, const std::string& reason, const std::string& message);
  // Puts `v` in victim order (see rollout.h) and drains its first `n`.
  void DrainFirst(std::vector<const RolloutInstance*>& v, size_t n, const std::string& reason);
};

// Sorts `v` into victim order (see rollout.h): the first ones are drained first.
void VictimOrder(std::vector<const RolloutInstance*>& v);

// rollout_progress.cc: counts available new instances, notes progress, fails the rollout on a
// crash loop or when progressDeadlineSeconds passed without progress.
void CheckProgress(RolloutPass& p);
// rollout_rolling.cc: surge and retire; marks the generation serving when complete.
void PlanRolling(RolloutPass& p);
// rollout_rollback.cc: a failed rollout's plan.
void PlanRollback(RolloutPass& p);

}  // namespace tide
