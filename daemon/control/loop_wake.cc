#include "daemon/control/loop_wake.h"

#include <algorithm>

namespace tide {

bool WorkloadSettled(const RolloutInput& in, const RolloutPlan& plan) {
  if (!plan.create.empty() || !plan.drain.empty() || !plan.events.empty() || plan.mark_serving ||
      plan.state.failed) {
    return false;
  }
  if (in.instances.empty()) return in.desired == 0;
  if (static_cast<int>(in.instances.size()) != in.desired) return false;
  if (in.serving_generation != in.generation) return false;
  return std::all_of(in.instances.begin(), in.instances.end(), [&](const RolloutInstance& i) {
    return i.placed && i.Ready() && i.generation == in.generation;
  });
}

bool FullPassDue(const FullPassInput& in, const LoopTiming& timing) {
  return in.kicked || in.busy || in.node_state_changed ||
         in.now_ms - in.last_full_ms >= timing.resync_ms;
}

int64_t AutoscaleSleepMs(bool any_active, int64_t next_trigger_wall_ms, int64_t now_wall_ms,
                         const LoopTiming& timing) {
  if (any_active) return timing.period_ms;
  if (next_trigger_wall_ms <= 0) return timing.resync_ms;
  return std::clamp<int64_t>(next_trigger_wall_ms - now_wall_ms, 0, timing.resync_ms);
}

}  // namespace tide
