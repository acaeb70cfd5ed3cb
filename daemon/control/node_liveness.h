// Node liveness: how long a node may stay silent (no heartbeat) before the control plane stops
// counting on it. Pure function of (state, last heartbeat, now, grace); no clock of its own.
//
//   Ready    -> NotReady  when silent for more than grace / 2 (no new placements there);
//   NotReady -> Lost      when silent for more than grace (its instances are replaced elsewhere).
// Both steps may happen in one evaluation (Ready and silent for more than grace: Lost, through
// NotReady, so both transitions are reported). Exactly grace / 2 or grace of silence is not yet
// past the boundary. Lost stays Lost here: only a heartbeat or a registration (the agent
// protocol in ControlPlane) makes a node Ready again.
#pragma once

#include <cstdint>

#include "api/model.h"

namespace tide {

struct NodeLiveness {
  NodeState state = NodeState::kReady;  // the state after this evaluation
  bool became_not_ready = false;        // Ready -> NotReady happened now
  bool became_lost = false;             // NotReady -> Lost happened now
};

// `last_heartbeat_ms` and `now_ms` are steady-clock milliseconds; `grace_ms` is
// ControlPlaneOptions::node_grace_ms.
NodeLiveness NextNodeState(NodeState state, int64_t last_heartbeat_ms, int64_t now_ms,
                           int64_t grace_ms);

// The first steady time at which NextNodeState(state, last_heartbeat_ms, t, grace_ms) changes the
// state, if no heartbeat comes before: last heard + grace / 2 + 1 for a Ready node, last heard
// + grace + 1 for a NotReady one; -1 for a Lost node (only the agent protocol changes it). The
// reconcile loop sleeps until the nearest of these (daemon/control/loop_wake.h).
int64_t NodeDeadlineMs(NodeState state, int64_t last_heartbeat_ms, int64_t grace_ms);

}  // namespace tide
