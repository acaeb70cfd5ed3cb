// Scale policy: how many instances an autoscaled workload (a Function, or a Service with
// spec.autoscale) runs. One home for the three rules that set the count, applied by the control
// loop under its lock (ControlPlane::AutoscaleLoop every ~100 ms, ControlPlane::OnLoad on each
// gateway load change). Pure: no clock (the caller passes now), threads, metrics or events.
//
//   1. the autoscaler's answer (daemon/control/autoscaler.h: windows, panic mode, scale to
//      zero after a stable window without load);
//   2. the idle timeout of a Function: one that has replicas keeps at least one (or minReplicas)
//      until idleTimeoutSeconds have passed since its last request ended, and then, with no
//      request in flight or waiting, goes to zero at once, whatever the autoscaler's stable
//      window says (the window keeps governing scale-down between non-zero counts);
//   3. activation: requests waiting at the gateway always get capacity, ceil((in-flight +
//      queued) / concurrency) instances (one when concurrency is unlimited), at most
//      max(1, maxReplicas). The gateway's load callback applies only this rule, at once (it
//      never scales down), so a cold start does not wait for the loop's period.
// The result is clamped to [minReplicas, maxReplicas] (the activation path only ever raises the
// count, to at most max(1, maxReplicas)).
//
// So a Function reaches zero exactly idleTimeoutSeconds after its last request ended, shorter or
// longer than the stable window (docs/autoscaling.md has the timeline); pinned by
// scale_policy_test.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "api/model.h"
#include "daemon/control/autoscaler.h"

namespace tide {

// Whether the control loop autoscales `o` (every Function; a Service with spec.autoscale).
bool IsAutoscaled(const Object& o);
// Its autoscaling parameters: spec.autoscale, or for a Function without it the defaults with
// minReplicas 0.
Autoscale AutoscaleOf(const Object& o);

// What the policy knows of one autoscaled workload at a decision.
struct ScaleInput {
  Kind kind = Kind::kFunction;
  Autoscale autoscale;              // AutoscaleOf(object)
  int concurrency = 0;              // spec.concurrency: requests per instance, 0 = no limit
  double idle_timeout_seconds = 0;  // spec.idleTimeoutSeconds (Functions)
  int desired = 0;                  // the count the control loop runs now
  int inflight = 0, queued = 0;     // requests at the gateway now
  int64_t last_request_ms = 0;      // steady: when the gateway last reported a request
  int64_t now_ms = 0;               // steady
  // idleTimeoutSeconds: auto: when the last instance may stop, in place of last_request_ms +
  // the idle timeout (daemon/control/keepalive_policy.h), and the plan's words for the event.
  std::optional<int64_t> idle_deadline_ms;
  std::string idle_why;

  // kind, autoscale, concurrency and idle timeout from the object; the rest left to fill.
  static ScaleInput For(const Object& o);
};

// A change of the desired count, with the message of its ScaledUp / ScaledDown event.
struct ScaleChange {
  int desired = 0;
  bool up = false;
  std::string reason;
};

// Instances the requests at the gateway need (rule 3): ceil((inflight + queued) / concurrency),
// 1 when concurrency is 0 (no limit); at most max(1, max_replicas).
// idleTimeoutSeconds in milliseconds (negative counts as 0).
int64_t IdleTimeoutMs(double seconds);

int ActivationReplicas(int inflight, int queued, int concurrency, int max_replicas);

// The autoscale loop's decision: rules 1-3 on the autoscaler's answer `d`. nullopt when the
// count stays. The reason is the autoscaler's when its answer stands, else says that the idle
// hold or waiting requests set the count.
std::optional<ScaleChange> DecideScale(const ScaleInput& in, const ScaleDecision& d);

// The gateway's load callback: rule 3 alone. nullopt unless requests are queued and need more
// instances than `desired`.
std::optional<ScaleChange> Activate(const ScaleInput& in);

}  // namespace tide
