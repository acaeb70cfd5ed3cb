// A failed rollout: the old generations serve at the desired count again.
#include "daemon/control/rollout_pass.h"

namespace tide {

void PlanRollback(RolloutPass& p) {
  const RolloutInput& in = p.in;
  RolloutState& st = p.plan.state;
  const int desired = p.desired;
  // The failed generation keeps at most maxSurge instances: its state and logs stay visible.
  if (p.current.size() > static_cast<size_t>(p.surge)) {
    p.DrainFirst(p.current, p.current.size() - p.surge, "rollout failed: beyond maxSurge");
  }
  const int have_old = static_cast<int>(p.outdated.size());
  int old_after = have_old;
  if (have_old < desired) {
    const auto& serving = in.serving_generation;
    if (serving && *serving != in.generation) {
      p.Create(*serving, desired - have_old);
      old_after = desired;
      p.Event("Normal", "RestoringCapacity",
              "started " + std::to_string(desired - have_old) + " instance(s) of generation " +
                  std::to_string(*serving) + " so that " + std::to_string(desired) +
                  " serve while the rollout of generation " + std::to_string(in.generation) +
                  " is failed");
    } else if (!st.restore_impossible_reported) {
      st.restore_impossible_reported = true;
      p.Event("Warning", "RestoringCapacity",
              "only " + std::to_string(have_old) + " of " + std::to_string(desired) +
                  " old instances are left and their spec is not known (tided restarted during "
                  "the rollout): apply a fixed spec");
    }
  } else if (have_old > desired) {
    p.DrainFirst(p.outdated, have_old - desired, "scaled down");
  }
  // With nothing older to serve (not even being restored), the new instances keep their
  // traffic rather than leaving the workload with none.
  st.hide_failed_generation = old_after > 0;
}

}  // namespace tide
