// CrashBackoff: the crash-loop restart delay of one instance, from tide::Backoff (api/model.h).
// The n-th consecutive crash waits initial x 2^(n-1), capped at max (defaults 1 s, 2 s, 4 s, ...
// 256 s, 300 s, 300 s). A process that ran at least reset_after_seconds before it ended resets the
// count first, so its crash waits `initial` again. Launch failures count as crashes that ran for
// no time. Pure: times are steady milliseconds passed in by the caller (read from tide::Clock).
// Not thread-safe; one object per instance, owned by the Supervisor.
#pragma once

#include <cstdint>

#include "api/model.h"

namespace tide {

class CrashBackoff {
 public:
  explicit CrashBackoff(const Backoff& config = Backoff{}) : config_(config) {}

  // The process was (re)started at now_ms (steady).
  void Started(int64_t now_ms) { started_ms_ = now_ms; }
  // The process ended (or could not be started) at now_ms. Returns the delay in ms to wait before
  // the next start and counts the crash.
  int64_t Crashed(int64_t now_ms);
  // Crashes since the last reset (0 before the first).
  int consecutive() const { return consecutive_; }
  // The delay the next crash would get, without counting it.
  int64_t PeekDelayMs() const;
  void Reset() { consecutive_ = 0; }
  void set_config(const Backoff& config) { config_ = config; }

 private:
  Backoff config_;
  int consecutive_ = 0;
  int64_t started_ms_ = -1;  // -1: not running since the last crash
};

}  // namespace tide
