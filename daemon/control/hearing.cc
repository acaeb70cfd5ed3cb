#include "daemon/control/hearing.h"

#include <algorithm>

namespace tide {

HearingWindow::HearingWindow(int64_t start_ms, int64_t stall_ms, int64_t min_reset_interval_ms)
    : stall_ms_(stall_ms),
      min_reset_interval_ms_(min_reset_interval_ms),
      heard_since_ms_(start_ms),
      last_pass_ms_(start_ms) {}

bool HearingWindow::Observe(int64_t now_ms) {
  const int64_t gap = now_ms - last_pass_ms_;
  last_pass_ms_ = std::max(last_pass_ms_, now_ms);
  if (gap <= stall_ms_) return false;
  if (reset_before_ && now_ms - heard_since_ms_ < min_reset_interval_ms_) return false;
  reset_before_ = true;
  heard_since_ms_ = now_ms;
  last_stall_ms_ = gap;
  return true;
}

int64_t HearingWindow::SilenceOf(int64_t last_heartbeat_ms, int64_t now_ms) const {
  return now_ms - std::max(last_heartbeat_ms, heard_since_ms_);
}

int64_t StallBoundMs(int64_t node_grace_ms, int64_t reconcile_period_ms) {
  return std::max(2 * reconcile_period_ms, std::min<int64_t>(2000, node_grace_ms / 4));
}

}  // namespace tide
