// Clock: the only way Tide code reads time, so controllers and state machines can be tested
// deterministically with FakeClock. Times are milliseconds: steady (monotonic) for deadlines and
// windows, wall (Unix epoch) for timestamps shown to users.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace tide {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic milliseconds; never goes back. Use for timeouts, windows, backoff.
  virtual int64_t NowMs() const = 0;
  // Wall-clock milliseconds since the Unix epoch. Use for timestamps shown to users.
  virtual int64_t WallMs() const = 0;
};

class SystemClock : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t WallMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  // Process-wide instance; lives forever.
  static SystemClock& Get() {
    static SystemClock c;
    return c;
  }
};

// Test clock: starts at an arbitrary fixed point and moves only when Advance() is called.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1'000'000) : now_(start_ms) {}
  int64_t NowMs() const override { return now_.load(); }
  int64_t WallMs() const override { return 1'700'000'000'000 + now_.load(); }
  void Advance(int64_t ms) { now_ += ms; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace tide
