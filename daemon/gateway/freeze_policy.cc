#include "daemon/gateway/freeze_policy.h"

#include <cmath>

namespace tide::gw {

FreezePlan PlanFreezes(const std::vector<FreezeCandidate>& endpoints, int64_t freeze_after_ms,
                       int64_t now_ms) {
  FreezePlan plan;
  if (freeze_after_ms <= 0) return plan;
  for (const auto& e : endpoints) {
    if (e.frozen || e.inflight > 0) continue;
    const int64_t due = e.idle_since_ms + freeze_after_ms;
    if (due <= now_ms) {
      plan.freeze.push_back(e.instance_id);
    } else if (plan.next_ms < 0 || due < plan.next_ms) {
      plan.next_ms = due;
    }
  }
  return plan;
}

int64_t FreezeAfterMs(double seconds) {
  if (!(seconds > 0)) return 0;
  return static_cast<int64_t>(std::ceil(seconds * 1000));
}

}  // namespace tide::gw
