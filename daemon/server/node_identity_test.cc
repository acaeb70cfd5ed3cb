#include "daemon/server/node_identity.h"

#include <gtest/gtest.h>

namespace tide {
namespace {

using V = NodeAccess::Verdict;

TEST(NodeIdentityTest, BoundTokenActsOnlyAsItsNode) {
  const Principal bound{"pinned", Role::kAgent, "node-a"};
  for (NodeAction a : {NodeAction::kRegister, NodeAction::kAssignments, NodeAction::kReport}) {
    EXPECT_EQ(DecideNodeAccess(bound, a, "node-a", true).verdict, V::kAllow);
    EXPECT_EQ(DecideNodeAccess(bound, a, "node-a", false).verdict, V::kAllow);
    NodeAccess d = DecideNodeAccess(bound, a, "node-b", false);
    EXPECT_EQ(d.verdict, V::kDeny);
    EXPECT_NE(d.message.find("bound to node node-a"), std::string::npos) << d.message;
    EXPECT_NE(d.message.find("node-b"), std::string::npos) << d.message;
  }
}

TEST(NodeIdentityTest, JoinTokenRegistersOnlyUnclaimedNames) {
  const Principal join{"nodes", Role::kAgent, ""};
  EXPECT_EQ(DecideNodeAccess(join, NodeAction::kRegister, "new", false).verdict, V::kJoin);
  NodeAccess d = DecideNodeAccess(join, NodeAction::kRegister, "taken", true);
  EXPECT_EQ(d.verdict, V::kDeny);
  EXPECT_NE(d.message.find("own credential"), std::string::npos) << d.message;
  for (NodeAction a : {NodeAction::kAssignments, NodeAction::kReport}) {
    for (bool claimed : {false, true}) {
      d = DecideNodeAccess(join, a, "n", claimed);
      EXPECT_EQ(d.verdict, V::kDeny);
      EXPECT_NE(d.message.find("credential"), std::string::npos) << d.message;
    }
  }
}

TEST(NodeIdentityTest, OtherRolesAreNotNodes) {
  for (Role r : {Role::kAdmin, Role::kRead}) {
    NodeAccess d = DecideNodeAccess(Principal{"ops", r, ""}, NodeAction::kRegister, "n", false);
    EXPECT_EQ(d.verdict, V::kDeny);
    EXPECT_NE(d.message.find("is not a node"), std::string::npos) << d.message;
  }
}

}  // namespace
}  // namespace tide
