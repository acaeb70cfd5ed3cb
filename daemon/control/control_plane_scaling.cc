// ControlPlane: the autoscale loop, the gateway's load callback and schedule triggers. The
// decisions are daemon/control/scale_policy.h, daemon/control/keepalive_policy.h (Functions with
// idleTimeoutSeconds: auto) and daemon/control/triggers.h; this file samples, locks, records and
// fires.
#include <spdlog/spdlog.h>

#include "daemon/control/control_plane.h"
#include "daemon/control/keepalive_policy.h"
#include "daemon/control/loop_wake.h"
#include "daemon/control/scale_policy.h"
#include "daemon/gateway/invoker.h"

namespace tide {

void ControlPlane::AutoscaleLoop() {
  const LoopTiming timing{opts_.autoscale_period_ms, opts_.resync_period_ms};
  int64_t sleep_ms = opts_.autoscale_period_ms;
  while (true) {
    std::vector<std::string> names;
    {
      std::unique_lock<std::mutex> lk(mu_);
      autoscale_cv_.wait_for(lk, std::chrono::milliseconds(sleep_ms),
                             [this] { return stopping_ || autoscale_wake_; });
      if (stopping_) return;
      autoscale_wake_ = false;
    }
    ShareLoad();
    int64_t next_prewarm_ms = 0;  // steady ms of the nearest adaptive keep-alive pre-warm
    {
      std::lock_guard<std::mutex> lk(mu_);
      // A workload at zero with no instance left has nothing to sample or decide: the first
      // request activates it through the gateway's load callback (Activate). Only the active
      // ones are looked at (issue 13: nothing ticks per idle workload; loop_wake.h), and the
      // Functions whose adaptive keep-alive wants a pre-warm now.
      const int64_t now = clock_.NowMs();
      std::set<std::string> candidates = active_autoscaled_;
      for (const auto& [name, wr] : workloads_) {
        if (!wr.keepalive || !wr.keepalive->plan()) continue;
        const KeepAlivePlan& plan = *wr.keepalive->plan();
        if (PrewarmDue(plan, now)) {
          candidates.insert(name);
        } else if (plan.prewarm_at_ms && *plan.prewarm_at_ms > now &&
                   (next_prewarm_ms <= 0 || *plan.prewarm_at_ms < next_prewarm_ms)) {
          next_prewarm_ms = *plan.prewarm_at_ms;
        }
      }
      for (const auto& name : candidates) {
        auto it = workloads_.find(name);
        if (it == workloads_.end()) continue;
        const WorkloadRuntime& wr = it->second;
        const bool prewarm =
            wr.keepalive && wr.keepalive->plan() && PrewarmDue(*wr.keepalive->plan(), now);
        if (wr.autoscaled && acting_ &&
            (wr.desired > 0 || prewarm || !state_.InstancesOf(name).empty())) {
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
        auto apply = [&](const ScaleChange& change) {
          metrics_.autoscaler_scale_events_total
              .Add({{"workload", n}, {"direction", change.up ? "up" : "down"}})
              .Increment();
          EmitLocked("Normal", change.up ? "ScaledUp" : "ScaledDown", "workload/" + n, n,
                     change.reason);
          wr.desired = change.desired;
          changed = true;
        };
        // This gateway's load plus what the other members' gateways see (member_load.h).
        Gateway::WorkloadLoad load = loads[n];
        const MergedLoad remote = remote_load_.Of(n);
        load.inflight += remote.inflight;
        load.queued += remote.queued;
        load.requests_total += remote.requests_total;
        // The load sample, in the units of the metric (daemon/control/autoscaler.h).
        double value = 0;
        if (in.autoscale.metric == "rps") {
          if (wr.rps_last_ms > 0 && now > wr.rps_last_ms &&
              load.requests_total >= wr.rps_last_total) {
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
        if (o.kind == Kind::kFunction && o.spec.idle_timeout_auto) {
          const KeepAlivePlan* plan =
              wr.keepalive && wr.keepalive->plan() ? &*wr.keepalive->plan() : nullptr;
          if (auto pre =
                  plan ? PrewarmChange(*plan, in.autoscale, wr.desired, now) : std::nullopt) {
            apply(*pre);
            continue;
          }
          KeepAliveInput(wr.keepalive.get(), opts_.keepalive, &in);
        }
        if (auto change = DecideScale(in, *decision)) apply(*change);
      }
      if (changed) kicked_ = true;
      events.swap(pending_events_);
    }
    if (changed) kick_cv_.notify_all();
    store_.AppendEvents(std::move(events));
    int64_t next_wake = FireDueTriggers();  // wall ms
    if (next_prewarm_ms > 0) {  // a pre-warm is due then: wake for it like for a trigger
      const int64_t at = clock_.WallMs() + (next_prewarm_ms - clock_.NowMs());
      if (next_wake <= 0 || at < next_wake) next_wake = at;
    }
    // Several members (etcd): a follower's gateway load must keep reaching the leader
    // (ShareLoad), so the loop keeps its period there.
    bool any_active = !names.empty() || static_cast<bool>(opts_.may_act);
    {
      std::lock_guard<std::mutex> lk(mu_);
      any_active = any_active || (acting_ && !active_autoscaled_.empty());
    }
    sleep_ms = AutoscaleSleepMs(any_active, next_wake, clock_.WallMs(), timing);
  }
}

int64_t ControlPlane::FireDueTriggers() {
  std::vector<TriggerRef> due;
  std::vector<Event> events;
  int64_t next = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!acting_) return 0;  // the leader fires them
    if (trigger_refs_.empty()) return 0;
    due = triggers_.Due(trigger_refs_, clock_.WallMs());
    for (const auto& t : trigger_refs_) {
      const int64_t at = triggers_.NextFire(t);
      if (at > 0 && (next <= 0 || at < next)) next = at;
    }
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
  return next;
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

void ControlPlane::ShareLoad() {
  if (!opts_.may_act || gateway_ == nullptr) return;
  const int64_t now = clock_.NowMs();
  if (now < next_share_ms_) return;
  next_share_ms_ = now + opts_.load_share_ms;
  bool acting = false;
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lk(mu_);
    acting = acting_;
    if (!acting) {
      for (const auto& [name, wr] : workloads_) names.push_back(name);
    }
  }
  if (!acting) {  // a follower: publish what its gateway sees
    PublishedLoad mine;
    mine.member = opts_.member_name;
    mine.at_ms = clock_.WallMs();
    bool busy = false;
    for (const auto& n : names) {
      const Gateway::WorkloadLoad l = gateway_->Load(n);
      if (l.requests_total == 0 && l.inflight == 0 && l.queued == 0) continue;
      mine.workloads[n] = MemberLoad{l.inflight, l.queued, l.requests_total};
      busy = busy || l.inflight + l.queued > 0;
    }
    bool changed = mine.workloads.size() != published_.size();
    for (auto a = mine.workloads.begin(), b = published_.begin();
         !changed && a != mine.workloads.end(); ++a, ++b) {
      changed = a->first != b->first || a->second.inflight != b->second.inflight ||
                a->second.queued != b->second.queued ||
                a->second.requests_total != b->second.requests_total;
    }
    if (changed || (busy && now - published_at_ms_ >= opts_.load_fresh_ms / 2)) {
      if (store_.PublishLoad(mine).ok()) {
        published_ = std::move(mine.workloads);
        published_at_ms_ = now;
      }
    }
    return;
  }
  // The leader: its own record goes, the others' count as requests here.
  if (!published_.empty() && store_.PublishLoad({opts_.member_name, 0, {}}).ok()) {
    published_.clear();
  }
  std::vector<PublishedLoad> records;
  if (!store_.ListLoads(&records).ok()) return;
  std::vector<std::pair<std::string, MergedLoad>> busy;
  {
    std::lock_guard<std::mutex> lk(mu_);
    remote_load_.Update(opts_.member_name, records, clock_.WallMs());
    for (const auto& n : remote_load_.Busy()) busy.emplace_back(n, remote_load_.Of(n));
  }
  // As if this gateway had seen them: the idle hold restarts, a workload at zero activates.
  for (const auto& [n, m] : busy) {
    const Gateway::WorkloadLoad local = gateway_->Load(n);
    OnLoad(n, local.inflight + m.inflight, local.queued + m.queued);
  }
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
    int64_t now = clock_.NowMs();
    // Adaptive keep-alive learns from the Function's busy/idle edges (an idle gap runs from the
    // end of the last running invocation to the start of the next).
    const bool was_busy = wr.inflight + wr.queued > 0, busy = inflight + queued > 0;
    if (wr.obj.object.spec.idle_timeout_auto && busy != was_busy) {
      if (!wr.keepalive) wr.keepalive = std::make_unique<KeepAliveTracker>();
      if (busy) {
        wr.keepalive->Busy(now, opts_.keepalive);
      } else {
        wr.keepalive->Idle(now, opts_.keepalive);
      }
    }
    wr.inflight = inflight;
    wr.queued = queued;
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
      active_autoscaled_.insert(workload);  // sampled from now on (loop_wake.h)
      autoscale_wake_ = true;
    }
  }
  if (activate) {
    kick_cv_.notify_all();
    autoscale_cv_.notify_all();
  }
}

}  // namespace tide
