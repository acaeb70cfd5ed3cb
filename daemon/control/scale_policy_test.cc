// Scale policy on a FakeClock: activation from zero (one arithmetic for both paths), the idle
// timeout of Functions (hold and stop), scale to zero, and idleTimeoutSeconds against the
// autoscaler's stable window.
#include "daemon/control/scale_policy.h"

#include <gtest/gtest.h>

#include "api/clock.h"

namespace tide {
namespace {

constexpr int64_t kSec = 1000;

Object Function(double idle_timeout_seconds = 60, int concurrency = 1) {
  Object o;
  o.kind = Kind::kFunction;
  o.metadata.name = "fn";
  o.spec.concurrency = concurrency;
  o.spec.idle_timeout_seconds = idle_timeout_seconds;
  return o;
}

Object AutoscaledService(int min_replicas, int max_replicas = 10) {
  Autoscale a;
  a.min_replicas = min_replicas;
  a.max_replicas = max_replicas;
  Object o;
  o.kind = Kind::kService;
  o.metadata.name = "svc";
  o.spec.autoscale.emplace(a);
  return o;
}

ScaleDecision Answer(int desired, std::string reason = "") {
  ScaleDecision d;
  d.desired = desired;
  d.reason = std::move(reason);
  return d;
}

TEST(ScalePolicyTest, FunctionsAndAutoscaledServicesAreAutoscaled) {
  Object fn = Function();
  EXPECT_TRUE(IsAutoscaled(fn));
  EXPECT_EQ(AutoscaleOf(fn).min_replicas, 0);  // a Function scales to zero by default
  Object plain;
  plain.kind = Kind::kService;
  EXPECT_FALSE(IsAutoscaled(plain));
  Object svc = AutoscaledService(2);
  EXPECT_TRUE(IsAutoscaled(svc));
  EXPECT_EQ(AutoscaleOf(svc).min_replicas, 2);
}

TEST(ScalePolicyTest, ActivationArithmetic) {
  EXPECT_EQ(ActivationReplicas(0, 1, 1, 10), 1);
  EXPECT_EQ(ActivationReplicas(2, 3, 2, 10), 3);  // ceil(5 / 2)
  EXPECT_EQ(ActivationReplicas(0, 7, 0, 10), 1);  // no concurrency limit: one takes them all
  EXPECT_EQ(ActivationReplicas(0, 40, 1, 5), 5);  // capped at maxReplicas
  EXPECT_EQ(ActivationReplicas(0, 40, 1, 0), 1);  // ... but never below one
}

TEST(ScalePolicyTest, LoadCallbackActivatesFromZeroAtOnce) {
  ScaleInput in = ScaleInput::For(Function(60, 2));
  in.queued = 5;
  auto c = Activate(in);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->desired, 3);
  EXPECT_TRUE(c->up);
  EXPECT_EQ(c->reason, "desired 0 -> 3: 5 requests waiting");
}

// The rule's edge: one request more than the running instances take is enough to add one.
TEST(ScalePolicyTest, OneWaitingRequestActivatesAFunctionAtZero) {
  ScaleInput in = ScaleInput::For(Function(60, 1));
  in.queued = 1;
  auto c = Activate(in);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->desired, 1);
  in.desired = 2;
  in.inflight = 2;
  c = Activate(in);  // 2 busy, 1 more waits: 3 needed
  ASSERT_TRUE(c);
  EXPECT_EQ(c->desired, 3);
}

TEST(ScalePolicyTest, LoadCallbackNeverScalesDown) {
  ScaleInput in = ScaleInput::For(Function(60, 1));
  in.desired = 4;
  in.queued = 2;
  EXPECT_FALSE(Activate(in));  // 2 needed, 4 run
  in.queued = 4;
  EXPECT_FALSE(Activate(in));  // exactly enough: no event
  in.desired = 0;
  in.queued = 0;
  in.inflight = 3;
  EXPECT_FALSE(Activate(in));  // nothing waits
}

TEST(ScalePolicyTest, TheLoopActivatesWithTheSameArithmetic) {
  // The autoscaler has not seen the load yet (answers 0); requests wait: they get capacity.
  ScaleInput in = ScaleInput::For(Function(60, 2));
  in.queued = 5;
  auto loop = DecideScale(in, Answer(0));
  auto callback = Activate(in);
  ASSERT_TRUE(loop && callback);
  EXPECT_EQ(loop->desired, callback->desired);
  EXPECT_EQ(loop->reason, "desired 0 -> 3 (idle timeout or waiting requests)");
}

TEST(ScalePolicyTest, TheAutoscalersAnswerStandsWithItsReason) {
  ScaleInput in = ScaleInput::For(Function());
  in.desired = 1;
  auto c = DecideScale(in, Answer(4, "scaled up from 1 to 4: test"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->desired, 4);
  EXPECT_EQ(c->reason, "scaled up from 1 to 4: test");
  EXPECT_FALSE(DecideScale(in, Answer(1)));  // no change, no answer
}

TEST(ScalePolicyTest, IdleHoldKeepsTheLastInstanceUntilTheIdleTimeout) {
  FakeClock clock;
  ScaleInput in = ScaleInput::For(Function(/*idle_timeout_seconds=*/30));
  in.desired = 1;
  in.last_request_ms = clock.NowMs();
  clock.Advance(30 * kSec - 1);
  in.now_ms = clock.NowMs();
  EXPECT_FALSE(DecideScale(in, Answer(0, "scaled down from 1 to 0: no load for 60s")));
  clock.Advance(1);
  in.now_ms = clock.NowMs();
  auto c = DecideScale(in, Answer(0, "scaled down from 1 to 0: no load for 60s"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->desired, 0);
  EXPECT_FALSE(c->up);
  EXPECT_EQ(c->reason, "scaled down from 1 to 0: no load for 60s");
}

// idleTimeoutSeconds: auto: the keep-alive plan's deadline replaces last request + timeout.
TEST(ScalePolicyTest, AnAdaptiveDeadlineReplacesTheIdleTimeout) {
  FakeClock clock;
  ScaleInput in = ScaleInput::For(Function(/*idle_timeout_seconds=*/30));
  in.desired = 1;
  in.last_request_ms = clock.NowMs();
  in.idle_deadline_ms = clock.NowMs() + 90 * kSec;
  in.idle_why = "keep 90.0s (adaptive: 7 idle gaps, 99th percentile)";
  clock.Advance(60 * kSec);  // past the 30 s timeout, before the plan's deadline: held
  in.now_ms = clock.NowMs();
  EXPECT_FALSE(DecideScale(in, Answer(1)));
  clock.Advance(30 * kSec);
  in.now_ms = clock.NowMs();
  auto c = DecideScale(in, Answer(1));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->desired, 0);
  EXPECT_EQ(c->reason,
            "desired 1 -> 0: keep 90.0s (adaptive: 7 idle gaps, 99th percentile) "
            "(idleTimeoutSeconds: auto)");
  // A deadline already past (unload at once, pre-warm later) stops it on the next decision.
  in.idle_deadline_ms = in.last_request_ms;
  in.now_ms = in.last_request_ms + 100;
  ASSERT_TRUE(DecideScale(in, Answer(1)));
  EXPECT_EQ(DecideScale(in, Answer(1))->desired, 0);
}

TEST(ScalePolicyTest, IdleHoldIsForFunctionsOnly) {
  ScaleInput in = ScaleInput::For(AutoscaledService(0));
  in.desired = 1;
  in.last_request_ms = in.now_ms = 5 * kSec;  // a request just now
  auto c = DecideScale(in, Answer(0));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->desired, 0);
}

TEST(ScalePolicyTest, ClampedToTheBounds) {
  ScaleInput in = ScaleInput::For(AutoscaledService(2, 4));
  in.desired = 3;
  EXPECT_EQ(DecideScale(in, Answer(9))->desired, 4);
  EXPECT_EQ(DecideScale(in, Answer(0))->desired, 2);
}

// The control loop with the real autoscaler: samples and decisions every 100 ms, as
// ControlPlane::AutoscaleLoop does.
class ScaleToZeroTest : public ::testing::Test {
 protected:
  void Start(const Object& fn) {
    in_ = ScaleInput::For(fn);
    scaler_ = std::make_unique<WorkloadAutoscaler>(in_.autoscale, clock_);
    start_ = clock_.NowMs();
  }
  // Runs for `ms` with `load` requests in flight; returns the desired count at the end.
  int Run(int64_t ms, int load) {
    for (int64_t t = 0; t < ms; t += 100) {
      clock_.Advance(100);
      in_.now_ms = clock_.NowMs();
      in_.inflight = load;
      if (load > 0) in_.last_request_ms = in_.now_ms;
      scaler_->Record(in_.now_ms, load);
      if (auto c = DecideScale(in_, scaler_->Decide(in_.now_ms, in_.desired))) {
        in_.desired = c->desired;
        ++changes_;
        if (c->desired == 0 && zero_at_ < 0) zero_at_ = in_.now_ms - idle_from_;
      }
    }
    return in_.desired;
  }
  void Idle() { idle_from_ = clock_.NowMs(); }

  FakeClock clock_;
  ScaleInput in_;
  std::unique_ptr<WorkloadAutoscaler> scaler_;
  int64_t start_ = 0, idle_from_ = 0, zero_at_ = -1;
  int changes_ = 0;
};

TEST_F(ScaleToZeroTest, AFunctionStopsAfterTheIdleTimeoutWhenItIsLongerThanTheStableWindow) {
  Start(Function(/*idle_timeout_seconds=*/90));
  EXPECT_EQ(Run(2 * kSec, 1), 1);
  Idle();
  EXPECT_EQ(Run(89 * kSec, 0), 1);  // the stable window (60 s) is over; the hold is not
  EXPECT_EQ(Run(2 * kSec, 0), 0);
  EXPECT_GE(zero_at_, 90 * kSec - 100);
  EXPECT_LE(zero_at_, 90 * kSec + 100);
}

// The idle timeout means what it says when it is shorter than the stable window too: the last
// instance stops idleTimeoutSeconds after the last request, and stays stopped (no flap back to
// the count the stable window still remembers).
TEST_F(ScaleToZeroTest, AShortIdleTimeoutStopsTheFunctionBeforeTheStableWindow) {
  Start(Function(/*idle_timeout_seconds=*/2));
  EXPECT_EQ(Run(2 * kSec, 1), 1);
  Idle();
  EXPECT_EQ(Run(1900, 0), 1);
  EXPECT_EQ(Run(200, 0), 0);
  EXPECT_GE(zero_at_, 2 * kSec - 100);
  EXPECT_LE(zero_at_, 2 * kSec + 100);
  const int changes = changes_;
  EXPECT_EQ(Run(70 * kSec, 0), 0);
  EXPECT_EQ(changes_, changes);
}

// Between non-zero counts the stable window governs: a Function scaled to 3 by load keeps 3
// while one request is still in flight, past its short idle timeout.
TEST_F(ScaleToZeroTest, TheStableWindowGovernsScaleDownBetweenNonZeroCounts) {
  Autoscale a;
  a.min_replicas = 0;
  a.max_replicas = 10;
  a.target = 1;
  Object fn = Function(/*idle_timeout_seconds=*/2);
  fn.spec.autoscale.emplace(a);
  Start(fn);
  EXPECT_EQ(Run(3 * kSec, 3), 3);
  EXPECT_EQ(Run(20 * kSec, 1), 3);  // 20 s < the 60 s stable window, a request in flight
  Idle();
  EXPECT_EQ(Run(2100, 0), 0);
}

TEST(ScalePolicyTest, ARequestInFlightIsNeverIdle) {
  ScaleInput in = ScaleInput::For(Function(/*idle_timeout_seconds=*/1));
  in.desired = 1;
  in.inflight = 1;
  in.last_request_ms = 0;
  in.now_ms = 100 * kSec;  // a long request, started long ago
  EXPECT_FALSE(DecideScale(in, Answer(1)));
  EXPECT_FALSE(DecideScale(in, Answer(0)));  // held at one
  in.inflight = 0;
  auto c = DecideScale(in, Answer(1));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->desired, 0);
  EXPECT_EQ(c->reason, "desired 1 -> 0: no request for 1s (idleTimeoutSeconds)");
}

}  // namespace
}  // namespace tide
