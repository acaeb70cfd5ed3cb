#include "daemon/control/loop_wake.h"

#include <gtest/gtest.h>

namespace tide {
namespace {

RolloutInstance Inst(const std::string& id, int64_t generation, InstanceState state,
                     bool placed = true) {
  RolloutInstance i;
  i.id = id;
  i.generation = generation;
  i.state = state;
  i.placed = placed;
  return i;
}

RolloutInput Input(int desired, std::vector<RolloutInstance> instances) {
  RolloutInput in;
  in.workload = "web";
  in.generation = 3;
  in.serving_generation = 3;
  in.desired = desired;
  in.instances = std::move(instances);
  return in;
}

TEST(WorkloadSettledTest, AtZeroWithNoInstanceIsSettled) {
  RolloutInput in = Input(0, {});
  in.serving_generation.reset();  // never ran: still nothing to follow
  EXPECT_TRUE(WorkloadSettled(in, RolloutPlan{}));
  EXPECT_FALSE(WorkloadSettled(Input(1, {}), RolloutPlan{}));  // one to create
}

TEST(WorkloadSettledTest, AllReadyCurrentAndServingIsSettled) {
  const auto ready = InstanceState::kReady;
  EXPECT_TRUE(WorkloadSettled(Input(2, {Inst("a", 3, ready), Inst("b", 3, ready)}), {}));
  // Anything still moving is followed at the period.
  EXPECT_FALSE(
      WorkloadSettled(Input(2, {Inst("a", 3, ready), Inst("b", 3, InstanceState::kStarting)}), {}));
  EXPECT_FALSE(WorkloadSettled(Input(2, {Inst("a", 3, ready), Inst("b", 2, ready)}), {}));
  EXPECT_FALSE(WorkloadSettled(Input(2, {Inst("a", 3, ready), Inst("b", 3, ready, false)}), {}));
  EXPECT_FALSE(WorkloadSettled(Input(1, {Inst("a", 3, ready), Inst("b", 3, ready)}), {}));
  EXPECT_FALSE(WorkloadSettled(Input(0, {Inst("a", 3, ready)}), {}));  // a Function stopping
  EXPECT_FALSE(WorkloadSettled(Input(1, {Inst("a", 3, InstanceState::kCrashLoopBackOff)}), {}));
  RolloutInput unserved = Input(1, {Inst("a", 3, ready)});
  unserved.serving_generation = 2;  // the rollout has not been marked complete yet
  EXPECT_FALSE(WorkloadSettled(unserved, {}));
}

TEST(WorkloadSettledTest, APlanThatAsksForAnythingIsNotSettled) {
  const RolloutInput in = Input(1, {Inst("a", 3, InstanceState::kReady)});
  RolloutPlan p;
  p.create.push_back({3, 1});
  EXPECT_FALSE(WorkloadSettled(in, p));
  p = {};
  p.drain.push_back({"a", "scaled down"});
  EXPECT_FALSE(WorkloadSettled(in, p));
  p = {};
  p.events.push_back({"Normal", "RolloutComplete", "done"});
  EXPECT_FALSE(WorkloadSettled(in, p));
  p = {};
  p.mark_serving = true;
  EXPECT_FALSE(WorkloadSettled(in, p));
  p = {};
  p.state.failed = true;
  EXPECT_FALSE(WorkloadSettled(in, p));
}

TEST(FullPassDueTest, OnlyEventsWorkInProgressNodeChangesOrTheResync) {
  const LoopTiming t{200, 10000};
  FullPassInput in;
  in.now_ms = 50000;
  in.last_full_ms = 45000;
  EXPECT_FALSE(FullPassDue(in, t));  // idle: a light pass
  FullPassInput k = in;
  k.kicked = true;
  EXPECT_TRUE(FullPassDue(k, t));
  FullPassInput b = in;
  b.busy = true;
  EXPECT_TRUE(FullPassDue(b, t));
  FullPassInput n = in;
  n.node_state_changed = true;
  EXPECT_TRUE(FullPassDue(n, t));
  in.now_ms = 54999;
  EXPECT_FALSE(FullPassDue(in, t));
  in.now_ms = 55000;  // the resync: level-triggered behaviour is kept
  EXPECT_TRUE(FullPassDue(in, t));
}

TEST(AutoscaleSleepMsTest, PeriodWhileActiveElseTheNextTriggerAtMostTheResync) {
  const LoopTiming t{100, 10000};
  EXPECT_EQ(AutoscaleSleepMs(true, 0, 1000, t), 100);
  EXPECT_EQ(AutoscaleSleepMs(true, 1001, 1000, t), 100);
  EXPECT_EQ(AutoscaleSleepMs(false, 0, 1000, t), 10000);   // nothing armed
  EXPECT_EQ(AutoscaleSleepMs(false, -1, 1000, t), 10000);  // never fires
  EXPECT_EQ(AutoscaleSleepMs(false, 4000, 1000, t), 3000);
  EXPECT_EQ(AutoscaleSleepMs(false, 900, 1000, t), 0);  // overdue: at once
  EXPECT_EQ(AutoscaleSleepMs(false, 1000 + 3600000, 1000, t), 10000);
}

}  // namespace
}  // namespace tide
