#include "daemon/control/loop_wake.h"

#include <gtest/gtest.h>

#include "daemon/control/hearing.h"
#include "daemon/control/node_liveness.h"

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

TEST(ReconcileSleepMsTest, APeriodWhileBusyElseTheNearestDeadline) {
  const LoopTiming t{200, 30000};
  ReconcileSleepInput in;
  in.now_ms = 100000;
  in.last_full_ms = 95000;
  in.stall_ms = 2000;
  EXPECT_EQ(ReconcileSleepMs(in, t), 25000);  // no node: only the resync
  in.busy = true;
  EXPECT_EQ(ReconcileSleepMs(in, t), 200);  // work in progress is followed at the period
  in.busy = false;
  in.node_deadline_ms = 104001;              // a node heard at 99000, grace 10 s
  EXPECT_EQ(ReconcileSleepMs(in, t), 1000);  // the hearing window's pace: half its stall bound
  in.node_deadline_ms = 100300;
  EXPECT_EQ(ReconcileSleepMs(in, t), 300);  // the node's deadline comes first
  in.node_deadline_ms = 99000;
  EXPECT_EQ(ReconcileSleepMs(in, t), 1);  // past: at once, never a busy loop
  in.node_deadline_ms = 104001;
  in.last_full_ms = 70500;
  EXPECT_EQ(ReconcileSleepMs(in, t), 500);  // the resync comes first
  in.last_full_ms = 60000;
  EXPECT_EQ(ReconcileSleepMs(in, t), 1);  // the resync is overdue
}

TEST(ReconcileSleepMsTest, HearingPaceNeverBelowThePeriod) {
  EXPECT_EQ(HearingPassMs(2000, LoopTiming{200, 30000}), 1000);
  EXPECT_EQ(HearingPassMs(400, LoopTiming{200, 30000}), 200);  // short graces: as before
  EXPECT_EQ(HearingPassMs(500, LoopTiming{200, 30000}), 250);
}

TEST(TrimDueMsTest, AfterWorkAtMostOncePerBoundAndOnceMoreWhenSettled) {
  // A full pass at 100000, the last trim long before: at once.
  EXPECT_EQ(TrimDueMs(100000, 0), 100000);
  // Passes keep coming (a burst): one trim per kTrimEveryMs.
  EXPECT_EQ(TrimDueMs(100200, 100000), 100000 + kTrimEveryMs);
  // Trimmed after the last pass: once more when the burst has settled, then nothing.
  EXPECT_EQ(TrimDueMs(100200, 101200), 100200 + kTrimSettleMs);
  EXPECT_EQ(TrimDueMs(100200, 100200 + kTrimSettleMs), -1);
  EXPECT_EQ(TrimDueMs(0, 0), kTrimSettleMs);  // the start's own allocations
  // A trim due wakes an idle loop.
  ReconcileSleepInput in;
  in.now_ms = 100000;
  in.last_full_ms = 100000;
  in.trim_due_ms = 100400;
  EXPECT_EQ(ReconcileSleepMs(in, LoopTiming{200, 30000}), 400);
}

// The loop as ControlPlane runs it, on a fake clock: one node heartbeating every second, then
// silent. Sleeping until the nearest deadline must declare it NotReady and Lost exactly when a
// loop waking every period would, and the hearing window must take no normal sleep, even late
// by almost half the stall bound, for a stall; a real pause is still one.
struct LoopSim {
  static constexpr int64_t kGrace = 10000;
  const LoopTiming timing{200, 30000};
  const int64_t stall = StallBoundMs(kGrace, 200);
  int64_t now = 1000;
  HearingWindow hearing{now, stall, 2 * kGrace};
  NodeState state = NodeState::kReady;
  int64_t last_heartbeat = now;
  int64_t not_ready_at = -1, lost_at = -1;
  int stalls = 0, wakes = 0;

  // One light pass at `now`; returns the next sleep.
  int64_t Pass() {
    ++wakes;
    if (hearing.Observe(now)) ++stalls;
    const int64_t heard = std::max(last_heartbeat, hearing.heard_since());
    const NodeLiveness l = NextNodeState(state, heard, now, kGrace);
    state = l.state;
    if (l.became_not_ready) not_ready_at = now;
    if (l.became_lost) lost_at = now;
    ReconcileSleepInput in;
    in.now_ms = now;
    in.last_full_ms = now;  // resync out of the way
    in.node_deadline_ms = NodeDeadlineMs(state, heard, kGrace);
    in.stall_ms = stall;
    return ReconcileSleepMs(in, timing);
  }
  // Runs until `until`; heartbeats every 1000 ms until `silent_from`; each wake-up is `late` ms
  // after it was due.
  void Run(int64_t until, int64_t silent_from, int64_t late) {
    int64_t next_beat = last_heartbeat + 1000;
    int64_t wake = now;
    while (wake <= until) {
      while (next_beat <= wake && next_beat < silent_from) {
        last_heartbeat = next_beat;
        next_beat += 1000;
      }
      now = wake;
      wake = now + Pass() + late;
    }
  }
};

TEST(ReconcileSleepMsTest, IdleLoopKeepsNodeLivenessAndHearingExact) {
  LoopSim sim;
  sim.Run(61000, 31000, 0);
  EXPECT_EQ(sim.stalls, 0);
  // Silent from the heartbeat of 30000: NotReady after grace / 2, Lost after grace, to the ms.
  EXPECT_EQ(sim.not_ready_at, 30000 + LoopSim::kGrace / 2 + 1);
  EXPECT_EQ(sim.lost_at, 30000 + LoopSim::kGrace + 1);
  // About one wake-up a second while the node is watched (a period loop: 5), then only the
  // resync's once it is Lost.
  EXPECT_LE(sim.wakes, 40 + 2 + 2);
  EXPECT_GE(sim.wakes, 35);
}

TEST(ReconcileSleepMsTest, LateWakeUpsAreNotStallsButPausesAre) {
  LoopSim late;
  late.Run(30000, 1000000, late.stall / 2 - 1);  // every wake-up late by almost half the bound
  EXPECT_EQ(late.stalls, 0);
  EXPECT_EQ(late.state, NodeState::kReady);

  LoopSim paused;
  paused.Run(20000, 1000000, 0);
  // tided paused for more than half the grace (longer than the stall bound): heartbeats were not
  // read meanwhile.
  paused.now += LoopSim::kGrace / 2 + 1000;
  paused.Pass();
  EXPECT_EQ(paused.stalls, 1);
  EXPECT_EQ(paused.state, NodeState::kReady);  // the pause is not held against the node
}

}  // namespace
}  // namespace tide
