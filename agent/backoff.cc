#include "agent/backoff.h"

#include <algorithm>
#include <cmath>

namespace tide {

int64_t CrashBackoff::PeekDelayMs() const {
  const double initial_ms = std::max(0.0, config_.initial_seconds * 1000.0);
  const double max_ms = std::max(initial_ms, config_.max_seconds * 1000.0);
  // 2^63 overflows; anything past 2^40 x initial is far beyond any sensible cap anyway.
  const int exponent = std::min(consecutive_, 40);
  const double delay = std::min(max_ms, initial_ms * std::ldexp(1.0, exponent));
  return static_cast<int64_t>(std::llround(delay));
}

int64_t CrashBackoff::Crashed(int64_t now_ms) {
  if (started_ms_ >= 0 &&
      now_ms - started_ms_ >= static_cast<int64_t>(config_.reset_after_seconds * 1000.0)) {
    consecutive_ = 0;
  }
  started_ms_ = -1;
  const int64_t delay = PeekDelayMs();
  ++consecutive_;
  return delay;
}

}  // namespace tide
