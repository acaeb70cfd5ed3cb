#include "daemon/control/node_liveness.h"

namespace tide {

NodeLiveness NextNodeState(NodeState state, int64_t last_heartbeat_ms, int64_t now_ms,
                           int64_t grace_ms) {
  NodeLiveness out;
  out.state = state;
  const int64_t silent = now_ms - last_heartbeat_ms;
  if (out.state == NodeState::kReady && silent > grace_ms / 2) {
    out.state = NodeState::kNotReady;
    out.became_not_ready = true;
  }
  if (out.state == NodeState::kNotReady && silent > grace_ms) {
    out.state = NodeState::kLost;
    out.became_lost = true;
  }
  return out;
}

int64_t NodeDeadlineMs(NodeState state, int64_t last_heartbeat_ms, int64_t grace_ms) {
  switch (state) {
    case NodeState::kReady:
      return last_heartbeat_ms + grace_ms / 2 + 1;
    case NodeState::kNotReady:
      return last_heartbeat_ms + grace_ms + 1;
    default:
      return -1;
  }
}

}  // namespace tide
