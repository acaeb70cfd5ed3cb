// Node identity (docs/api.md "Node identity"): may this principal act as this node? A pure
// decision, used by the agent routes of the API server (daemon/server/api_server.cc);
// docs/security.md has the model.
//
//  - Only role agent acts as a node (an admin is not a node, as with Kubernetes'
//    NodeRestriction; Auth already refuses other roles on agent routes).
//  - A token bound to node N (tokens-file `node: N`, a credential issued at join, or the local
//    agent's) may register, read the assignments of and report for N, and nothing else.
//  - A join token (agent, no node) may only register a node that nothing is bound to yet
//    (kJoin: the caller then issues a credential); reading assignments or reporting needs the
//    node's own credential.
// Every refusal carries a message naming the principal, the node and what to do instead
// (never a token).
//
// Thread-safety: a pure function.
#pragma once

#include <string>

#include "daemon/server/auth.h"

namespace tide {

enum class NodeAction { kRegister, kAssignments, kReport };
const char* NodeActionName(NodeAction a);  // "register" | "read the assignments of" | ...

struct NodeAccess {
  enum class Verdict { kAllow, kJoin, kDeny };
  Verdict verdict = Verdict::kDeny;
  std::string message;  // why, for kDeny
};

// node_claimed: some token, credential or the local agent is bound to `node` (Auth::NodeClaimed).
NodeAccess DecideNodeAccess(const Principal& who, NodeAction action, const std::string& node,
                            bool node_claimed);

}  // namespace tide
