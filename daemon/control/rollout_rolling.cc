// Rolling update: surge new instances in, retire old ones while enough stay Ready.
#include <algorithm>

#include "daemon/control/rollout_pass.h"

namespace tide {

void PlanRolling(RolloutPass& p) {
  const RolloutInput& in = p.in;
  const int desired = p.desired;
  if (p.outdated.empty() && p.available_current >= desired) {
    p.plan.mark_serving = true;  // complete: every instance runs this generation, available
    p.Event("Normal", "RolloutComplete",
            "generation " + std::to_string(in.generation) + " is available with " +
                std::to_string(p.available_current) + " instances");
  }
  const int current = static_cast<int>(p.current.size());
  const int total = current + static_cast<int>(p.outdated.size());
  // New instances: up to the desired count, and no more than maxSurge above it in all.
  p.Create(in.generation, std::min(desired - current, desired + p.surge - total));

  // Old instances retire while the Ready old ones plus the available new ones stay at least
  // desired - maxUnavailable; old ones that are not Ready retire freely.
  int ready_old = 0;
  for (const auto* r : p.outdated) ready_old += r->Ready() ? 1 : 0;
  const int min_ready = std::max(0, desired - p.unavailable);
  VictimOrder(p.outdated);
  size_t retire = 0;
  for (const auto* r : p.outdated) {
    const bool ready = r->Ready();
    if (ready && ready_old + p.available_current - 1 < min_ready) break;
    ++retire;
    if (ready) --ready_old;
  }
  p.DrainFirst(p.outdated, retire, "replaced by a newer generation");
  if (current > desired) p.DrainFirst(p.current, current - desired, "scaled down");
}

}  // namespace tide
