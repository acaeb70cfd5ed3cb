// ControlPlane: the autoscale loop, the gateway's load callback and schedule triggers. The
// decisions are daemon/control/scale_policy.h and daemon/control/triggers.h; this file samples,
// locks, records and fires.
#include <spdlog/spdlog.h>

#include "daemon/control/control_plane.h"
#include "daemon/control/scale_policy.h"
#include "daemon/gateway/invoker.h"

namespace tide {

void ControlPlane::AutoscaleLoop() {
  while (true) {
    std::vector<std::string> names;
    {
      std::unique_lock<std::mutex> lk(mu_);
      autoscale_cv_.wait_for(lk, std::chrono::milliseconds(opts_.autoscale_period_ms),
                             [this] { return stopping_; });
      if (stopping_) return;
      // A workload at zero with no instance left has nothing to sample or decide: the first
      // request activates it through the gateway's load callback (Activate). Skipping it keeps
      // idle workloads free (issue 13: nothing ticks per idle workload).
      for (const auto& [name, wr] : workloads_) {
        if (wr.autoscaled && acting_ && (wr.desired > 0 || !state_.InstancesOf(name).empty())) {
          names.push_back(name);
        }
      }
    }
    std::map<std::string, Gateway::WorkloadLoad> loads;
    if (gateway_) {
      for (const auto& n : names) loads[n] = gateway_->Load(n);
    }
    bool changed = false;
    std::vector<Event> events;
    {
      std::lock_guard<std::mutex> lk(mu_);
      int64_t now = clock_.NowMs();
      for (const auto& n : names) {
        auto it = workloads_.find(n);
        if (it == workloads_.end()) continue;
        WorkloadRuntime& wr = it->second;
        const Object& o = wr.obj.object;
        ScaleInput in = ScaleInput::For(o);
        const auto& load = loads[n];
        // The load sample, in the units of the metric (daemon/control/autoscaler.h).
        double value = 0;
        if (in.autoscale.metric == "rps") {
          if (wr.rps_last_ms > 0 && now > wr.rps_last_ms) {
            value = static_cast<double>(load.requests_total - wr.rps_last_total) * 1000.0 /
                    static_cast<double>(now - wr.rps_last_ms);
          }
          wr.rps_last_total = load.requests_total;
          wr.rps_last_ms = now;
        } else if (in.autoscale.metric == "cpu") {
          double req = o.spec.resources.cpu > 0 ? o.spec.resources.cpu : 1.0;
          bool any = false;
          for (auto* r : state_.InstancesOf(n)) {
            if (r->Live() && r->observed_seen && r->observed.pid > 0) {
              value += r->observed.cpu / req * 100.0;
              any = true;
            }
          }
          if (!any) value = -1;  // no samples: the autoscaler keeps the current count
        } else {
          value = load.inflight + load.queued;
        }
        if (load.inflight + load.queued > 0) wr.last_request_ms = now;
        if (value >= 0) autoscaler_.Record(n, value);
        int current = 0;  // what can serve: a failed rollout's or frozen instances do not
        for (auto* r : state_.InstancesOf(n))
          current += r->Live() && !HiddenLocked(wr, *r) && !r->observed.frozen ? 1 : 0;
        auto decision = autoscaler_.Decide(n, current);
        if (!decision) continue;
        in.desired = wr.desired;
        in.inflight = load.inflight;
        in.queued = load.queued;
        in.last_request_ms = wr.last_request_ms;
        in.now_ms = now;
        auto change = DecideScale(in, *decision);
        if (!change) continue;
        metrics_.autoscaler_scale_events_total
            .Add({{"workload", n}, {"direction", change->up ? "up" : "down"}})
            .Increment();
        EmitLocked("Normal", change->up ? "ScaledUp" : "ScaledDown", "workload/" + n, n,
                   change->reason);
        wr.desired = change->desired;
        changed = true;
      }
      if (changed) kicked_ = true;
      events.swap(pending_events_);
    }
    if (changed) kick_cv_.notify_all();
    store_.AppendEvents(std::move(events));
    FireDueTriggers();
  }
}

void ControlPlane::FireDueTriggers() {
  std::vector<TriggerRef> due;
  std::vector<Event> events;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!acting_) return;  // the leader fires them
    std::vector<TriggerRef> all;
    for (const auto& [name, wr] : workloads_) {
      const auto& triggers = wr.obj.object.spec.triggers;
      for (size_t i = 0; i < triggers.size(); ++i) all.push_back({name, i, triggers[i].schedule});
    }
    due = triggers_.Due(all, clock_.WallMs());
    for (const auto& t : due) {
      EmitLocked("Normal", "Triggered", "workload/" + t.workload, t.workload,
                 "schedule \"" + t.schedule + "\" fired");
    }
    events.swap(pending_events_);
  }
  store_.AppendEvents(std::move(events));
  // Stored before it is sent, retried on failure: like any async invocation.
  for (const auto& t : due) {
    if (!opts_.invoker) continue;
    std::string id;
    Status st = opts_.invoker->Enqueue(t.workload, TriggerInvocation(), &id);
    if (!st.ok()) spdlog::warn("trigger of {}: cannot enqueue: {}", t.workload, st.message());
  }
}

std::optional<RouteInfo> ControlPlane::Route(const std::string& workload) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = workloads_.find(workload);
  if (it == workloads_.end()) {
    // An apply answered 2xx is routable at once, not after the next reconcile pass: catch up
    // with the store (a no-op, one in-memory revision read, when nothing changed).
    RefreshWorkloadsLocked();
    it = workloads_.find(workload);
    if (it == workloads_.end()) return std::nullopt;
  }
  RouteInfo r;
  r.kind = it->second.obj.object.kind;
  r.concurrency = it->second.obj.object.spec.concurrency;
  r.timeout_seconds = it->second.obj.object.spec.timeout_seconds;
  if (const auto& ka = it->second.obj.object.spec.keep_alive; ka && r.kind == Kind::kFunction)
    r.freeze_after_seconds = ka->freeze_after_seconds;
  return r;
}

// Scale from zero at once, as many as the waiting requests need (event-driven: the autoscale
// loop's period is not on this path).
void ControlPlane::OnLoad(const std::string& workload, int inflight, int queued) {
  bool activate = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = workloads_.find(workload);
    if (it == workloads_.end()) return;
    WorkloadRuntime& wr = it->second;
    wr.inflight = inflight;
    wr.queued = queued;
    int64_t now = clock_.NowMs();
    wr.last_request_ms = now;  // also when a request ends: the idle hold counts from then
    if (!wr.autoscaled) return;
    ScaleInput in = ScaleInput::For(wr.obj.object);
    in.desired = wr.desired;
    in.inflight = inflight;
    in.queued = queued;
    in.last_request_ms = wr.last_request_ms;
    in.now_ms = now;
    if (auto change = Activate(in)) {
      metrics_.autoscaler_scale_events_total.Add({{"workload", workload}, {"direction", "up"}})
          .Increment();
      EmitLocked("Normal", "ScaledUp", "workload/" + workload, workload, change->reason);
      wr.desired = change->desired;
      kicked_ = true;
      activate = true;
    }
  }
  if (activate) kick_cv_.notify_all();
}

}  // namespace tide
