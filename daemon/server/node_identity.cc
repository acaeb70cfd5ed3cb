#include "daemon/server/node_identity.h"

namespace tide {

const char* NodeActionName(NodeAction a) {
  switch (a) {
    case NodeAction::kRegister:
      return "register";
    case NodeAction::kAssignments:
      return "read the assignments of";
    case NodeAction::kReport:
      return "report for";
  }
  return "?";
}

NodeAccess DecideNodeAccess(const Principal& who, NodeAction action, const std::string& node,
                            bool node_claimed) {
  NodeAccess out;
  const std::string what = std::string(NodeActionName(action)) + " node " + node;
  if (who.role != Role::kAgent) {
    out.message = who.name + " (role " + RoleName(who.role) + ") is not a node and may not " + what;
    return out;
  }
  if (!who.node.empty()) {
    if (who.node == node) {
      out.verdict = NodeAccess::Verdict::kAllow;
    } else {
      out.message = who.name + " is bound to node " + who.node + " and may not " + what;
    }
    return out;
  }
  // A join token.
  if (action != NodeAction::kRegister) {
    out.message = "join token " + who.name + " may not " + what +
                  ": use the node credential the register answer carried";
  } else if (node_claimed) {
    out.message = "join token " + who.name + " may not " + what +
                  ": that node is already registered, and re-registering it needs its own "
                  "credential";
  } else {
    out.verdict = NodeAccess::Verdict::kJoin;
  }
  return out;
}

}  // namespace tide
