// Loop wake-ups of the control plane (issue 13, "no idle cost"): what is idle costs nothing, so
// nothing in tided ticks per idle workload. Pure: no clock, locks or I/O; times are passed in.
//
// Reconcile loop. It wakes every reconcile period, but a wake-up that finds nothing to do is a
// light pass: HearingWindow::Observe and node liveness (O(nodes), nothing per workload). A full
// pass (every workload: rollout planner, placement, routes, metrics) runs when FullPassDue:
//  - it was kicked (an apply, a scale, a report that changed something, a registration, an
//    activation from zero, a scaling decision);
//  - the last full pass left work in progress (some workload not WorkloadSettled, an instance
//    draining, a follower watching for leadership): starts, rollouts, crash loops and drains are
//    followed every period exactly as before;
//  - the light pass changed a node's state (NotReady, Lost: routes and placements change);
//  - resync_ms passed since the last full pass: level-triggered behaviour keeps a safety net.
//
// WorkloadSettled: the rollout planner asked for nothing (no create, drain, event, serving mark)
// and the rollout has not failed, and either the workload is at zero with no live instance, or
// every live instance is placed, Ready and of the current generation, there are exactly
// `desired` of them, and the current generation is the serving one. Nothing in such a workload
// changes with time alone: only events (requests, reports, applies) change it, and they kick.
//
// Autoscale loop (AutoscaleSleepMs). It samples the gateway load of the active autoscaled
// workloads (desired > 0 or instances left) every autoscale period; with none active it sleeps
// until the next schedule trigger is due (at most resync_ms), woken earlier by an activation from
// zero or a reconcile pass that finds an active workload.
#pragma once

#include <cstdint>

#include "daemon/control/rollout.h"

namespace tide {

struct LoopTiming {
  int64_t period_ms = 200;    // the reconcile (or autoscale) period
  int64_t resync_ms = 30000;  // a full pass at least this often, whatever happened
};

bool WorkloadSettled(const RolloutInput& in, const RolloutPlan& plan);

struct FullPassInput {
  bool kicked = false;
  bool busy = false;                // the last full pass left work in progress
  bool node_state_changed = false;  // in the light pass just made
  int64_t now_ms = 0;               // steady
  int64_t last_full_ms = 0;         // steady; when the last full pass ran
};
bool FullPassDue(const FullPassInput& in, const LoopTiming& timing);

// How long the autoscale loop sleeps: timing.period_ms while any workload is active; else until
// next_trigger_wall_ms (Unix ms; <= 0: no trigger armed to fire) and at most resync_ms.
int64_t AutoscaleSleepMs(bool any_active, int64_t next_trigger_wall_ms, int64_t now_wall_ms,
                         const LoopTiming& timing);

}  // namespace tide
