#include "agent/backoff.h"

#include <gtest/gtest.h>

#include <vector>

#include "api/clock.h"

namespace tide {
namespace {

TEST(CrashBackoffTest, DoublesFromInitialAndCapsAtMax) {
  FakeClock clock;
  CrashBackoff b;  // defaults: 1 s .. 300 s
  std::vector<int64_t> got;
  for (int i = 0; i < 11; ++i) {
    b.Started(clock.NowMs());
    clock.Advance(500);  // crashes quickly every time
    const int64_t d = b.Crashed(clock.NowMs());
    got.push_back(d);
    clock.Advance(d);
  }
  const std::vector<int64_t> want = {1000,  2000,   4000,   8000,   16000, 32000,
                                     64000, 128000, 256000, 300000, 300000};
  EXPECT_EQ(got, want);
  EXPECT_EQ(b.consecutive(), 11);
}

TEST(CrashBackoffTest, ResetsAfterHealthyRun) {
  FakeClock clock;
  Backoff cfg;
  cfg.initial_seconds = 1;
  cfg.max_seconds = 300;
  cfg.reset_after_seconds = 600;
  CrashBackoff b(cfg);
  for (int i = 0; i < 4; ++i) {
    b.Started(clock.NowMs());
    clock.Advance(10);
    b.Crashed(clock.NowMs());
  }
  EXPECT_EQ(b.PeekDelayMs(), 16000);
  // Ran 599.999 s: not long enough, the delay keeps growing.
  b.Started(clock.NowMs());
  clock.Advance(599'999);
  EXPECT_EQ(b.Crashed(clock.NowMs()), 16000);
  // Ran the full reset window: back to the initial delay.
  b.Started(clock.NowMs());
  clock.Advance(600'000);
  EXPECT_EQ(b.Crashed(clock.NowMs()), 1000);
  EXPECT_EQ(b.consecutive(), 1);
}

TEST(CrashBackoffTest, LaunchFailuresWithoutStartKeepGrowing) {
  FakeClock clock;
  CrashBackoff b;
  EXPECT_EQ(b.Crashed(clock.NowMs()), 1000);
  clock.Advance(700'000);  // a long wait is not healthy running
  EXPECT_EQ(b.Crashed(clock.NowMs()), 2000);
}

// A launch failure is a crash that ran for no time: after a healthy run has reset the count, a
// start that fails long afterwards grows the delay again; the long-gone run does not reset it
// a second time.
TEST(CrashBackoffTest, LaunchFailureLongAfterAHealthyRunKeepsGrowing) {
  FakeClock clock;
  CrashBackoff b;  // resets after 600 s of running
  b.Crashed(clock.NowMs());
  b.Crashed(clock.NowMs());
  b.Started(clock.NowMs());
  clock.Advance(700'000);  // a healthy run
  EXPECT_EQ(b.Crashed(clock.NowMs()), 1000) << "the healthy run resets the count";
  clock.Advance(700'000);  // the restart fails: no Started() in between
  EXPECT_EQ(b.Crashed(clock.NowMs()), 2000);
  clock.Advance(700'000);
  EXPECT_EQ(b.Crashed(clock.NowMs()), 4000);
  EXPECT_EQ(b.consecutive(), 3);
}

TEST(CrashBackoffTest, CustomConfig) {
  Backoff cfg;
  cfg.initial_seconds = 0.25;
  cfg.max_seconds = 1;
  CrashBackoff b(cfg);
  EXPECT_EQ(b.Crashed(0), 250);
  EXPECT_EQ(b.Crashed(0), 500);
  EXPECT_EQ(b.Crashed(0), 1000);
  EXPECT_EQ(b.Crashed(0), 1000);
  b.Reset();
  EXPECT_EQ(b.Crashed(0), 250);
}

}  // namespace
}  // namespace tide
