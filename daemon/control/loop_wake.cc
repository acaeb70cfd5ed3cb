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

int64_t TrimDueMs(int64_t last_full_ms, int64_t last_trim_ms) {
  if (last_trim_ms < last_full_ms) return std::max(last_full_ms, last_trim_ms + kTrimEveryMs);
  if (last_trim_ms < last_full_ms + kTrimSettleMs) return last_full_ms + kTrimSettleMs;
  return -1;
}

int64_t HearingPassMs(int64_t stall_ms, const LoopTiming& timing) {
  return std::max(timing.period_ms, stall_ms / 2);
}

int64_t ReconcileSleepMs(const ReconcileSleepInput& in, const LoopTiming& timing) {
  if (in.busy) return timing.period_ms;
  int64_t wake = in.last_full_ms + timing.resync_ms;
  if (in.node_deadline_ms >= 0) {
    wake = std::min({wake, in.node_deadline_ms, in.now_ms + HearingPassMs(in.stall_ms, timing)});
  }
  if (in.trim_due_ms >= 0) wake = std::min(wake, in.trim_due_ms);
  // Never a busy loop on a deadline already past (the light pass just made moved it).
  return std::clamp<int64_t>(wake - in.now_ms, 1, timing.resync_ms);
}

int64_t AutoscaleSleepMs(bool any_active, int64_t next_trigger_wall_ms, int64_t now_wall_ms,
                         const LoopTiming& timing) {
  if (any_active) return timing.period_ms;
  if (next_trigger_wall_ms <= 0) return timing.resync_ms;
  return std::clamp<int64_t>(next_trigger_wall_ms - now_wall_ms, 0, timing.resync_ms);
}

}  // namespace tide
