// Rollout planner on a FakeClock. A small fleet applies each plan as the control loop would
// (created instances appear placed and Starting, drained ones leave at once) and the tests make
// instances Ready or crash between passes.
#include "daemon/control/rollout.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "api/clock.h"

namespace tide {
namespace {

constexpr int64_t kSec = 1000;

class Fleet {
 public:
  explicit Fleet(int desired, int max_surge = 1, int max_unavailable = 0) : desired_(desired) {
    settings_.max_surge = max_surge;
    settings_.max_unavailable = max_unavailable;
    settings_.progress_deadline_seconds = 60;
    state_ = RolloutState::StartedAt(clock_.NowMs());
  }

  // One reconcile pass: plan, then apply it.
  RolloutPlan Pass() {
    RolloutInput in;
    in.workload = "web";
    in.generation = generation_;
    in.desired = desired_;
    in.settings = settings_;
    in.serving_generation = serving_;
    in.instances = live_;
    in.now_ms = clock_.NowMs();
    RolloutPlan plan = PlanRollout(in, state_);
    state_ = plan.state;
    if (plan.mark_serving) serving_ = generation_;
    for (const auto& d : plan.drain) {
      drained_.push_back(d);
      std::erase_if(live_, [&](const RolloutInstance& r) { return r.id == d.id; });
    }
    for (const auto& c : plan.create) {
      for (int i = 0; i < c.count; ++i) Add(c.generation, InstanceState::kStarting);
    }
    for (const auto& e : plan.events) events_.push_back(e.reason);
    return plan;
  }
  // Passes until nothing changes (at most 20).
  void Settle() {
    for (int i = 0; i < 20; ++i) {
      RolloutPlan p = Pass();
      if (p.create.empty() && p.drain.empty()) return;
      ReadyAll();
    }
  }

  RolloutInstance& Add(int64_t generation, InstanceState state, bool placed = true) {
    RolloutInstance r;
    r.id = "g" + std::to_string(generation) + "-" + std::to_string(next_id_++);
    r.generation = generation;
    r.placed = placed;
    r.state = state;
    r.created_ms = clock_.NowMs();
    if (state == InstanceState::kReady) r.ready_since_ms = clock_.NowMs();
    live_.push_back(r);
    return live_.back();
  }
  void ReadyAll() {
    for (auto& r : live_) {
      if (r.state != InstanceState::kStarting) continue;
      r.state = InstanceState::kReady;
      r.ready_since_ms = clock_.NowMs();
    }
  }
  void Crash(int64_t generation) {
    for (auto& r : live_) {
      if (r.generation != generation) continue;
      r.state = InstanceState::kCrashLoopBackOff;
      r.last_exit_code = 3;
      return;
    }
  }
  // Generation 1 runs Ready at the desired count; then generation 2 is applied.
  void RollToTwo() {
    Settle();
    Apply(2);
  }
  // A spec change.
  void Apply(int64_t generation) {
    generation_ = generation;
    state_ = RolloutState::StartedAt(clock_.NowMs());
  }
  int Count(int64_t generation, bool ready_only = false) const {
    return static_cast<int>(std::count_if(live_.begin(), live_.end(), [&](const auto& r) {
      return r.generation == generation && (!ready_only || r.Ready());
    }));
  }
  int Events(const std::string& reason) const {
    return static_cast<int>(std::count(events_.begin(), events_.end(), reason));
  }

  FakeClock clock_;
  int desired_;
  int64_t generation_ = 1;
  Rollout settings_;
  RolloutState state_;
  std::optional<int64_t> serving_;
  std::vector<RolloutInstance> live_;
  std::vector<RolloutPlan::Drain> drained_;
  std::vector<std::string> events_;
  int next_id_ = 0;
};

TEST(RolloutPlanTest, FirstGenerationScalesToDesiredAndServes) {
  Fleet f(3);
  RolloutPlan p = f.Pass();
  ASSERT_EQ(p.create.size(), 1u);
  EXPECT_EQ(p.create[0].generation, 1);
  EXPECT_EQ(p.create[0].count, 3);
  EXPECT_TRUE(p.mark_serving);
  EXPECT_TRUE(p.drain.empty());
  EXPECT_TRUE(p.conditions.empty());
  f.ReadyAll();
  p = f.Pass();
  EXPECT_TRUE(p.create.empty() && p.drain.empty() && !p.mark_serving);
}

TEST(RolloutPlanTest, ScaleDownDrainsUnplacedThenNotReadyThenIdlestThenNewest) {
  Fleet f(1);
  f.serving_ = 1;
  RolloutInstance& busy = f.Add(1, InstanceState::kReady);
  busy.inflight = 5;
  f.Add(1, InstanceState::kReady).inflight = 0;  // idle, older
  f.clock_.Advance(kSec);
  f.Add(1, InstanceState::kReady).inflight = 0;  // idle, newer
  f.Add(1, InstanceState::kStarting);
  f.Add(1, InstanceState::kPending, /*placed=*/false);
  RolloutPlan p = f.Pass();
  ASSERT_EQ(p.drain.size(), 4u);
  EXPECT_EQ(p.drain[0].id, "g1-4");  // not placed
  EXPECT_EQ(p.drain[1].id, "g1-3");  // not Ready
  EXPECT_EQ(p.drain[2].id, "g1-2");  // idle and newest
  EXPECT_EQ(p.drain[3].id, "g1-1");  // idle
  EXPECT_EQ(p.drain[0].reason, "scaled down");
  EXPECT_EQ(f.live_.size(), 1u);
  EXPECT_EQ(f.live_[0].id, "g1-0");  // the busy one stays
}

TEST(RolloutPlanTest, SurgeStaysWithinMaxSurgeAndNoReadyOldLeavesEarly) {
  Fleet f(3);
  f.RollToTwo();
  RolloutPlan p = f.Pass();
  ASSERT_EQ(p.create.size(), 1u);
  EXPECT_EQ(p.create[0].generation, 2);
  EXPECT_EQ(p.create[0].count, 1);  // 3 + maxSurge 1
  EXPECT_TRUE(p.drain.empty());     // maxUnavailable 0: all 3 old stay until a new is available
  ASSERT_EQ(p.conditions.size(), 1u);
  EXPECT_EQ(p.conditions[0].reason, "RollingUpdate");
  p = f.Pass();  // the new one is still starting
  EXPECT_TRUE(p.create.empty());
  EXPECT_TRUE(p.drain.empty());

  Fleet g(3, /*max_surge=*/2);
  g.RollToTwo();
  p = g.Pass();
  ASSERT_EQ(p.create.size(), 1u);
  EXPECT_EQ(p.create[0].count, 2);
}

// maxSurge 0 with maxUnavailable 0 could never move: the planner surges by one instead.
TEST(RolloutPlanTest, NoSurgeAndNoUnavailableStillSurgesByOne) {
  Fleet f(3, /*max_surge=*/0, /*max_unavailable=*/0);
  f.RollToTwo();
  RolloutPlan p = f.Pass();
  ASSERT_EQ(p.create.size(), 1u);
  EXPECT_EQ(p.create[0].generation, 2);
  EXPECT_EQ(p.create[0].count, 1);
  EXPECT_TRUE(p.drain.empty());
}

// Every old instance gone is not enough: the new generation must be available at the desired
// count before it serves and the rollout is complete.
TEST(RolloutPlanTest, CompletesOnlyWhenTheNewGenerationIsAvailableAtTheDesiredCount) {
  Fleet f(2, /*max_surge=*/0, /*max_unavailable=*/2);
  f.RollToTwo();
  const int complete_before = f.Events("RolloutComplete");
  f.Pass();  // both old ones may be unavailable: they retire
  f.Pass();  // their replacements are created
  ASSERT_EQ(f.Count(1), 0);
  ASSERT_EQ(f.Count(2), 2);
  RolloutPlan p = f.Pass();  // starting, not available
  EXPECT_FALSE(p.mark_serving);
  EXPECT_EQ(f.Events("RolloutComplete"), complete_before);
  EXPECT_EQ(f.serving_, 1);
  f.ReadyAll();
  p = f.Pass();
  EXPECT_TRUE(p.mark_serving);
  EXPECT_EQ(f.Events("RolloutComplete"), complete_before + 1);
  EXPECT_EQ(f.serving_, 2);
}

TEST(RolloutPlanTest, MaxUnavailableRetiresOldBeforeNewAreUp) {
  Fleet f(4, /*max_surge=*/0, /*max_unavailable=*/1);
  f.RollToTwo();
  RolloutPlan p = f.Pass();
  EXPECT_TRUE(p.create.empty());  // no room above desired
  ASSERT_EQ(p.drain.size(), 1u);  // one may be unavailable
  EXPECT_EQ(p.drain[0].reason, "replaced by a newer generation");
  p = f.Pass();
  ASSERT_EQ(p.create.size(), 1u);  // its replacement
  EXPECT_EQ(p.create[0].count, 1);
  EXPECT_TRUE(p.drain.empty());  // 3 ready old = desired - maxUnavailable
}

TEST(RolloutPlanTest, OneOldRetiresPerNewAvailableAfterMinReadySeconds) {
  Fleet f(2);
  f.settings_.min_ready_seconds = 5;
  f.RollToTwo();
  f.Pass();  // one new
  f.ReadyAll();
  RolloutPlan p = f.Pass();
  EXPECT_TRUE(p.drain.empty()) << "Ready, but not for minReadySeconds yet";
  f.clock_.Advance(5 * kSec - 1);
  EXPECT_TRUE(f.Pass().drain.empty());
  f.clock_.Advance(1);
  p = f.Pass();
  ASSERT_EQ(p.drain.size(), 1u);
  EXPECT_EQ(p.drain[0].id.substr(0, 3), "g1-");
  EXPECT_EQ(f.Count(1), 1);
  // The next new one goes through the same wait; then the last old one retires.
  f.Pass();
  f.ReadyAll();
  f.clock_.Advance(5 * kSec);
  p = f.Pass();
  ASSERT_EQ(p.drain.size(), 1u);
  EXPECT_EQ(f.Count(1), 0);
  EXPECT_EQ(f.Count(2, true), 2);
  EXPECT_FALSE(p.mark_serving) << "old ones were still there when this pass began";
  p = f.Pass();
  EXPECT_TRUE(p.mark_serving);
  EXPECT_EQ(f.Events("RolloutComplete"), 1);
  EXPECT_EQ(f.serving_, 2);
  p = f.Pass();
  EXPECT_TRUE(p.create.empty() && p.drain.empty() && p.events.empty() && p.conditions.empty());
}

TEST(RolloutPlanTest, CrashLoopFailsTheRolloutAndHidesTheNewGeneration) {
  Fleet f(2, /*max_surge=*/2);
  f.RollToTwo();
  f.Pass();  // two new
  f.Crash(2);
  RolloutPlan p = f.Pass();
  EXPECT_TRUE(p.state.failed);
  ASSERT_EQ(f.Events("RolloutFailed"), 1);
  EXPECT_NE(p.events[0].message.find("is CrashLoopBackOff (exit code 3)"), std::string::npos)
      << p.events[0].message;
  EXPECT_TRUE(p.state.hide_failed_generation);  // two old ones serve
  EXPECT_TRUE(p.drain.empty());                 // 2 new = maxSurge: kept, visible
  ASSERT_EQ(p.conditions.size(), 1u);
  EXPECT_EQ(p.conditions[0].status, "False");
  EXPECT_EQ(p.conditions[0].reason, "RolloutFailed");
  EXPECT_NE(p.conditions[0].message.find("generation 1 serves"), std::string::npos);
  p = f.Pass();
  EXPECT_EQ(f.Events("RolloutFailed"), 1) << "reported once";
  EXPECT_TRUE(p.create.empty());
  EXPECT_EQ(f.Count(1), 2);
}

TEST(RolloutPlanTest, FailedRolloutKeepsAtMostMaxSurgeNewInstances) {
  Fleet f(3, /*max_surge=*/1, /*max_unavailable=*/2);
  f.RollToTwo();
  f.Pass();  // 1 new; 2 old retired (maxUnavailable 2)
  f.Pass();  // 2 more new
  ASSERT_EQ(f.Count(2), 3);
  f.Crash(2);
  RolloutPlan p = f.Pass();
  ASSERT_TRUE(p.state.failed);
  int beyond = 0;
  for (const auto& d : p.drain) beyond += d.reason == "rollout failed: beyond maxSurge";
  EXPECT_EQ(beyond, 2);
  EXPECT_EQ(f.Count(2), 1);
}

TEST(RolloutPlanTest, FailedRolloutRestoresTheLastCompleteGeneration) {
  // Every old instance was already replaced when the new generation starts crashing.
  // (Not complete yet: that takes a pass with no old instance left.)
  Fleet g(2);
  g.RollToTwo();
  for (int i = 0; i < 20 && g.Count(1) > 0; ++i) {
    g.Pass();
    g.ReadyAll();
  }
  ASSERT_EQ(g.Count(1), 0);
  ASSERT_EQ(g.serving_, 1) << "not complete yet: the last pass retired the last old one";
  g.Crash(2);
  RolloutPlan p = g.Pass();
  ASSERT_TRUE(p.state.failed);
  ASSERT_EQ(p.create.size(), 1u);
  EXPECT_EQ(p.create[0].generation, 1);  // the serving generation, at the desired count
  EXPECT_EQ(p.create[0].count, 2);
  EXPECT_EQ(g.Events("RestoringCapacity"), 1);
  EXPECT_TRUE(p.state.hide_failed_generation);
  g.ReadyAll();
  p = g.Pass();
  EXPECT_TRUE(p.create.empty());
  EXPECT_EQ(g.Count(1, true), 2);
  EXPECT_EQ(g.serving_, 1);
  EXPECT_TRUE(p.state.hide_failed_generation);
}

TEST(RolloutPlanTest, NoProgressWithinTheDeadlineFailsTheRollout) {
  Fleet f(1);
  f.settings_.progress_deadline_seconds = 10;
  f.RollToTwo();
  f.Pass();  // the new instance starts and never becomes Ready
  f.clock_.Advance(10 * kSec);
  EXPECT_FALSE(f.Pass().state.failed) << "exactly the deadline is not past it";
  f.clock_.Advance(1);
  RolloutPlan p = f.Pass();
  ASSERT_TRUE(p.state.failed);
  EXPECT_EQ(p.state.failure,
            "no progress for 10s (progressDeadlineSeconds): 0 of 1 new instances available");
  EXPECT_TRUE(p.state.hide_failed_generation);
  EXPECT_EQ(f.Count(1), 1);  // the old one keeps serving
}

TEST(RolloutPlanTest, ProgressRestartsTheDeadline) {
  Fleet f(2);
  f.settings_.progress_deadline_seconds = 10;
  f.RollToTwo();
  f.Pass();
  f.clock_.Advance(8 * kSec);
  f.ReadyAll();
  f.Pass();  // one new available: progress; one old retires
  f.clock_.Advance(9 * kSec);
  EXPECT_FALSE(f.Pass().state.failed);  // 17 s since the start, 9 s since progress
  f.clock_.Advance(2 * kSec);
  EXPECT_TRUE(f.Pass().state.failed);
}

TEST(RolloutPlanTest, UnknownServingSpecIsReportedOnceAndTheNewGenerationKeepsTraffic) {
  // tided restarted during a rollout: the serving generation is unknown and no old is left.
  Fleet f(2);
  f.generation_ = 2;
  f.serving_ = std::nullopt;
  f.Add(1, InstanceState::kReady);
  f.Add(2, InstanceState::kCrashLoopBackOff);
  RolloutPlan p = f.Pass();
  ASSERT_TRUE(p.state.failed);
  EXPECT_TRUE(p.create.empty());
  EXPECT_EQ(f.Events("RestoringCapacity"), 1);  // the warning: only 1 of 2 old ones left
  EXPECT_TRUE(p.state.hide_failed_generation);  // one old one still serves
  f.Pass();
  EXPECT_EQ(f.Events("RestoringCapacity"), 1);
  ASSERT_EQ(p.conditions.size(), 1u);
  EXPECT_NE(p.conditions[0].message.find("the old instances serve"), std::string::npos);
  // The last old one goes (deleted by hand): the failed generation keeps its traffic.
  std::erase_if(f.live_, [](const RolloutInstance& r) { return r.generation == 1; });
  p = f.Pass();
  EXPECT_FALSE(p.state.hide_failed_generation);
}

TEST(RolloutPlanTest, AFailedRolloutWithNothingOlderToServeKeepsItsTraffic) {
  // Scaled to zero after the failure: no old instance is restored, so the failed generation's
  // one kept instance is not hidden (a workload with traffic nowhere helps nobody).
  Fleet f(1);
  f.RollToTwo();
  f.Pass();
  f.Crash(2);
  ASSERT_TRUE(f.Pass().state.hide_failed_generation);
  f.desired_ = 0;
  RolloutPlan p = f.Pass();  // the old instance is scaled down
  ASSERT_EQ(p.drain.size(), 1u);
  EXPECT_EQ(p.drain[0].reason, "scaled down");
  EXPECT_EQ(f.Count(1), 0);
  p = f.Pass();
  EXPECT_TRUE(p.state.failed);
  EXPECT_TRUE(p.create.empty());
  EXPECT_FALSE(p.state.hide_failed_generation);
}

TEST(RolloutPlanTest, ANewSpecAfterAFailureRollsOutAgain) {
  Fleet f(1);
  f.RollToTwo();
  f.Pass();
  f.Crash(2);
  ASSERT_TRUE(f.Pass().state.failed);
  f.Apply(3);
  RolloutPlan p = f.Pass();
  EXPECT_FALSE(p.state.failed);
  EXPECT_FALSE(p.state.hide_failed_generation);
  f.Settle();
  EXPECT_EQ(f.serving_, 3);
  EXPECT_EQ(f.Count(3, true), 1);
  EXPECT_EQ(f.Count(1) + f.Count(2), 0);
}

TEST(ProgressingConditionTest, Cases) {
  RolloutState st;
  EXPECT_FALSE(ProgressingCondition(st, 2, 2, true));
  auto c = ProgressingCondition(st, 2, 1, false);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, "True");
  EXPECT_EQ(c->reason, "RollingUpdate");
  st.failed = true;
  st.failure = "boom";
  c = ProgressingCondition(st, 2, 1, false);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->message, "rollout of generation 2 failed: boom; generation 1 serves");
  c = ProgressingCondition(st, 2, std::nullopt, true);
  EXPECT_EQ(c->message, "rollout of generation 2 failed: boom; the old instances serve");
}

}  // namespace
}  // namespace tide
