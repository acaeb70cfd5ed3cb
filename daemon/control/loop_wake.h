// Loop wake-ups of the control plane (issue 13, "no idle cost"): what is idle costs nothing, so
// nothing in tided ticks per idle workload. Pure: no clock, locks or I/O; times are passed in.
//
// Reconcile loop. It wakes when kicked or when ReconcileSleepMs says (every reconcile period only
// while work is in progress; otherwise at the nearest deadline), and a wake-up that finds nothing
// to do is a light pass: HearingWindow::Observe and node liveness (O(nodes), nothing per
// workload). A full pass (every workload: rollout planner, placement, routes, metrics) runs when
// FullPassDue:
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
// ReconcileSleepMs: how long an unkicked reconcile loop sleeps. While the last full pass left
// work in progress, one period. Otherwise until the nearest of: the resync; the first time a
// node's silence alone would change its state (node_liveness.h NodeDeadlineMs, from the node's
// last heartbeat as tided holds it); and, while any node is watched, HearingPassMs after now.
// The last keeps HearingWindow exact (hearing.h): it takes a gap between two passes longer than
// its stall bound for a pause of tided, so a normal sleep is at most half that bound and may be
// late by as much again before it counts as a stall. With the default 10 s grace (stall bound
// 2 s) an idle tided with one node wakes once a second instead of five times; with no node to
// watch (none registered, or all Lost), once per resync. A heap trim due (TrimDueMs) is one
// more deadline.
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

// Heap trim. A burst of work (1,000 instances placed, their reports) leaves free pages in the
// malloc arenas that glibc keeps; tided gives them back (malloc_trim) after full passes: at most
// once per kTrimEveryMs while they run, and once more kTrimSettleMs after the last one, by when
// what the other threads held for the burst (reports parsed, answers sent) is free too.
// TrimDueMs: when the next trim is due (steady ms; -1: none), from when the last full pass and
// the last trim ran; ReconcileSleepMs wakes the loop for it.
inline constexpr int64_t kTrimEveryMs = 1000;
inline constexpr int64_t kTrimSettleMs = 5000;
int64_t TrimDueMs(int64_t last_full_ms, int64_t last_trim_ms);

struct ReconcileSleepInput {
  bool busy = false;              // the last full pass left work in progress
  int64_t now_ms = 0;             // steady
  int64_t last_full_ms = 0;       // steady; when the last full pass ran
  int64_t node_deadline_ms = -1;  // steady; the nearest NodeDeadlineMs of any node (-1: none)
  int64_t stall_ms = 0;           // the hearing window's stall bound (hearing.h StallBoundMs)
  int64_t trim_due_ms = -1;       // steady; TrimDueMs (-1: none)
};
int64_t ReconcileSleepMs(const ReconcileSleepInput& in, const LoopTiming& timing);

// The longest sleep between two passes while nodes are watched: half the stall bound, and never
// less than the period.
int64_t HearingPassMs(int64_t stall_ms, const LoopTiming& timing);

// How long the autoscale loop sleeps: timing.period_ms while any workload is active; else until
// next_trigger_wall_ms (Unix ms; <= 0: no trigger armed to fire) and at most resync_ms.
int64_t AutoscaleSleepMs(bool any_active, int64_t next_trigger_wall_ms, int64_t now_wall_ms,
                         const LoopTiming& timing);

}  // namespace tide
