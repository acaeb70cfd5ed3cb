// Rollout planner: for one workload, what the control loop should do next about its instances.
// Pure: (live instances, desired count, rollout settings, serving generation, state, now) ->
// plan (create, drain with reason, events, conditions, next state). No locks, clock, threads or
// I/O; ControlPlane::ReconcileWorkloadLocked builds the input under its lock and applies the
// plan (creating and placing instances, draining, recording events).
//
// A spec change is a new generation. One concern per file:
//   rollout.cc           the entry point; steady state (scale to the desired count) and the
//                        victim order shared by every step;
//   rollout_progress.cc  when a rollout has failed (progress);
//   rollout_rolling.cc   surge new instances, retire old ones (rolling);
//   rollout_rollback.cc  a failed rollout: the last complete generation serves again (rollback).
// (rollout_pass.h is their shared, internal view of one pass.)
//
// Rules:
//   - Steady (no older instance, and the serving generation is this one or unknown): create or
//     drain ("scaled down") to the desired count. The first generation, or any after a tided
//     restart, becomes the serving one at once.
//   - Rolling: new instances surge in while current + old <= desired + maxSurge and current <=
//     desired; an old instance retires ("replaced by a newer generation") while enough stay
//     Ready: ready old + available new - 1 >= desired - maxUnavailable (old instances that are
//     not Ready retire freely). A new instance is available once Ready for minReadySeconds.
//     maxSurge and maxUnavailable both 0 count as maxSurge 1.
//   - Complete: no old instance and desired new ones available: the generation becomes the
//     serving one (RolloutComplete).
//   - Failed: a new instance is CrashLoopBackOff or Failed, or no new instance became available
//     for progressDeadlineSeconds (RolloutFailed, once). Then the old generations run at the
//     desired count again: missing ones are created from the serving generation
//     (RestoringCapacity), or, when that is unknown (tided restarted during the rollout), a
//     warning says so once. The failed generation keeps at most maxSurge instances (so its
//     state and logs stay visible) and, while any old instance is left, gets no traffic
//     (hide_failed_generation). The state stays failed until the spec changes.
//   - Victims (drains) are taken in this order: not placed, then not Ready, then the fewest
//     in-flight requests at the gateway, then the newest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/model.h"

namespace tide {

// One live instance (not draining, not removed) as the planner sees it.
struct RolloutInstance {
  std::string id;
  int64_t generation = 0;
  bool placed = false;  // has a node
  // As the agent last reported it (state Pending until it did); the rest says why it crashed.
  InstanceState state = InstanceState::kPending;
  int last_exit_code = -1;
  int last_signal = 0;
  std::string reason;
  int64_t ready_since_ms = 0;  // steady: when it last became Ready
  int64_t created_ms = 0;      // steady
  int inflight = 0;            // requests in flight at the gateway

  bool Ready() const { return state == InstanceState::kReady; }
  bool Available(int64_t now_ms, int64_t min_ready_ms) const {
    return Ready() && now_ms - ready_since_ms >= min_ready_ms;
  }
};

// What the planner remembers of a workload's rollout between passes. The control loop keeps it
// and starts it again (StartedAt) whenever the spec changes.
struct RolloutState {
  bool failed = false;
  std::string failure;      // why, for the event and the status condition
  int64_t progress_ms = 0;  // steady: start, or when a new instance last became available
  int available = 0;        // most new instances available at once so far
  bool hide_failed_generation = false;  // route only the old instances
  bool restore_impossible_reported = false;

  static RolloutState StartedAt(int64_t now_ms);
};

struct RolloutInput {
  std::string workload;
  int64_t generation = 0;  // the applied spec's
  int desired = 0;
  Rollout settings;
  // The newest generation whose rollout completed: what a failed rollout restores. Unknown
  // after a tided restart until a rollout completes.
  std::optional<int64_t> serving_generation;
  std::vector<RolloutInstance> instances;  // live ones, any generation
  int64_t now_ms = 0;                      // steady
};

struct RolloutCondition {
  std::string type, status, reason, message;
};

struct RolloutPlan {
  struct Create {
    int64_t generation = 0;  // the current one, or the serving one when restoring
    int count = 0;
  };
  struct Drain {
    std::string id;
    std::string reason;  // "scaled down", "replaced by a newer generation", ...
  };
  struct Event {
    std::string type;  // Normal | Warning
    std::string reason;
    std::string message;  // about workload/NAME
  };
  std::vector<Create> create;
  std::vector<Drain> drain;
  std::vector<Event> events;
  std::vector<RolloutCondition> conditions;  // the Progressing condition, if any
  bool mark_serving = false;                 // the current generation becomes the serving one
  RolloutState state;                        // to keep for the next pass
};

RolloutPlan PlanRollout(const RolloutInput& in, const RolloutState& state);

// The status condition "Progressing" of a workload at `generation`: False/RolloutFailed with
// the failure and what serves instead; True/RollingUpdate while some live instance runs another
// generation (all_current false); none otherwise.
std::optional<RolloutCondition> ProgressingCondition(const RolloutState& state, int64_t generation,
                                                     std::optional<int64_t> serving_generation,
                                                     bool all_current);

}  // namespace tide
