// Node liveness boundaries on a FakeClock: grace 10 s, so NotReady after 5 s and Lost after 10 s
// of silence.
#include "daemon/control/node_liveness.h"

#include <gtest/gtest.h>

#include "api/clock.h"

namespace tide {
namespace {

constexpr int64_t kGrace = 10000;

class NodeLivenessTest : public ::testing::Test {
 protected:
  // Evaluates the node as the reconcile loop does, keeping its state between calls.
  NodeLiveness Step() {
    NodeLiveness l = NextNodeState(state_, heartbeat_, clock_.NowMs(), kGrace);
    state_ = l.state;
    return l;
  }
  FakeClock clock_;
  int64_t heartbeat_ = clock_.NowMs();
  NodeState state_ = NodeState::kReady;
};

TEST_F(NodeLivenessTest, ReadyWhileSilentAtMostHalfTheGrace) {
  clock_.Advance(kGrace / 2);
  NodeLiveness l = Step();
  EXPECT_EQ(l.state, NodeState::kReady);
  EXPECT_FALSE(l.became_not_ready);
  EXPECT_FALSE(l.became_lost);
}

TEST_F(NodeLivenessTest, NotReadyJustPastHalfTheGraceThenLostJustPastTheGrace) {
  clock_.Advance(kGrace / 2 + 1);
  NodeLiveness l = Step();
  EXPECT_EQ(l.state, NodeState::kNotReady);
  EXPECT_TRUE(l.became_not_ready);
  EXPECT_FALSE(l.became_lost);

  clock_.Advance(kGrace / 2 - 1);  // silent exactly the grace: not yet Lost
  l = Step();
  EXPECT_EQ(l.state, NodeState::kNotReady);
  EXPECT_FALSE(l.became_not_ready);  // reported once
  EXPECT_FALSE(l.became_lost);

  clock_.Advance(1);
  l = Step();
  EXPECT_EQ(l.state, NodeState::kLost);
  EXPECT_TRUE(l.became_lost);
  EXPECT_FALSE(l.became_not_ready);
}

TEST_F(NodeLivenessTest, ReadySilentPastTheGraceIsLostThroughNotReadyInOneStep) {
  clock_.Advance(kGrace + 1);
  NodeLiveness l = Step();
  EXPECT_EQ(l.state, NodeState::kLost);
  EXPECT_TRUE(l.became_not_ready);
  EXPECT_TRUE(l.became_lost);
}

TEST_F(NodeLivenessTest, LostStaysLostAndReportsNothingMore) {
  clock_.Advance(kGrace + 1);
  Step();
  clock_.Advance(60000);
  NodeLiveness l = Step();
  EXPECT_EQ(l.state, NodeState::kLost);
  EXPECT_FALSE(l.became_not_ready);
  EXPECT_FALSE(l.became_lost);
}

TEST_F(NodeLivenessTest, AHeartbeatRestartsTheCount) {
  clock_.Advance(kGrace / 2);
  heartbeat_ = clock_.NowMs();
  clock_.Advance(kGrace / 2);
  EXPECT_EQ(Step().state, NodeState::kReady);
}

TEST_F(NodeLivenessTest, OddGraceRoundsHalfDown) {
  // grace 7 ms: half is 3 ms, so 4 ms of silence is NotReady.
  EXPECT_EQ(NextNodeState(NodeState::kReady, 0, 3, 7).state, NodeState::kReady);
  EXPECT_EQ(NextNodeState(NodeState::kReady, 0, 4, 7).state, NodeState::kNotReady);
  EXPECT_EQ(NextNodeState(NodeState::kNotReady, 0, 7, 7).state, NodeState::kNotReady);
  EXPECT_EQ(NextNodeState(NodeState::kNotReady, 0, 8, 7).state, NodeState::kLost);
}

// The reconcile loop sleeps until NodeDeadlineMs: the state must not change a millisecond
// before it and must change at it, for every state, grace and heartbeat time.
TEST(NodeDeadlineTest, IsTheFirstTimeTheStateChanges) {
  for (int64_t grace : {7, 1000, 10000}) {
    for (int64_t heard : {0, 123, 50000}) {
      for (NodeState st : {NodeState::kReady, NodeState::kNotReady}) {
        const int64_t d = NodeDeadlineMs(st, heard, grace);
        ASSERT_GT(d, heard);
        EXPECT_EQ(NextNodeState(st, heard, d - 1, grace).state, st) << grace << " " << heard;
        EXPECT_NE(NextNodeState(st, heard, d, grace).state, st) << grace << " " << heard;
      }
    }
  }
  EXPECT_EQ(NodeDeadlineMs(NodeState::kReady, 0, 10000), 5001);
  EXPECT_EQ(NodeDeadlineMs(NodeState::kNotReady, 0, 10000), 10001);
  EXPECT_EQ(NodeDeadlineMs(NodeState::kLost, 0, 10000), -1);  // only a heartbeat changes it
}

}  // namespace
}  // namespace tide
