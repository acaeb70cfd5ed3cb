#include "daemon/control/scale_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tide {

bool IsAutoscaled(const Object& o) { return o.kind == Kind::kFunction || o.spec.autoscale; }

Autoscale AutoscaleOf(const Object& o) {
  if (o.spec.autoscale) return *o.spec.autoscale;
  Autoscale a;
  a.min_replicas = 0;
  return a;
}

ScaleInput ScaleInput::For(const Object& o) {
  ScaleInput in;
  in.kind = o.kind;
  in.autoscale = AutoscaleOf(o);
  in.concurrency = o.spec.concurrency;
  in.idle_timeout_seconds = o.spec.idle_timeout_seconds;
  return in;
}

namespace {

// 2 -> "2s", 0.5 -> "0.5s"
std::string SecondsText(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gs", s);
  return buf;
}

}  // namespace

int64_t IdleTimeoutMs(double seconds) {
  return static_cast<int64_t>(std::llround(std::max(0.0, seconds) * 1000));
}

int ActivationReplicas(int inflight, int queued, int concurrency, int max_replicas) {
  int need = concurrency > 0 ? (inflight + queued + concurrency - 1) / concurrency : 1;
  return std::min(need, std::max(1, max_replicas));
}

std::optional<ScaleChange> DecideScale(const ScaleInput& in, const ScaleDecision& d) {
  const Autoscale& a = in.autoscale;
  int want = d.desired;
  // Rule 2: the idle timeout of a Function, both ways: it holds the last instance until
  // idleTimeoutSeconds after the last request, and stops it then, whatever the stable window.
  // Once idle it stays at zero, although the autoscaler's window may still remember load, until
  // a request comes (rule 3).
  if (in.kind == Kind::kFunction) {
    const int64_t deadline = in.idle_deadline_ms
                                 ? *in.idle_deadline_ms
                                 : in.last_request_ms + IdleTimeoutMs(in.idle_timeout_seconds);
    const bool idle = in.inflight == 0 && in.queued == 0 && in.now_ms >= deadline;
    if (idle) {
      want = 0;
    } else if (want == 0 && in.desired > 0) {
      want = std::max(1, a.min_replicas);
    }
  }
  // Rule 3: activation.
  if (in.queued > 0) {
    want =
        std::max(want, ActivationReplicas(in.inflight, in.queued, in.concurrency, a.max_replicas));
  }
  want = std::clamp(want, a.min_replicas, std::max(a.min_replicas, a.max_replicas));
  if (want == in.desired) return std::nullopt;
  ScaleChange c;
  c.desired = want;
  c.up = want > in.desired;
  const std::string change =
      "desired " + std::to_string(in.desired) + " -> " + std::to_string(want);
  if (want == d.desired && !d.reason.empty()) {
    c.reason = d.reason;
  } else if (want == 0 && in.idle_deadline_ms) {
    c.reason = change + ": " + in.idle_why + " (idleTimeoutSeconds: auto)";
  } else if (want == 0) {
    c.reason = change + ": no request for " + SecondsText(in.idle_timeout_seconds) +
               " (idleTimeoutSeconds)";
  } else {
    c.reason = change + " (idle timeout or waiting requests)";
  }
  return c;
}

std::optional<ScaleChange> Activate(const ScaleInput& in) {
  if (in.queued <= 0) return std::nullopt;
  int need = ActivationReplicas(in.inflight, in.queued, in.concurrency, in.autoscale.max_replicas);
  if (need <= in.desired) return std::nullopt;
  ScaleChange c;
  c.desired = need;
  c.up = true;
  c.reason = "desired " + std::to_string(in.desired) + " -> " + std::to_string(need) + ": " +
             std::to_string(in.queued) + " requests waiting";
  return c;
}

}  // namespace tide
