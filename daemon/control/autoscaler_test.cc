// Autoscaler tests: load traces replayed against a FakeClock; assertions are on the series of
// desired replica counts (reaction time, overshoot, number of scale events).
#include "daemon/control/autoscaler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

namespace tide {
namespace {

constexpr int64_t kSec = 1000;

Autoscale Config(double target, int min_replicas = 1, int max_replicas = 50,
                 std::string metric = "concurrency") {
  Autoscale a;
  a.min_replicas = min_replicas;
  a.max_replicas = max_replicas;
  a.metric = std::move(metric);
  a.target = target;
  return a;  // windows 60 s / 6 s, panic 2.0, rate 10, tolerance 0.1 (the defaults)
}

struct Point {
  int64_t t;  // ms since the simulation started
  int desired;
  bool panic;
  std::string reason;
};

// Samples every 100 ms, decides every `decide_every_ms`. The ready count follows the desired
// count after `ready_lag_ms` on the way up and at once on the way down.
class Sim {
 public:
  explicit Sim(const Autoscale& config, int replicas = 1, int64_t decide_every_ms = 100,
               int64_t ready_lag_ms = 0)
      : scaler_(config, clock_),
        start_(clock_.NowMs()),
        desired_(replicas),
        ready_(replicas),
        decide_every_ms_(decide_every_ms),
        ready_lag_ms_(ready_lag_ms) {}

  // Runs for `duration_ms`; `load(t)` gets ms since the start of the simulation, NaN = no sample.
  void Run(int64_t duration_ms, const std::function<double(int64_t)>& load) {
    for (int64_t step = 0; step < duration_ms; step += 100) {
      clock_.Advance(100);
      const int64_t now = clock_.NowMs();
      const double v = load(now - start_);
      if (!std::isnan(v)) scaler_.Record(now, v);
      if (ready_ < desired_ && now - desired_since_ >= ready_lag_ms_) ready_ = desired_;
      if ((now - start_) % decide_every_ms_ != 0) continue;
      const ScaleDecision d = scaler_.Decide(now, ready_);
      last_ = d;
      if (d.desired != desired_) {
        (d.desired > desired_ ? ups_ : downs_)++;
        events_.push_back({now - start_, d.desired, d.panic, d.reason});
        if (d.desired > desired_) desired_since_ = now;
        desired_ = d.desired;
        if (ready_ > desired_ || ready_lag_ms_ == 0) ready_ = desired_;
      }
      series_.push_back({now - start_, desired_, d.panic, ""});
    }
  }

  int64_t now() const { return clock_.NowMs() - start_; }
  int desired() const { return desired_; }
  int ups() const { return ups_; }
  int downs() const { return downs_; }
  const ScaleDecision& last() const { return last_; }
  const std::vector<Point>& events() const { return events_; }
  // Desired count at the last decision at or before t (ms since start).
  int At(int64_t t) const {
    int v = -1;
    for (const Point& p : series_) {
      if (p.t > t) break;
      v = p.desired;
    }
    return v;
  }
  int MaxBetween(int64_t from, int64_t to) const {
    int m = -1;
    for (const Point& p : series_)
      if (p.t >= from && p.t <= to) m = std::max(m, p.desired);
    return m;
  }
  int MinBetween(int64_t from, int64_t to) const {
    int m = 1 << 30;
    for (const Point& p : series_)
      if (p.t >= from && p.t <= to) m = std::min(m, p.desired);
    return m;
  }
  int EventsBetween(int64_t from, int64_t to) const {
    int n = 0;
    for (const Point& p : events_) n += p.t >= from && p.t <= to;
    return n;
  }
  WorkloadAutoscaler& scaler() { return scaler_; }
  int64_t abs(int64_t t) const { return start_ + t; }

 private:
  FakeClock clock_;
  WorkloadAutoscaler scaler_;
  int64_t start_;
  int desired_;
  int ready_;
  int64_t desired_since_ = 0;
  int64_t decide_every_ms_;
  int64_t ready_lag_ms_;
  int ups_ = 0;
  int downs_ = 0;
  ScaleDecision last_;
  std::vector<Point> events_;
  std::vector<Point> series_;
};

auto Constant(double v) {
  return [v](int64_t) { return v; };
}

// ---- LoadSeries -------------------------------------------------------------------------------

TEST(LoadSeries, TimeWeightedMeanOverTimestamps) {
  LoadSeries s(1000);
  s.Add(0, 10);
  s.Add(100, 20);  // irregular spacing: 10 holds 100 ms, 20 holds 300 ms
  s.Add(400, 0);
  EXPECT_DOUBLE_EQ(s.Mean(400, 400, GapPolicy::kZero).value, (10 * 100 + 20 * 300) / 400.0);
  EXPECT_DOUBLE_EQ(s.Mean(400, 300, GapPolicy::kZero).value, 20.0);
}

TEST(LoadSeries, GapsAreZeroOrSkipped) {
  LoadSeries s(1000);
  s.Add(0, 8);  // holds 1 s, then nothing is known until 4 s
  EXPECT_DOUBLE_EQ(s.Mean(4000, 4000, GapPolicy::kZero).value, 2.0);
  const WindowMean skip = s.Mean(4000, 4000, GapPolicy::kSkip);
  EXPECT_TRUE(skip.has_data);
  EXPECT_DOUBLE_EQ(skip.value, 8.0);
  EXPECT_FALSE(s.Mean(4000, 2000, GapPolicy::kSkip).has_data);
  EXPECT_DOUBLE_EQ(s.Latest(900), 8.0);
  EXPECT_DOUBLE_EQ(s.Latest(1000), 8.0) << "a sample hold_ms old is still the latest word";
  EXPECT_DOUBLE_EQ(s.Latest(1001), 0.0);
  EXPECT_DOUBLE_EQ(s.Latest(1500), 0.0);
}

TEST(LoadSeries, NewSeriesIsNotDilutedAndFreshSampleCounts) {
  LoadSeries s(1000);
  EXPECT_FALSE(s.Mean(0, 60000, GapPolicy::kZero).has_data);
  s.Add(5000, 40);
  EXPECT_DOUBLE_EQ(s.Mean(5000, 60000, GapPolicy::kZero).value, 40.0);  // just started
  EXPECT_DOUBLE_EQ(s.Mean(5500, 60000, GapPolicy::kZero).value, 40.0);  // span = 500 ms
}

TEST(LoadSeries, ForgetKeepsWhatAWindowStillNeeds) {
  LoadSeries s(1000);
  for (int t = 0; t <= 10000; t += 100) s.Add(t, t < 5000 ? 1 : 3);
  s.Forget(6000);
  EXPECT_LE(s.size(), 41u);
  EXPECT_DOUBLE_EQ(s.Mean(10000, 4000, GapPolicy::kZero).value, 3.0);
  s.Add(9000, 7);  // out of order: becomes the newest value
  EXPECT_DOUBLE_EQ(s.Latest(10000), 7.0);
  EXPECT_DOUBLE_EQ(s.Mean(10500, 500, GapPolicy::kZero).value, 7.0);
}

// ---- traces -----------------------------------------------------------------------------------

TEST(AutoscalerTrace, StepReachesEightWithinOneSecondWithoutOvershoot) {
  Sim sim(Config(5));
  sim.Run(70 * kSec, Constant(1));
  ASSERT_EQ(sim.desired(), 1);
  const int64_t step = sim.now();
  sim.Run(180 * kSec, Constant(40));
  EXPECT_GE(sim.At(step + 1000), 8) << "8 replicas within 1 s of the step";
  EXPECT_LE(sim.MaxBetween(step, sim.now()), 9) << "no overshoot";
  EXPECT_EQ(sim.desired(), 8);
  EXPECT_EQ(sim.downs(), 0);
  EXPECT_TRUE(sim.events().front().panic);
}

TEST(AutoscalerTrace, StepWithSlowStartingInstancesDoesNotOvershoot) {
  Sim sim(Config(5), 1, 200, /*ready_lag_ms=*/800);
  sim.Run(70 * kSec, Constant(1));
  const int64_t step = sim.now();
  sim.Run(180 * kSec, Constant(40));
  EXPECT_GE(sim.At(step + 2000), 8);
  EXPECT_LE(sim.MaxBetween(step, sim.now()), 9);
  EXPECT_EQ(sim.desired(), 8);
}

TEST(AutoscalerTrace, RampIsTrackedMonotonically) {
  Sim sim(Config(10, 1, 20));
  auto ramp = [](int64_t t) { return t < 60 * kSec ? 100.0 * t / (60 * kSec) : 100.0; };
  sim.Run(120 * kSec, ramp);
  int prev = 0;
  for (int64_t t = 100; t <= 60 * kSec; t += 100) {
    const int d = sim.At(t);
    ASSERT_GE(d, prev) << "scaled down during the ramp at " << t;
    prev = d;
    EXPECT_LE(d, static_cast<int>(std::ceil(ramp(t) / 10)) + 1) << "ahead of the load at " << t;
    // Never more than panicThreshold (2x) short of the load of a second ago.
    if (t >= kSec) {
      EXPECT_GE(d * 10 * 2, ramp(t - kSec)) << "behind the load at " << t;
    }
  }
  EXPECT_EQ(sim.desired(), 10);
}

// The bench's ramp (bench/autoscale_bench --scenario ramp): 6 s stable / 2 s panic windows,
// target 5, 1 -> 40 clients over 10 s, then held. Panic mode starts early in the ramp and ends a
// stable window later, while the load is still rising; the first stable-mode decision must not
// go below what panic mode just chose (it used to: 7 -> 5 -> 6, two reversals).
TEST(AutoscalerTrace, RampThroughTheEndOfPanicModeNeverReverses) {
  for (int64_t lag : {0, 300}) {
    Autoscale c = Config(5, 1, 20);
    c.stable_window_seconds = 6;
    c.panic_window_seconds = 2;
    Sim sim(c, 1, 100, lag);
    sim.Run(10 * kSec, Constant(0));
    ASSERT_EQ(sim.desired(), 1);
    const int64_t rise = sim.now();
    auto ramp = [rise](int64_t t) {
      const int64_t since = t - rise;
      return std::min(40.0, std::floor(40.0 * static_cast<double>(since) / (10 * kSec)) + 1);
    };
    sim.Run(30 * kSec, ramp);
    bool panicked = false;
    int prev = 1;
    for (const Point& e : sim.events()) {
      EXPECT_GT(e.desired, prev) << "lag " << lag << ": reversal at +" << e.t - rise
                                 << " ms: " << e.reason;
      prev = e.desired;
      panicked = panicked || e.panic;
    }
    EXPECT_TRUE(panicked) << "lag " << lag << ": the ramp went through panic mode";
    EXPECT_EQ(sim.downs(), 0) << "lag " << lag << ": a scale-down under a rising or held load";
    // Once the ramp levels off the stable mean still lags it: the last step up is sized on the
    // panic window as soon as the stable window agrees that more is needed.
    EXPECT_EQ(sim.At(rise + 12500), 8) << "lag " << lag << ": 8 within 2.5 s of the plateau";
    EXPECT_EQ(sim.desired(), 8) << "lag " << lag;
  }
}

TEST(AutoscalerTrace, ShortSpikePanicsUpAndComesDownOnlyAfterTheStableWindow) {
  Sim sim(Config(5));
  sim.Run(70 * kSec, Constant(8));
  ASSERT_EQ(sim.desired(), 2);
  const int64_t spike = sim.now();
  sim.Run(200 * kSec, [spike](int64_t t) { return t > spike && t <= spike + 500 ? 50.0 : 8.0; });
  const int peak = sim.MaxBetween(spike, spike + 1500);
  EXPECT_GE(peak, 5) << "the spike scaled up through panic mode";
  EXPECT_LE(peak, 10);
  EXPECT_GE(sim.MinBetween(spike + 1500, spike + 59 * kSec), peak) << "no scale-down in panic";
  EXPECT_EQ(sim.At(spike + 63 * kSec), 2) << "back down after one stable window";
  EXPECT_EQ(sim.desired(), 2);
  EXPECT_EQ(sim.downs(), 1) << "one step down, no flapping";
}

TEST(AutoscalerTrace, SawtoothDoesNotFlap) {
  Sim sim(Config(5));
  // 10 -> 40 over 7 s, repeating: mean 25, never above the panic threshold once sized.
  auto saw = [](int64_t t) { return 10.0 + 30.0 * static_cast<double>(t % 7000) / 7000; };
  sim.Run(600 * kSec, saw);
  EXPECT_EQ(sim.EventsBetween(180 * kSec, 600 * kSec), 0) << "flapping";
  EXPECT_LE(sim.ups() + sim.downs(), 8);
  EXPECT_GE(sim.desired(), 5);
  EXPECT_LE(sim.desired(), 6);
}

TEST(AutoscalerTrace, SilenceGoesToMinReplicas) {
  Sim sim(Config(5, 2));
  sim.Run(90 * kSec, Constant(40));
  ASSERT_EQ(sim.desired(), 8);
  const int64_t quiet = sim.now();
  sim.Run(200 * kSec, Constant(0));
  EXPECT_EQ(sim.ups(), 1);
  EXPECT_EQ(sim.At(quiet + 59 * kSec), 8) << "brief dips do not scale down";
  EXPECT_EQ(sim.At(quiet + 125 * kSec), 2) << "at min within two stable windows";
  EXPECT_EQ(sim.desired(), 2);
}

TEST(AutoscalerTrace, SilenceScalesToZeroAfterAFullWindowAndRequestsActivate) {
  Sim sim(Config(1, 0));
  sim.Run(90 * kSec, Constant(3));
  ASSERT_EQ(sim.desired(), 3);
  const int64_t quiet = sim.now();
  sim.Run(100 * kSec, Constant(0));
  EXPECT_GT(sim.MinBetween(quiet, quiet + 59 * kSec), 0) << "zero only after a full window";
  EXPECT_EQ(sim.At(quiet + 61 * kSec), 0);
  const std::string& reason = sim.events().back().reason;
  EXPECT_NE(reason.find("to 0: no load for 60s"), std::string::npos) << reason;
  EXPECT_TRUE(sim.scaler().IdleFor(sim.abs(sim.now()), 60 * kSec));

  const int64_t wake = sim.now();
  sim.Run(5 * kSec, Constant(2));
  EXPECT_EQ(sim.At(wake + 100), 2) << "the first request activates at once";
  EXPECT_FALSE(sim.scaler().IdleFor(sim.abs(sim.now()), 1 * kSec));
}

TEST(AutoscalerTrace, NoisyPlateauSettlesWithoutScaleEvents) {
  for (unsigned seed : {1u, 42u, 2024u}) {
    Sim sim(Config(5));
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> noise(-0.1, 0.1);
    sim.Run(70 * kSec, Constant(2));
    const int64_t step = sim.now();
    // 38 +-10%: 7.6 instances' worth, 8 needed; samples reach 41.8 (9 instances' worth).
    sim.Run(600 * kSec, [&](int64_t) { return 38 * (1 + noise(rng)); });
    EXPECT_EQ(sim.EventsBetween(step + 150 * kSec, sim.now()), 0) << "seed " << seed;
    EXPECT_EQ(sim.desired(), 8) << "seed " << seed;
    EXPECT_LE(sim.downs(), 1) << "seed " << seed;
  }
}

TEST(AutoscalerTrace, RequestsPerSecond) {
  Sim sim(Config(100, 1, 50, "rps"));
  sim.Run(10 * kSec, Constant(50));
  EXPECT_EQ(sim.desired(), 1);
  const int64_t step = sim.now();
  sim.Run(120 * kSec, Constant(800));
  EXPECT_EQ(sim.At(step + 1000), 8);
  EXPECT_EQ(sim.desired(), 8);
  EXPECT_NE(sim.last().reason.find("rps"), std::string::npos);
}

TEST(AutoscalerTrace, CpuPercentOfRequestTracksWorkAndKeepsOnMissingSamples) {
  // 2.8 cores of work, 0.5 cores requested per instance: 560% whatever the count; target 70%.
  Sim sim(Config(70, 1, 20, "cpu"), 2);
  sim.Run(120 * kSec, Constant(560));
  EXPECT_EQ(sim.desired(), 8);
  EXPECT_NE(sim.last().reason.find("cpu 560.0%"), std::string::npos) << sim.last().reason;
  const int events = sim.ups() + sim.downs();
  sim.Run(300 * kSec, [](int64_t) { return std::nan(""); });  // the sampler went quiet
  EXPECT_EQ(sim.desired(), 8) << "no cpu samples: keep";
  EXPECT_EQ(sim.ups() + sim.downs(), events);
  EXPECT_NE(sim.last().reason.find("no cpu samples"), std::string::npos) << sim.last().reason;
}

TEST(AutoscalerTrace, MaxScaleUpRateLimitsEachDecision) {
  Autoscale c = Config(1, 1, 100);
  c.max_scale_up_rate = 2;
  Sim sim(c);
  sim.Run(10 * kSec, Constant(100));
  int prev = 1;
  for (const Point& e : sim.events()) {
    EXPECT_LE(e.desired, 2 * prev) << "at " << e.t;
    prev = e.desired;
  }
  EXPECT_EQ(sim.events().front().desired, 2);
  EXPECT_EQ(sim.desired(), 100);
}

// ---- single decisions -------------------------------------------------------------------------

class Decisions : public ::testing::Test {
 protected:
  // Feeds `load` for `seconds`, one sample per 100 ms, then decides once at `current`.
  ScaleDecision Feed(WorkloadAutoscaler& a, double load, int seconds, int current) {
    for (int i = 0; i < seconds * 10; ++i) {
      clock_.Advance(100);
      a.Record(clock_.NowMs(), load);
    }
    return a.Decide(clock_.NowMs(), current);
  }
  // Records `load` every 100 ms until the clock reads `until_ms` (a multiple of 100 ms away).
  void RecordUntil(WorkloadAutoscaler& a, double load, int64_t until_ms) {
    while (clock_.NowMs() < until_ms) {
      clock_.Advance(100);
      a.Record(clock_.NowMs(), load);
    }
    ASSERT_EQ(clock_.NowMs(), until_ms);
  }
  FakeClock clock_;
};

TEST_F(Decisions, ToleranceBand) {
  WorkloadAutoscaler a(Config(10), clock_);
  ScaleDecision d = Feed(a, 105, 70, 10);
  EXPECT_EQ(d.desired, 10);
  EXPECT_NE(d.reason.find("within 10% tolerance"), std::string::npos) << d.reason;
  WorkloadAutoscaler b(Config(10), clock_);
  EXPECT_EQ(Feed(b, 115, 70, 10).desired, 12);
  WorkloadAutoscaler c(Config(10), clock_);
  EXPECT_EQ(Feed(c, 92, 70, 10).desired, 10);
  WorkloadAutoscaler e(Config(10), clock_);
  d = Feed(e, 85, 70, 10);
  EXPECT_EQ(d.desired, 9);
  EXPECT_EQ(d.reason,
            "scaled down from 10 to 9: concurrency 85.0 over 60s stable window, target 10");
}

// Rule 4 at its edges: a load exactly `tolerance` away from the capacity keeps the count, on
// either side; one step further changes it.
TEST_F(Decisions, ToleranceBandIncludesItsBoundaries) {
  // 10 replicas x target 10 = capacity 100; the default tolerance 0.1 keeps 90 through 110.
  WorkloadAutoscaler over(Config(10), clock_);
  ScaleDecision d = Feed(over, 110, 70, 10);
  EXPECT_EQ(d.desired, 10) << d.reason;
  WorkloadAutoscaler under(Config(10), clock_);
  d = Feed(under, 90, 70, 10);
  EXPECT_EQ(d.desired, 10) << d.reason;
  WorkloadAutoscaler past_over(Config(10), clock_);
  EXPECT_EQ(Feed(past_over, 111, 70, 10).desired, 12);
  WorkloadAutoscaler past_under(Config(10), clock_);
  EXPECT_EQ(Feed(past_under, 89, 70, 10).desired, 9);
}

TEST_F(Decisions, ScaleUpRateOfOneStillAddsAnInstance) {
  Autoscale c = Config(1, 1, 100);
  c.max_scale_up_rate = 1;
  WorkloadAutoscaler a(c, clock_);
  const ScaleDecision d = Feed(a, 100, 2, 3);
  EXPECT_EQ(d.desired, 4);
  EXPECT_NE(d.reason.find("limited by maxScaleUpRate 1"), std::string::npos) << d.reason;
}

TEST_F(Decisions, ClampsToMinAndMax) {
  WorkloadAutoscaler a(Config(1, 1, 5), clock_);
  ScaleDecision d = Feed(a, 100, 10, 1);
  EXPECT_EQ(d.desired, 5);
  EXPECT_NE(d.reason.find("capped at maxReplicas 5"), std::string::npos) << d.reason;
  WorkloadAutoscaler b(Config(1, 3, 5), clock_);
  d = Feed(b, 0, 10, 1);
  EXPECT_EQ(d.desired, 3);
  EXPECT_NE(d.reason.find("raised to minReplicas 3"), std::string::npos) << d.reason;
  EXPECT_EQ(Feed(a, 100, 1, 9).desired, 5) << "above max after a config change";
  WorkloadAutoscaler c(Config(1, 1, 5), clock_);
  d = Feed(c, 6, 70, 5);  // 6 needed, one more than maxReplicas
  EXPECT_EQ(d.desired, 5);
  EXPECT_NE(d.reason.find("capped at maxReplicas 5"), std::string::npos) << d.reason;
}

TEST_F(Decisions, ReasonExplainsAPanicScaleUp) {
  WorkloadAutoscaler a(Config(5), clock_);
  Feed(a, 1, 70, 1);
  const ScaleDecision d = Feed(a, 40, 7, 1);
  EXPECT_TRUE(d.panic);
  EXPECT_EQ(d.desired, 8);
  EXPECT_EQ(d.reason, "scaled up from 1 to 8: concurrency 40.0 over 6s panic window, target 5");
}

// Rule 2: panic mode starts when the panic load reaches panicThreshold x current x target;
// reaching it exactly is enough.
TEST_F(Decisions, PanicStartsWhenTheLoadReachesTheThresholdExactly) {
  // 4 replicas x target 5 = capacity 20; panicThreshold 2: panic from a load of 40.
  WorkloadAutoscaler below(Config(5), clock_);
  ScaleDecision d = Feed(below, 39, 3, 4);
  EXPECT_FALSE(d.panic) << d.reason;
  WorkloadAutoscaler at(Config(5), clock_);
  d = Feed(at, 40, 3, 4);
  EXPECT_TRUE(d.panic) << d.reason;
  EXPECT_EQ(d.desired, 8);
}

// Rule 2: panic mode ends when a full stable window has passed without the condition: exactly
// stableWindowSeconds after the condition last held, not a moment later.
TEST_F(Decisions, PanicEndsExactlyOneStableWindowAfterTheConditionLastHeld) {
  WorkloadAutoscaler a(Config(5), clock_);
  ASSERT_TRUE(Feed(a, 40, 2, 1).panic);  // 40 >= 2 x 1 x 5: the condition holds now
  const int64_t held = clock_.NowMs();
  // From here on 8 replicas serve the same 40: the condition (40 >= 80) never holds again.
  EXPECT_TRUE(Feed(a, 40, 30, 8).panic);
  RecordUntil(a, 40, held + 59'900);
  EXPECT_TRUE(a.Decide(clock_.NowMs(), 8).panic) << "ended before a full stable window";
  RecordUntil(a, 40, held + 60'000);
  const ScaleDecision end = a.Decide(clock_.NowMs(), 8);
  EXPECT_FALSE(end.panic) << "still in panic a full stable window after the condition";
  EXPECT_EQ(end.desired, 8) << end.reason;
}

// Rule 3: a scale-down goes no lower than the highest recommendation over the last stable
// window, and a recommendation made exactly one stable window ago is still in that window.
TEST_F(Decisions, ScaleDownIsHeldByARecommendationExactlyOneStableWindowOld) {
  WorkloadAutoscaler a(Config(5), clock_);
  ASSERT_EQ(Feed(a, 40, 70, 8).desired, 8);  // recommends 8 at `high`
  const int64_t high = clock_.NowMs();
  RecordUntil(a, 5, high + 60'000);  // the load drops to 1 replica's worth; no decisions
  ScaleDecision d = a.Decide(clock_.NowMs(), 8);
  EXPECT_EQ(d.desired, 8) << d.reason;
  EXPECT_NE(d.reason.find("held by the highest recommendation (8)"), std::string::npos) << d.reason;
  RecordUntil(a, 5, high + 60'100);
  d = a.Decide(clock_.NowMs(), 8);  // the 8 is now older than the window
  EXPECT_LT(d.desired, 8) << d.reason;
}

TEST_F(Decisions, PanicEndsAfterAStableWindowWithoutTheCondition) {
  WorkloadAutoscaler a(Config(5), clock_);
  EXPECT_TRUE(Feed(a, 40, 2, 1).panic);
  EXPECT_TRUE(Feed(a, 40, 30, 8).panic);
  EXPECT_TRUE(Feed(a, 40, 29, 8).panic);
  EXPECT_FALSE(Feed(a, 40, 2, 8).panic);
}

TEST_F(Decisions, IdleForCountsFromCreationThenFromTheLastLoad) {
  WorkloadAutoscaler a(Config(1, 0), clock_);
  EXPECT_FALSE(a.IdleFor(clock_.NowMs(), 1000));
  clock_.Advance(1000);
  EXPECT_TRUE(a.IdleFor(clock_.NowMs(), 1000));
  a.Record(clock_.NowMs(), 1);
  clock_.Advance(500);
  a.Record(clock_.NowMs(), 0);
  EXPECT_FALSE(a.IdleFor(clock_.NowMs(), 1000));
  clock_.Advance(500);
  EXPECT_TRUE(a.IdleFor(clock_.NowMs(), 1000));
}

TEST_F(Decisions, NewFunctionWithoutLoadStaysAtZeroAndMinOneServiceStarts) {
  WorkloadAutoscaler f(Config(1, 0), clock_);
  const ScaleDecision d = f.Decide(clock_.NowMs(), 0);
  EXPECT_EQ(d.desired, 0);
  EXPECT_FALSE(d.panic) << "at zero replicas only some load is activation";
  WorkloadAutoscaler s(Config(1, 1), clock_);
  EXPECT_EQ(s.Decide(clock_.NowMs(), 0).desired, 1);
}

// ---- manager ----------------------------------------------------------------------------------

TEST(AutoscalerManager, KeyedByWorkload) {
  FakeClock clock;
  Autoscaler as(clock);
  EXPECT_FALSE(as.Record("users", 1).ok());
  EXPECT_FALSE(as.Decide("users", 1).has_value());
  EXPECT_FALSE(as.IdleFor("users", 0));
  as.Upsert("users", Config(5));
  as.Upsert("send", Config(1, 0));
  EXPECT_EQ(as.Workloads(), (std::vector<std::string>{"send", "users"}));
  for (int i = 0; i < 20; ++i) {
    clock.Advance(100);
    ASSERT_TRUE(as.Record("users", 40).ok());
  }
  EXPECT_EQ(as.Decide("users", 8)->desired, 8);
  EXPECT_EQ(as.Decide("send", 0)->desired, 0);
  as.Remove("users");
  EXPECT_FALSE(as.Has("users"));
  EXPECT_TRUE(as.Has("send"));
}

TEST(AutoscalerManager, UpdateKeepsSamplesUnlessTheMetricChanges) {
  FakeClock clock;
  Autoscaler as(clock);
  as.Upsert("w", Config(5));
  for (int i = 0; i < 20; ++i) {
    clock.Advance(100);
    ASSERT_TRUE(as.Record("w", 40).ok());
  }
  as.Upsert("w", Config(10));  // new target, same samples
  EXPECT_EQ(as.Decide("w", 4)->desired, 4);
  as.Upsert("w", Config(10, 1, 50, "cpu"));  // other units: samples dropped
  const auto d = as.Decide("w", 4);
  EXPECT_EQ(d->desired, 4);
  EXPECT_NE(d->reason.find("no cpu samples"), std::string::npos) << d->reason;
}

}  // namespace
}  // namespace tide
