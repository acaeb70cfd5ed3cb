// HearingWindow boundaries on a FakeClock, and node liveness counted through it: grace 10 s,
// stall bound 2 s, reconcile passes every 200 ms.
#include "daemon/control/hearing.h"

#include <gtest/gtest.h>

#include "api/clock.h"
#include "daemon/control/node_liveness.h"

namespace tide {
namespace {

constexpr int64_t kGrace = 10000;
constexpr int64_t kStall = 2000;

TEST(StallBoundTest, BelowHalfTheGraceAboveTwoPeriods) {
  EXPECT_EQ(StallBoundMs(10000, 200), 2000);
  EXPECT_EQ(StallBoundMs(3000, 200), 750);
  EXPECT_EQ(StallBoundMs(1000, 200), 400);  // two periods; still below grace / 2
  EXPECT_EQ(StallBoundMs(60000, 200), 2000);
}

TEST(HearingWindowTest, GapOfExactlyTheBoundIsNoStall) {
  FakeClock clock;
  HearingWindow w(clock.NowMs(), kStall);
  const int64_t start = clock.NowMs();
  clock.Advance(kStall);
  EXPECT_FALSE(w.Observe(clock.NowMs()));
  EXPECT_EQ(w.heard_since(), start);
  clock.Advance(kStall + 1);
  EXPECT_TRUE(w.Observe(clock.NowMs()));
  EXPECT_EQ(w.heard_since(), clock.NowMs());
  EXPECT_EQ(w.last_stall_ms(), kStall + 1);
}

TEST(HearingWindowTest, RegularPassesNeverMoveTheWindow) {
  FakeClock clock;
  HearingWindow w(clock.NowMs(), kStall);
  const int64_t start = clock.NowMs();
  for (int i = 0; i < 1000; ++i) {
    clock.Advance(200);
    EXPECT_FALSE(w.Observe(clock.NowMs()));
  }
  EXPECT_EQ(w.heard_since(), start);
  EXPECT_EQ(w.SilenceOf(start, clock.NowMs()), 200000);  // a node silent all along: all of it
}

TEST(HearingWindowTest, SilenceBeforeTheStartDoesNotCount) {
  FakeClock clock;
  clock.Advance(50000);
  const int64_t heartbeat = clock.NowMs() - 40000;  // last heard long before tided started
  HearingWindow w(clock.NowMs(), kStall);
  clock.Advance(1000);
  EXPECT_EQ(w.SilenceOf(heartbeat, clock.NowMs()), 1000);
}

// The node liveness decider fed as ControlPlane feeds it: last heard = max(heartbeat, window).
class PausedTidedTest : public ::testing::Test {
 protected:
  NodeLiveness Pass() {
    w_.Observe(clock_.NowMs());
    NodeLiveness l =
        NextNodeState(state_, std::max(heartbeat_, w_.heard_since()), clock_.NowMs(), kGrace);
    state_ = l.state;
    return l;
  }
  FakeClock clock_;
  HearingWindow w_{clock_.NowMs(), kStall, 2 * kGrace};
  int64_t heartbeat_ = clock_.NowMs();
  NodeState state_ = NodeState::kReady;
};

TEST_F(PausedTidedTest, PauseOfTwiceTheGraceLosesNoNode) {
  clock_.Advance(1000);
  heartbeat_ = clock_.NowMs();
  EXPECT_EQ(Pass().state, NodeState::kReady);
  clock_.Advance(2 * kGrace);  // SIGSTOP ... SIGCONT
  NodeLiveness l = Pass();
  EXPECT_EQ(l.state, NodeState::kReady);
  EXPECT_FALSE(l.became_not_ready);
  EXPECT_FALSE(l.became_lost);
}

TEST_F(PausedTidedTest, NodeSilentAfterThePauseIsStillLostOnTime) {
  clock_.Advance(2 * kGrace);  // pause
  Pass();
  const int64_t resumed = clock_.NowMs();
  // The node never speaks again: passes every 200 ms until it is Lost.
  while (state_ != NodeState::kLost) {
    clock_.Advance(200);
    Pass();
    ASSERT_LE(clock_.NowMs() - resumed, kGrace + 200);
  }
  EXPECT_GT(clock_.NowMs() - resumed, kGrace);
}

TEST_F(PausedTidedTest, PauseJustUnderTheBoundCountsAsSilence) {
  // 5 s of regular passes with no heartbeat, then a 2 s gap (not a stall): silence is 7 s.
  for (int i = 0; i < 25; ++i) {
    clock_.Advance(200);
    Pass();
  }
  clock_.Advance(kStall);
  EXPECT_EQ(Pass().state, NodeState::kNotReady);
}

TEST_F(PausedTidedTest, LoopSlowerThanTheBoundEveryPassStillLosesADeadNode) {
  // Every pass 2.5 s apart (a stall each time): the node, silent from the start, is Lost within
  // about twice the grace, not never.
  while (state_ != NodeState::kLost) {
    clock_.Advance(kStall + 500);
    Pass();
    ASSERT_LE(clock_.NowMs() - heartbeat_, 3 * kGrace) << "a dead node was never declared Lost";
  }
  EXPECT_GT(clock_.NowMs() - heartbeat_, kGrace);
}

TEST(HearingWindowTest, SecondStallSoonAfterTheFirstIsNotCredited) {
  FakeClock clock;
  HearingWindow w(clock.NowMs(), kStall, 2 * kGrace);
  clock.Advance(kStall + 1);  // the first stall: always credited, whenever it comes
  EXPECT_TRUE(w.Observe(clock.NowMs()));
  const int64_t first = w.heard_since();
  clock.Advance(kStall + 1);
  EXPECT_FALSE(w.Observe(clock.NowMs()));
  EXPECT_EQ(w.heard_since(), first);
  clock.Advance(2 * kGrace);
  EXPECT_TRUE(w.Observe(clock.NowMs()));
  EXPECT_EQ(w.heard_since(), clock.NowMs());
}

}  // namespace
}  // namespace tide
