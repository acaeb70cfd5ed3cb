// Adaptive keep-alive on synthetic traces with a FakeClock: the histogram's buckets and
// percentiles, the fallback while it is thin or unrepresentative, unloading and pre-warming
// around a periodic Function, keeping a frequent one, ageing, and the pre-warm scale change.
#include "daemon/control/keepalive_policy.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "api/clock.h"

namespace tide {
namespace {

constexpr int64_t kSec = 1000;
constexpr int64_t kMin = 60 * kSec;

// Replays invocations (start offsets from the clock's start, each running `exec_ms`) through a
// tracker as the control plane would, and counts the calls that found no instance loaded.
struct Replay {
  FakeClock clock;
  KeepAliveTracker t;
  KeepAliveOptions o;
  int cold = 0, calls = 0;

  void Call(int64_t at_ms, int64_t exec_ms) {
    const int64_t start = 1'000'000 + at_ms;
    if (t.plan() && !WantLoaded(*t.plan(), start)) ++cold;
    if (!t.plan() && calls == 0) ++cold;  // the very first call
    ++calls;
    clock.Advance(start - clock.NowMs());
    t.Busy(clock.NowMs(), o);
    clock.Advance(exec_ms);
    t.Idle(clock.NowMs(), o);
  }
};

TEST(IdleHistogram, BucketsAreSecondsThenMinutesUpTo4Hours) {
  EXPECT_EQ(IdleHistogram::BucketOf(-5), 0);
  EXPECT_EQ(IdleHistogram::BucketOf(0), 0);
  EXPECT_EQ(IdleHistogram::BucketOf(999), 0);
  EXPECT_EQ(IdleHistogram::BucketOf(1000), 1);
  EXPECT_EQ(IdleHistogram::BucketOf(59'999), 59);
  EXPECT_EQ(IdleHistogram::BucketOf(60'000), 60);
  EXPECT_EQ(IdleHistogram::BucketOf(119'999), 60);
  EXPECT_EQ(IdleHistogram::BucketOf(120'000), 61);
  EXPECT_EQ(IdleHistogram::BucketOf(IdleHistogram::kRangeMs - 1), IdleHistogram::kBuckets - 1);
  EXPECT_EQ(IdleHistogram::BucketOf(IdleHistogram::kRangeMs), -1);
  for (int b = 0; b < IdleHistogram::kBuckets; ++b) {
    EXPECT_EQ(IdleHistogram::BucketOf(IdleHistogram::LowerMs(b)), b);
    EXPECT_EQ(IdleHistogram::BucketOf(IdleHistogram::UpperMs(b) - 1), b);
  }
  EXPECT_EQ(IdleHistogram::UpperMs(IdleHistogram::kBuckets - 1), IdleHistogram::kRangeMs);
}

TEST(IdleHistogram, PercentilesTakeTheOuterEdges) {
  IdleHistogram h;
  for (int i = 0; i < 4; ++i) h.Record(10 * kSec + 300);
  for (int i = 0; i < 96; ++i) h.Record(5 * kMin + 20 * kSec);
  h.Record(5 * 3600 * kSec);  // out of range: not in the percentiles
  EXPECT_EQ(h.Samples(), 101);
  EXPECT_EQ(h.OutOfRange(), 1);
  // 4% of the gaps are at 10 s: the 5th percentile is in the 5-minute bucket, the 4th is not.
  EXPECT_EQ(h.PercentileLowerMs(5), 5 * kMin);
  EXPECT_EQ(h.PercentileLowerMs(4), 10 * kSec);
  EXPECT_EQ(h.PercentileUpperMs(99), 6 * kMin);
  EXPECT_EQ(h.PercentileUpperMs(0), 11 * kSec);
  EXPECT_EQ(IdleHistogram().PercentileUpperMs(99), 0);
}

TEST(IdleHistogram, AgeingHalvesEveryCount) {
  IdleHistogram h;
  for (int i = 0; i < 9; ++i) h.Record(3 * kSec, 10);
  h.Record(5 * 3600 * kSec, 10);  // the 10th sample: everything halves
  EXPECT_EQ(h.InRange(), 4);
  EXPECT_EQ(h.OutOfRange(), 0);
}

TEST(PlanKeepAlive, FixedFallbackWhileTheHistogramIsThin) {
  KeepAliveOptions o;
  IdleHistogram h;
  for (int i = 0; i < o.min_samples - 1; ++i) h.Record(15 * kMin);
  KeepAlivePlan p = PlanKeepAlive(h, o, 100 * kSec);
  EXPECT_FALSE(p.adaptive);
  EXPECT_FALSE(p.prewarm_at_ms);
  EXPECT_EQ(p.stop_at_ms, 100 * kSec + o.fallback_ms);
  EXPECT_EQ(p.unload_at_ms, p.stop_at_ms);
  EXPECT_NE(p.why.find("4 of 5 idle gaps"), std::string::npos) << p.why;
  h.Record(15 * kMin);
  EXPECT_TRUE(PlanKeepAlive(h, o, 0).adaptive);
}

TEST(PlanKeepAlive, FallbackWhenGapsAreSpreadOutOrMostlyBeyondTheRange) {
  KeepAliveOptions o;
  IdleHistogram spread;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> any(0, IdleHistogram::kRangeMs - 1);
  for (int i = 0; i < 500; ++i) spread.Record(any(rng));
  EXPECT_LT(spread.BucketCv(), o.min_cv);
  KeepAlivePlan p = PlanKeepAlive(spread, o, 0);
  EXPECT_FALSE(p.adaptive);
  EXPECT_NE(p.why.find("spread out"), std::string::npos) << p.why;

  IdleHistogram rare;
  for (int i = 0; i < 4; ++i) rare.Record(20 * kMin);
  for (int i = 0; i < 6; ++i) rare.Record(9 * 3600 * kSec);
  p = PlanKeepAlive(rare, o, 0);
  EXPECT_FALSE(p.adaptive);
  EXPECT_EQ(p.stop_at_ms, o.fallback_ms);
  EXPECT_NE(p.why.find("6 of 10 idle gaps longer than 4h"), std::string::npos) << p.why;
}

TEST(PlanKeepAlive, PeriodicGapsUnloadAndPrewarm) {
  KeepAliveOptions o;
  IdleHistogram h;
  for (int i = 0; i < 20; ++i) h.Record(15 * kMin - 2 * kSec);  // bucket [14 min, 15 min)
  const int64_t t0 = 50 * kSec;
  KeepAlivePlan p = PlanKeepAlive(h, o, t0);
  ASSERT_TRUE(p.adaptive);
  ASSERT_TRUE(p.prewarm_at_ms);
  EXPECT_EQ(p.unload_at_ms, t0);
  EXPECT_EQ(*p.prewarm_at_ms, t0 + 14 * kMin * 9 / 10 - o.slack_ms);
  EXPECT_EQ(p.stop_at_ms, t0 + 15 * kMin * 11 / 10 + o.slack_ms);
  // Unloaded right after the call, loaded again before the next one, and gone after the tail.
  EXPECT_FALSE(WantLoaded(p, t0));
  EXPECT_FALSE(WantLoaded(p, *p.prewarm_at_ms - 1));
  EXPECT_TRUE(WantLoaded(p, *p.prewarm_at_ms));
  EXPECT_TRUE(WantLoaded(p, t0 + 15 * kMin));
  EXPECT_FALSE(WantLoaded(p, p.stop_at_ms));
  // An instance still up after the call may stop at once; the pre-warmed one at the stop time.
  EXPECT_EQ(IdleDeadline(p, t0 + kSec), t0);
  EXPECT_EQ(IdleDeadline(p, *p.prewarm_at_ms), p.stop_at_ms);
  EXPECT_FALSE(PrewarmDue(p, *p.prewarm_at_ms - 1));
  EXPECT_TRUE(PrewarmDue(p, *p.prewarm_at_ms));
  EXPECT_FALSE(PrewarmDue(p, p.stop_at_ms));
}

TEST(PlanKeepAlive, LoadedMsCountsBothWindows) {
  KeepAlivePlan p;
  p.idle_since_ms = 0;
  p.unload_at_ms = 0;
  p.prewarm_at_ms = 100;
  p.stop_at_ms = 300;
  EXPECT_EQ(LoadedMs(p, 0, 50), 0);
  EXPECT_EQ(LoadedMs(p, 0, 150), 50);
  EXPECT_EQ(LoadedMs(p, 0, 1000), 200);
  p.unload_at_ms = p.stop_at_ms;  // kept, no pre-warm
  p.prewarm_at_ms.reset();
  EXPECT_EQ(LoadedMs(p, 0, 120), 120);
  EXPECT_EQ(LoadedMs(p, 0, 1000), 300);
  EXPECT_EQ(LoadedMs(p, 200, 1000), 100);
}

TEST(PlanKeepAlive, ShortHeadKeepsTheInstanceThroughTheTail) {
  KeepAliveOptions o;
  IdleHistogram h;
  for (int i = 0; i < 97; ++i) h.Record(20 * kSec);
  for (int i = 0; i < 3; ++i) h.Record(30 * kMin);
  KeepAlivePlan p = PlanKeepAlive(h, o, 0);
  ASSERT_TRUE(p.adaptive) << p.why;
  // The 99th percentile (33 min) would cost more memory than the fixed 10 minutes on the
  // 30-minute gaps; the 95th keeps the instance just over the 20-second gaps, as warm as the
  // fallback for much less.
  EXPECT_FALSE(p.prewarm_at_ms);  // 20 s unloaded is below min_unload_ms
  EXPECT_EQ(p.stop_at_ms, 21 * kSec * 11 / 10 + o.slack_ms);
  EXPECT_EQ(p.unload_at_ms, p.stop_at_ms);
  EXPECT_NE(p.why.find("95th percentile"), std::string::npos) << p.why;
  EXPECT_TRUE(WantLoaded(p, p.stop_at_ms - 1));
  EXPECT_FALSE(WantLoaded(p, p.stop_at_ms));
  // With a smaller min_unload_ms the same gaps are worth unloading for.
  o.min_unload_ms = kSec;
  p = PlanKeepAlive(h, o, 0);
  ASSERT_TRUE(p.prewarm_at_ms) << p.why;
  EXPECT_EQ(*p.prewarm_at_ms, 20 * kSec * 9 / 10 - o.slack_ms);
}

TEST(PlanKeepAlive, FallbackWhenNoWindowCostsLess) {
  // Memoryless gaps (Poisson, mean 30 min): every window that saves cold starts against the
  // fixed 10 minutes costs more memory, and the ones that cost less are colder.
  KeepAliveOptions o;
  IdleHistogram h;
  std::mt19937 rng(11);
  std::exponential_distribution<double> gap(1.0 / (30.0 * kMin));
  for (int i = 0; i < 400; ++i) h.Record(static_cast<int64_t>(gap(rng)));
  KeepAlivePlan p = PlanKeepAlive(h, o, 0);
  EXPECT_FALSE(p.adaptive) << p.why;
  EXPECT_EQ(p.stop_at_ms, o.fallback_ms);
  EXPECT_NE(p.why.find("no window"), std::string::npos) << p.why;
}

TEST(KeepAliveTracker, TimerTraceBecomesWarmAfterTheHistogramFills) {
  Replay r;
  // A timer every 15 minutes, +-3 s of jitter, each call running 800 ms, for a day.
  std::mt19937 rng(3);
  std::uniform_int_distribution<int64_t> jitter(-3 * kSec, 3 * kSec);
  for (int i = 0; i < 96; ++i) r.Call(i * 15 * kMin + jitter(rng), 800);
  // Fixed 10 minutes would make every call cold (15 > 10 min); the adaptive policy only the
  // ones before the histogram decides: the first and the min_samples - 1 after it.
  EXPECT_EQ(r.cold, r.o.min_samples + 1);
  ASSERT_TRUE(r.t.plan());
  EXPECT_TRUE(r.t.plan()->adaptive);
  EXPECT_TRUE(r.t.plan()->prewarm_at_ms);
}

TEST(KeepAliveTracker, FollowsAChangedPatternAfterAgeing) {
  Replay r;
  r.o.age_after = 40;
  int64_t at = 0;
  for (int i = 0; i < 60; ++i) r.Call(at += 5 * kMin, 100);
  ASSERT_TRUE(r.t.plan()->prewarm_at_ms);
  EXPECT_LT(*r.t.plan()->prewarm_at_ms - r.t.plan()->idle_since_ms, 5 * kMin);
  // The timer moves to every 30 minutes: early calls are cold (the tail says 5.5 min) ...
  const int cold_before = r.cold;
  for (int i = 0; i < 150; ++i) r.Call(at += 30 * kMin, 100);
  EXPECT_GT(r.cold, cold_before);
  // ... and once the old gaps have faded the plan waits ~27 min before pre-warming.
  const KeepAlivePlan& p = *r.t.plan();
  ASSERT_TRUE(p.adaptive);
  ASSERT_TRUE(p.prewarm_at_ms);
  EXPECT_GE(*p.prewarm_at_ms - p.idle_since_ms, 26 * kMin);
  const int cold_late = r.cold;
  for (int i = 0; i < 10; ++i) r.Call(at += 30 * kMin, 100);
  EXPECT_EQ(r.cold, cold_late);
}

TEST(KeepAliveTracker, BusyWithoutAnIdlePeriodRecordsNothing) {
  KeepAliveTracker t;
  KeepAliveOptions o;
  t.Busy(1000, o);
  EXPECT_EQ(t.histogram().Samples(), 0);
  EXPECT_FALSE(t.plan());
  t.Idle(2000, o);
  ASSERT_TRUE(t.plan());
  EXPECT_EQ(t.plan()->idle_since_ms, 2000);
  t.Busy(9000, o);
  EXPECT_EQ(t.histogram().Samples(), 1);
  EXPECT_EQ(t.histogram().PercentileLowerMs(50), 7000);
  EXPECT_FALSE(t.plan());
}

TEST(KeepAliveInput, PlanDeadlineOrTheFallbackFromTheLastRequest) {
  KeepAliveOptions o;
  ScaleInput in;
  in.last_request_ms = 5 * kSec;
  in.now_ms = 6 * kSec;
  KeepAliveInput(nullptr, o, &in);  // no load signal yet: the fallback
  EXPECT_EQ(in.idle_deadline_ms, 5 * kSec + o.fallback_ms);
  KeepAliveTracker t;
  for (int i = 0; i < 10; ++i) {
    t.Idle(i * 15 * kMin, o);
    t.Busy((i + 1) * 15 * kMin, o);
  }
  t.Idle(200 * kMin, o);
  in.now_ms = 200 * kMin + kSec;
  KeepAliveInput(&t, o, &in);
  ASSERT_TRUE(t.plan() && t.plan()->prewarm_at_ms);
  EXPECT_EQ(in.idle_deadline_ms, 200 * kMin);  // unload at once
  EXPECT_EQ(in.idle_why, t.plan()->why);
  in.now_ms = *t.plan()->prewarm_at_ms;
  KeepAliveInput(&t, o, &in);
  EXPECT_EQ(in.idle_deadline_ms, t.plan()->stop_at_ms);  // the pre-warmed one stays until then
}

TEST(PrewarmChange, StartsOneWhileTheWindowIsOpen) {
  KeepAlivePlan p;
  p.adaptive = true;
  p.unload_at_ms = 0;
  p.prewarm_at_ms = 10 * kSec;
  p.stop_at_ms = 20 * kSec;
  Autoscale a;
  a.min_replicas = 0;
  EXPECT_FALSE(PrewarmChange(p, a, 0, 9 * kSec));
  auto c = PrewarmChange(p, a, 0, 10 * kSec);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->desired, 1);
  EXPECT_TRUE(c->up);
  EXPECT_NE(c->reason.find("pre-warm"), std::string::npos) << c->reason;
  EXPECT_FALSE(PrewarmChange(p, a, 1, 10 * kSec));  // already running
  EXPECT_FALSE(PrewarmChange(p, a, 0, 20 * kSec));  // the window closed
  a.min_replicas = 2;
  EXPECT_EQ(PrewarmChange(p, a, 0, 15 * kSec)->desired, 2);
  p.prewarm_at_ms.reset();
  EXPECT_FALSE(PrewarmChange(p, a, 0, 15 * kSec));
}

}  // namespace
}  // namespace tide
