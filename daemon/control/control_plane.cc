#include "daemon/control/control_plane.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/control/loop_wake.h"
#include "daemon/control/node_liveness.h"
#include "daemon/control/scale_policy.h"

namespace tide {

ControlPlane::ControlPlane(ControlPlaneOptions opts, ObjectStore& store, Clock& clock,
                           Metrics& metrics, Gateway* gateway)
    : opts_(opts),
      store_(store),
      clock_(clock),
      metrics_(metrics),
      gateway_(gateway),
      pass_duration_(&metrics.reconcile_duration_seconds.Add({}, Metrics::LatencyBuckets())),
      autoscaler_(clock),
      remote_load_(opts_.load_fresh_ms) {}

ControlPlane::~ControlPlane() { Stop(); }

void ControlPlane::Start() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    RefreshWorkloadsLocked();
    // Only a restart (workloads already stored) has agents coming back to re-register.
    started_ms_ = clock_.NowMs() - (workloads_.empty() ? opts_.startup_settle_ms : 0);
    hearing_ =
        HearingWindow(clock_.NowMs(), StallBoundMs(opts_.node_grace_ms, opts_.reconcile_period_ms),
                      2 * opts_.node_grace_ms);
  }
  reconcile_thread_ = std::thread([this] { ReconcileLoop(); });
  autoscale_thread_ = std::thread([this] { AutoscaleLoop(); });
}

void ControlPlane::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_ && !reconcile_thread_.joinable()) return;
    stopping_ = true;
  }
  kick_cv_.notify_all();
  autoscale_cv_.notify_all();
  assignments_cv_.notify_all();
  status_cv_.notify_all();
  NotifyListener();
  if (reconcile_thread_.joinable()) reconcile_thread_.join();
  if (autoscale_thread_.joinable()) autoscale_thread_.join();
}

void ControlPlane::Kick() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    kicked_ = true;
  }
  kick_cv_.notify_one();
}

// ---- events --------------------------------------------------------------------------------

void ControlPlane::EmitLocked(const std::string& type, const std::string& reason,
                              const std::string& object, const std::string& workload,
                              const std::string& message) {
  Event e;
  e.time_ms = clock_.WallMs();
  e.type = type;
  e.reason = reason;
  e.object = object;
  e.workload = workload;
  e.message = message;
  if (type == "Warning") {
    spdlog::warn("{} {}: {}", reason, object, message);
  } else {
    spdlog::info("{} {}: {}", reason, object, message);
  }
  // Several members: what agents report reaches every member, so only the leader stores the
  // events it leads to; a follower's are in its log only (no event three times).
  if (opts_.may_act && !acting_) return;
  pending_events_.push_back(std::move(e));
}

void ControlPlane::Emit(const std::string& type, const std::string& reason,
                        const std::string& object, const std::string& workload,
                        const std::string& message) {
  std::vector<Event> events;
  {
    std::lock_guard<std::mutex> lk(mu_);
    EmitLocked(type, reason, object, workload, message);
    events.swap(pending_events_);
  }
  store_.AppendEvents(std::move(events));
}

// ---- agent protocol ------------------------------------------------------------------------

int64_t ControlPlane::StatusRevision() {
  std::lock_guard<std::mutex> lk(mu_);
  return status_revision_;
}

int64_t ControlPlane::WaitStatusChange(int64_t seen,
                                       std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lk(mu_);
  status_cv_.wait_until(lk, deadline, [&] { return status_revision_ > seen || stopping_; });
  return status_revision_;
}

// ---- reconcile -----------------------------------------------------------------------------

// Sleeps until loop_wake.h's ReconcileSleepMs (the period while work is in progress, else the
// nearest deadline) or a kick; a full pass only when FullPassDue says so, else a light pass that
// costs what the nodes and running instances cost, nothing per idle workload.
void ControlPlane::ReconcileLoop() {
  const LoopTiming timing{opts_.reconcile_period_ms, opts_.resync_period_ms};
  int64_t sleep_ms = opts_.reconcile_period_ms;
  while (true) {
    bool full = false;
    {
      std::unique_lock<std::mutex> lk(mu_);
      kick_cv_.wait_for(lk, std::chrono::milliseconds(sleep_ms),
                        [this] { return kicked_ || stopping_; });
      if (stopping_) return;
      FullPassInput in;
      in.kicked = kicked_;
      in.busy = busy_;
      in.now_ms = clock_.NowMs();
      in.last_full_ms = last_full_ms_;
      kicked_ = false;
      if (!FullPassDue(in, timing)) in.node_state_changed = LightPassLocked(in.now_ms);
      full = FullPassDue(in, timing);
      if (!full) sleep_ms = SleepMsLocked(in.now_ms, timing);
    }
    if (full) ReconcileOnce();
    // Outside mu_: a trim walks the free lists of every arena (about a millisecond after a
    // burst), and no API call should wait for it. last_full_ms_ is written by this thread only.
    const int64_t now = clock_.NowMs();
    const int64_t trim_at = TrimDueMs(last_full_ms_, last_trim_ms_);
    const bool trim = trim_at >= 0 && now >= trim_at;
    if (trim) {
      ::malloc_trim(0);
      last_trim_ms_ = now;
    }
    if (!full && !trim) continue;
    std::lock_guard<std::mutex> lk(mu_);
    sleep_ms = SleepMsLocked(now, timing);
  }
}

int64_t ControlPlane::SleepMsLocked(int64_t now, const LoopTiming& timing) const {
  ReconcileSleepInput in;
  in.busy = busy_;
  in.now_ms = now;
  in.last_full_ms = last_full_ms_;
  in.stall_ms = StallBoundMs(opts_.node_grace_ms, opts_.reconcile_period_ms);
  in.trim_due_ms = TrimDueMs(last_full_ms_, last_trim_ms_);
  for (const auto& [name, n] : state_.nodes) {
    // Heartbeats QuickReport took since the last pass are not in last_heartbeat_ms yet: this
    // deadline may come early, never late (the pass collects them and sleeps again).
    const int64_t heard = std::max(n.last_heartbeat_ms, hearing_.heard_since());
    const int64_t d = NodeDeadlineMs(n.state, heard, opts_.node_grace_ms);
    if (d >= 0 && (in.node_deadline_ms < 0 || d < in.node_deadline_ms)) in.node_deadline_ms = d;
  }
  return ReconcileSleepMs(in, timing);
}

bool ControlPlane::LightPassLocked(int64_t now) {
  std::vector<NodeState> before;
  before.reserve(state_.nodes.size());
  for (const auto& [name, n] : state_.nodes) before.push_back(n.state);
  const size_t node_count = state_.nodes.size();
  UpdateNodeStatesLocked(now);
  AccrueLocked(now);
  if (state_.nodes.size() != node_count || !pending_events_.empty()) return true;
  size_t i = 0;
  for (const auto& [name, n] : state_.nodes) {
    if (n.state != before[i++]) return true;
  }
  return false;
}

void ControlPlane::ReconcileOnce() {
  std::vector<GatewayUpdate> updates;
  std::vector<std::string> draining;
  // In-flight counts of ready instances, read outside the lock, so scale-down picks idle ones.
  std::map<std::string, int> inflight;
  if (gateway_) {
    std::vector<std::string> ready;
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (const auto& [id, rec] : state_.instances)
        if (rec.Ready() && rec.Live()) ready.push_back(id);
    }
    for (const auto& id : ready) inflight[id] = gateway_->InFlight(id);
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    const auto pass_start = std::chrono::steady_clock::now();
    inflight_snapshot_ = std::move(inflight);
    int64_t now = clock_.NowMs();
    last_full_ms_ = now;
    const bool act = !opts_.may_act || opts_.may_act();
    if (act && !acting_) started_ms_ = now;  // new leader: settle first, as after a start
    acting_ = act;
    RefreshWorkloadsLocked();
    UpdateNodeStatesLocked(now);
    in_pass_ = true;
    for (auto& [name, wr] : workloads_) ReconcileWorkloadLocked(wr, now);
    in_pass_ = false;
    placement_cache_.reset();
    ReapDeletedLocked(now);
    RoutesLocked(&updates);
    for (const auto& [id, rec] : state_.instances) {
      if (rec.draining && !rec.removed) draining.push_back(id);
    }
    pass_duration_->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - pass_start).count());
  }
  // New placements wake the agents' long-polls now (a version that did not change wakes
  // nobody for long: each waiter re-checks its own node's version).
  assignments_cv_.notify_all();
  NotifyListener();
  // Routing changes reach the gateway before in-flight counts are read, so a drained instance
  // gets no new request after it is seen idle.
  FlushGateway(std::move(updates));
  std::set<std::string> idle;
  for (const auto& id : draining) {
    if (!gateway_ || gateway_->InFlight(id) == 0) idle.insert(id);
  }
  std::vector<Event> events;
  bool bumped = false, wake_autoscaler = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    int64_t now = clock_.NowMs();
    for (auto& [id, rec] : state_.instances) {
      if (!rec.draining || rec.removed) continue;
      if (idle.count(id) || now >= rec.drain_deadline_ms) {
        rec.removed = true;
        rec.draining = false;
        beats_.Forbid(rec.node);  // its next report sweeps the instance (Report)
        if (rec.assigned) {
          rec.assigned = false;
          state_.Bump(rec.node);
          bumped = true;
        }
      }
    }
    // Never-placed instances on their way out need no agent.
    for (auto it = state_.instances.begin(); it != state_.instances.end();) {
      if (it->second.removed && it->second.node.empty()) {
        it = state_.Erase(it);
      } else {
        ++it;
      }
    }
    MetricsLocked();
    // What the next wake-ups must follow (daemon/control/loop_wake.h). A follower keeps its
    // pace: it must notice at once when it may act.
    busy_ = bumped || !draining.empty() || !acting_ || static_cast<bool>(opts_.may_act);
    active_autoscaled_.clear();
    std::set<std::string> with_instances;
    for (const auto& [id, rec] : state_.instances) with_instances.insert(rec.workload);
    for (const auto& [name, wr] : workloads_) {
      busy_ = busy_ || !wr.settled;
      if (wr.autoscaled && (wr.desired > 0 || with_instances.count(name))) {
        active_autoscaled_.insert(name);
      }
    }
    if (!active_autoscaled_.empty()) {
      autoscale_wake_ = true;
      wake_autoscaler = true;
    }
    ++status_revision_;
    events.swap(pending_events_);
  }
  if (wake_autoscaler) autoscale_cv_.notify_all();
  status_cv_.notify_all();
  NotifyListener();
  if (bumped) assignments_cv_.notify_all();
  store_.AppendEvents(std::move(events));
}

void ControlPlane::RefreshWorkloadsLocked() {
  int64_t rev = store_.Revision();
  if (rev == store_revision_seen_) return;
  // A read that fails (etcd unreachable) keeps what was known and is retried at the next pass:
  // the revision counts as seen only once both reads succeeded.
  std::vector<StoredObject> objs;
  if (!store_.List(std::nullopt, &objs).ok()) return;
  std::vector<StoredObject> layers;
  if (!store_.ListLayers(&layers).ok()) return;
  store_revision_seen_ = rev;
  layer_paths_.clear();
  for (const auto& l : layers) layer_paths_[l.object.metadata.name] = l.object.layer.path;
  store_.SecretValues(&secret_values_);
  std::set<std::string> names;
  for (auto& o : objs) {
    const std::string name = o.object.metadata.name;
    names.insert(name);
    auto [it, inserted] = workloads_.try_emplace(name);
    WorkloadRuntime& wr = it->second;
    bool spec_changed = inserted || wr.obj.generation != o.generation;
    bool scale_changed = inserted || wr.obj.scale_replicas != o.scale_replicas;
    wr.obj = std::move(o);
    wr.autoscaled = IsAutoscaled(wr.obj.object);
    if (wr.autoscaled) {
      Autoscale a = AutoscaleOf(wr.obj.object);
      autoscaler_.Upsert(name, a);
      if (inserted) wr.desired = a.min_replicas;
      if (wr.obj.scale_replicas && scale_changed) wr.desired = *wr.obj.scale_replicas;
      wr.desired = std::clamp(wr.desired, a.min_replicas, std::max(a.min_replicas, a.max_replicas));
    } else {
      wr.desired = wr.obj.scale_replicas.value_or(wr.obj.object.spec.replicas);
    }
    if (spec_changed) wr.rollout = RolloutState::StartedAt(clock_.NowMs());
  }
  for (auto it = workloads_.begin(); it != workloads_.end();) {
    if (!names.count(it->first)) {
      autoscaler_.Remove(it->first);
      it = workloads_.erase(it);
    } else {
      ++it;
    }
  }
  trigger_refs_.clear();
  for (const auto& [name, wr] : workloads_) {
    const auto& triggers = wr.obj.object.spec.triggers;
    for (size_t i = 0; i < triggers.size(); ++i)
      trigger_refs_.push_back({name, i, triggers[i].schedule});
  }
  if (!trigger_refs_.empty()) {
    // A new trigger is armed from when it is seen: the autoscale loop looks at once.
    autoscale_wake_ = true;
    autoscale_cv_.notify_all();
  }
}

void ControlPlane::UpdateNodeStatesLocked(int64_t now) {
  // Silence tided could not hear (it was paused or starved) is not held against the nodes.
  if (hearing_.Observe(now)) {
    EmitLocked("Warning", "ControlPlaneStalled", "tided", "",
               "the control loop did not run for " + std::to_string(hearing_.last_stall_ms()) +
                   " ms; node silence counts from now");
  }
  for (auto& [name, n] : state_.nodes) {
    CollectBeatLocked(name, n);
    const int64_t heard = std::max(n.last_heartbeat_ms, hearing_.heard_since());
    const NodeLiveness l = NextNodeState(n.state, heard, now, opts_.node_grace_ms);
    n.state = l.state;
    if (l.state != NodeState::kReady) beats_.Forbid(name);  // its return is news: full path
    const std::string silent = std::to_string(now - heard) + " ms";
    if (l.became_not_ready) {
      EmitLocked("Warning", "NodeNotReady", "node/" + name, "", "no heartbeat for " + silent);
    }
    if (!l.became_lost) continue;
    // Its instances are placed elsewhere; if the node returns, the agent stops these because
    // they are no longer in its assignment set.
    int moved = 0;
    for (auto it = state_.instances.begin(); it != state_.instances.end();) {
      if (it->second.node != name) {
        ++it;
        continue;
      }
      moved += it->second.removed ? 0 : 1;
      it = state_.Erase(it);
    }
    ++n.version;
    EmitLocked(
        "Warning", "NodeLost", "node/" + name, "",
        "no heartbeat for " + silent + "; rescheduling " + std::to_string(moved) + " instances");
  }
}

// Builds the rollout planner's input (daemon/control/rollout.h) and applies its plan.
void ControlPlane::ReconcileWorkloadLocked(WorkloadRuntime& wr, int64_t now) {
  wr.settled = false;
  if (!acting_) return;  // a follower changes nothing (docs/ha.md)
  const std::string& name = wr.obj.object.metadata.name;
  auto recs = state_.InstancesOf(name);
  PlacePendingLocked(wr, recs);
  if (now - started_ms_ < opts_.startup_settle_ms) return;  // agents are re-registering

  RolloutInput in;
  in.workload = name;
  in.generation = wr.obj.generation;
  in.desired = wr.desired;
  in.settings = wr.obj.object.spec.rollout;
  if (wr.serving) in.serving_generation = wr.serving->generation;
  in.now_ms = now;
  for (const auto* r : recs) {
    if (!r->Live()) continue;
    RolloutInstance ri;
    ri.id = r->id;
    ri.generation = r->generation;
    ri.placed = !r->node.empty();
    if (r->observed_seen) {
      ri.state = r->observed.state;
      ri.last_exit_code = r->observed.last_exit_code;
      ri.last_signal = r->observed.last_signal;
      ri.reason = r->observed.reason;
    }
    ri.ready_since_ms = r->ready_since_ms;
    ri.created_ms = r->created_ms;
    auto busy = inflight_snapshot_.find(r->id);
    ri.inflight = busy == inflight_snapshot_.end() ? 0 : busy->second;
    in.instances.push_back(std::move(ri));
  }
  RolloutPlan plan = PlanRollout(in, wr.rollout);
  wr.settled = WorkloadSettled(in, plan);
  wr.rollout = plan.state;
  if (plan.mark_serving) wr.serving = wr.obj;
  for (const auto& e : plan.events)
    EmitLocked(e.type, e.reason, "workload/" + name, name, e.message);
  for (const auto& d : plan.drain) DrainLocked(state_.instances.at(d.id), now, d.reason);
  for (const auto& c : plan.create) {
    const StoredObject& obj = c.generation == wr.obj.generation ? wr.obj : *wr.serving;
    for (int i = 0; i < c.count; ++i) CreateLocked(wr, obj);
  }
}

void ControlPlane::ReapDeletedLocked(int64_t now) {
  for (auto& [id, rec] : state_.instances) {
    if (!workloads_.count(rec.workload)) DrainLocked(rec, now, "workload deleted");
  }
}

}  // namespace tide
