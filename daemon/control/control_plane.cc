#include "daemon/control/control_plane.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/control/node_liveness.h"
#include "daemon/control/scale_policy.h"

namespace tide {

ControlPlane::ControlPlane(ControlPlaneOptions opts, Store& store, Clock& clock, Metrics& metrics,
                           Gateway* gateway)
    : opts_(opts),
      store_(store),
      clock_(clock),
      metrics_(metrics),
      gateway_(gateway),
      autoscaler_(clock) {}

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

Status ControlPlane::RegisterNode(const NodeInfo& info, const std::vector<InstanceStatus>& running,
                                  bool may_adopt) {
  if (info.name.empty()) return Status::Invalid("node name is empty");
  std::vector<GatewayUpdate> updates;
  std::vector<Event> events;
  {
    std::lock_guard<std::mutex> lk(mu_);
    RefreshWorkloadsLocked();
    int64_t now = clock_.NowMs();
    auto [it, inserted] = state_.nodes.try_emplace(info.name);
    NodeEntry& n = it->second;
    NodeState before = n.state;
    n.info = info;
    n.last_heartbeat_ms = now;
    n.last_heartbeat_wall = clock_.WallMs();
    n.state = NodeState::kReady;
    ++n.version;
    if (inserted) {
      EmitLocked("Normal", "NodeRegistered", "node/" + info.name, "",
                 "node " + info.name + " registered from " + info.address);
    } else if (before != NodeState::kReady) {
      EmitLocked("Normal", "NodeReady", "node/" + info.name, "", "node re-registered");
    }
    // Adopt what the agent runs and we do not know (tided restarted): the reconciler then
    // trims surplus and rolls outdated generations like any other instance. Only at the node's
    // first registration since tided started: once tided has heard a node, everything it runs
    // was assigned by this tided (a node that was Lost had its instances replaced elsewhere).
    // What is not adopted is not in the node's assignment set, so the agent stops it.
    const bool adopt = may_adopt && inserted;
    for (const auto& st : running) {
      if (state_.instances.count(st.id)) {
        ApplyObservedLocked(info.name, st, now);
        continue;
      }
      auto w = workloads_.find(st.workload);
      if (!adopt || w == workloads_.end()) {
        NoteUnassignedLocked(info.name, st.id,
                             adopt ? "its workload does not exist" : "tided did not assign it");
        continue;
      }
      InstanceRecord rec;
      rec.id = st.id;
      rec.workload = st.workload;
      rec.kind = w->second.obj.object.kind;
      rec.generation = st.generation;
      rec.node = info.name;
      rec.assignment = AssignmentLocked(w->second.obj.object, st.id, st.generation);
      rec.assigned = true;
      // Their age, not the adoption time: scale-down prefers the newest instances.
      rec.created_ms = st.started_at_ms > 0
                           ? now - std::max<int64_t>(0, clock_.WallMs() - st.started_at_ms)
                           : now;
      rec.observed_seen = true;
      rec.observed = st;
      if (st.state == InstanceState::kReady) {
        rec.ready_since_ms =
            st.ready_at_ms > 0 ? now - std::max<int64_t>(0, clock_.WallMs() - st.ready_at_ms) : now;
      }
      rec.cpu_seconds_reported = st.cpu_seconds_total;
      state_.instances[rec.id] = rec;
      EmitLocked("Normal", "Adopted", "instance/" + st.id, st.workload,
                 "re-adopted running instance pid " + std::to_string(st.pid) + " on " + info.name);
    }
    kicked_ = true;
    ++status_revision_;
    RoutesLocked(&updates);
    events.swap(pending_events_);
  }
  assignments_cv_.notify_all();
  status_cv_.notify_all();
  kick_cv_.notify_one();
  FlushGateway(std::move(updates));
  store_.AppendEvents(std::move(events));
  return Status::Ok();
}

void ControlPlane::ApplyObservedLocked(const std::string& node, const InstanceStatus& st,
                                       int64_t now) {
  auto it = state_.instances.find(st.id);
  if (it == state_.instances.end()) return;
  InstanceRecord& rec = it->second;
  if (rec.node != node) {  // another node's instance: never taken over
    NoteUnassignedLocked(node, st.id, "it is assigned to another node");
    return;
  }
  InstanceStatus before = rec.observed;
  bool first = !rec.observed_seen;
  rec.observed_seen = true;
  rec.observed = st;
  if (st.state != InstanceState::kReady) {
    rec.ready_since_ms = 0;
  } else if (first || before.state != InstanceState::kReady || st.restarts > before.restarts) {
    rec.ready_since_ms = now;  // a restart in between reports also starts the count again
  }
  std::string obj = "instance/" + st.id;
  if (st.restarts > before.restarts && !first) {
    metrics_.instance_restarts_total.Add({{"workload", rec.workload}})
        .Increment(st.restarts - before.restarts);
    std::string how = st.last_signal ? "signal " + std::to_string(st.last_signal)
                                     : "exit code " + std::to_string(st.last_exit_code);
    EmitLocked("Warning", st.reason.empty() ? "Restarted" : st.reason, obj, rec.workload,
               "instance restarted (" + how + "), restarts=" + std::to_string(st.restarts));
  }
  // A new process, whatever state this report is the first to show it in (it may say Ready
  // already, or an earlier one Pending): stamped with when the agent started it.
  if (gateway_ && st.started_at_ms > 0 && st.started_at_ms != before.started_at_ms) {
    gateway_->NoteInstancePhase(rec.workload, "spawned",
                                now - std::max<int64_t>(0, clock_.WallMs() - st.started_at_ms));
  }
  if (st.state != before.state || first) {
    if (st.state == InstanceState::kReady) {
      EmitLocked("Normal", "Ready", obj, rec.workload,
                 "ready on " + node + " port " + std::to_string(st.port) + " pid " +
                     std::to_string(st.pid));
      if (gateway_) gateway_->NoteInstancePhase(rec.workload, "ready", now);
    } else if (st.state == InstanceState::kFailed || st.state == InstanceState::kCrashLoopBackOff) {
      EmitLocked("Warning", st.state == InstanceState::kFailed ? "Failed" : "CrashLoopBackOff", obj,
                 rec.workload,
                 (st.reason.empty() ? std::string("") : st.reason + ": ") + st.message);
    }
  }
  if (st.cpu_seconds_total > rec.cpu_seconds_reported) {
    metrics_.workload_cpu_seconds_total.Add({{"workload", rec.workload}})
        .Increment(st.cpu_seconds_total - rec.cpu_seconds_reported);
  }
  rec.cpu_seconds_reported = st.cpu_seconds_total;
}

void ControlPlane::NoteUnassignedLocked(const std::string& node, const std::string& id,
                                        const std::string& why) {
  constexpr size_t kMaxNoted = 4096;  // a flood of forged ids costs at most this much memory
  if (noted_unassigned_.size() >= kMaxNoted) return;
  if (!noted_unassigned_.insert(node + "/" + id).second) return;
  EmitLocked("Warning", "UnassignedInstance", "node/" + node, "",
             "node " + node + " reported instance " + id.substr(0, 80) + ", but " + why +
                 ": its status is ignored" +
                 (noted_unassigned_.size() == kMaxNoted ? " (further ones are not evented)" : ""));
}

Status ControlPlane::Report(const NodeReport& report) {
  std::vector<GatewayUpdate> updates;
  std::vector<Event> events;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto nit = state_.nodes.find(report.node);
    if (nit == state_.nodes.end())
      return Status::NotFound("node " + report.node + " is not registered");
    int64_t now = clock_.NowMs();
    NodeEntry& n = nit->second;
    n.last_heartbeat_ms = now;
    n.last_heartbeat_wall = clock_.WallMs();
    if (n.state != NodeState::kReady) {
      EmitLocked("Normal", "NodeReady", "node/" + report.node, "", "heartbeats resumed");
      n.state = NodeState::kReady;
      kicked_ = true;
    }
    std::set<std::string> seen;
    for (const auto& st : report.instances) {
      seen.insert(st.id);
      if (!state_.instances.count(st.id)) {
        NoteUnassignedLocked(report.node, st.id, "tided did not assign it");
        continue;
      }
      ApplyObservedLocked(report.node, st, now);
    }
    // Instances we asked the node to stop and it no longer runs are gone for good.
    for (auto it = state_.instances.begin(); it != state_.instances.end();) {
      const InstanceRecord& rec = it->second;
      if (rec.node == report.node && rec.removed && !seen.count(rec.id)) {
        it = state_.instances.erase(it);
        kicked_ = true;
      } else {
        ++it;
      }
    }
    ++status_revision_;
    RoutesLocked(&updates);
    events.swap(pending_events_);
  }
  status_cv_.notify_all();
  kick_cv_.notify_one();
  FlushGateway(std::move(updates));
  store_.AppendEvents(std::move(events));
  return Status::Ok();
}

Status ControlPlane::WaitAssignments(const std::string& node, int64_t after, int64_t wait_ms,
                                     AssignmentSet* out) {
  std::unique_lock<std::mutex> lk(mu_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (true) {
    auto it = state_.nodes.find(node);
    if (it == state_.nodes.end()) return Status::NotFound("node " + node + " is not registered");
    if (it->second.version > after || stopping_) break;
    if (assignments_cv_.wait_until(lk, deadline) == std::cv_status::timeout) break;
  }
  *out = state_.AssignmentsFor(node);
  return Status::Ok();
}

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

void ControlPlane::ReconcileLoop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      kick_cv_.wait_for(lk, std::chrono::milliseconds(opts_.reconcile_period_ms),
                        [this] { return kicked_ || stopping_; });
      if (stopping_) return;
      kicked_ = false;
    }
    ReconcileOnce();
  }
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
    inflight_snapshot_ = std::move(inflight);
    int64_t now = clock_.NowMs();
    RefreshWorkloadsLocked();
    UpdateNodeStatesLocked(now);
    for (auto& [name, wr] : workloads_) ReconcileWorkloadLocked(wr, now);
    ReapDeletedLocked(now);
    RoutesLocked(&updates);
    for (const auto& [id, rec] : state_.instances) {
      if (rec.draining && !rec.removed) draining.push_back(id);
    }
  }
  // New placements wake the agents' long-polls now (a version that did not change wakes
  // nobody for long: each waiter re-checks its own node's version).
  assignments_cv_.notify_all();
  // Routing changes reach the gateway before in-flight counts are read, so a drained instance
  // gets no new request after it is seen idle.
  FlushGateway(std::move(updates));
  std::set<std::string> idle;
  for (const auto& id : draining) {
    if (!gateway_ || gateway_->InFlight(id) == 0) idle.insert(id);
  }
  std::vector<Event> events;
  bool bumped = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    int64_t now = clock_.NowMs();
    for (auto& [id, rec] : state_.instances) {
      if (!rec.draining || rec.removed) continue;
      if (idle.count(id) || now >= rec.drain_deadline_ms) {
        rec.removed = true;
        rec.draining = false;
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
        it = state_.instances.erase(it);
      } else {
        ++it;
      }
    }
    MetricsLocked();
    ++status_revision_;
    events.swap(pending_events_);
  }
  status_cv_.notify_all();
  if (bumped) assignments_cv_.notify_all();
  store_.AppendEvents(std::move(events));
}

void ControlPlane::RefreshWorkloadsLocked() {
  int64_t rev = store_.Revision();
  if (rev == store_revision_seen_) return;
  store_revision_seen_ = rev;
  std::vector<StoredObject> objs;
  if (!store_.List(std::nullopt, &objs).ok()) return;
  std::vector<StoredObject> layers;
  store_.ListLayers(&layers);
  layer_paths_.clear();
  for (const auto& l : layers) layer_paths_[l.object.metadata.name] = l.object.layer.path;
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
}

void ControlPlane::UpdateNodeStatesLocked(int64_t now) {
  // Silence tided could not hear (it was paused or starved) is not held against the nodes.
  if (hearing_.Observe(now)) {
    EmitLocked("Warning", "ControlPlaneStalled", "tided", "",
               "the control loop did not run for " + std::to_string(hearing_.last_stall_ms()) +
                   " ms; node silence counts from now");
  }
  for (auto& [name, n] : state_.nodes) {
    const int64_t heard = std::max(n.last_heartbeat_ms, hearing_.heard_since());
    const NodeLiveness l = NextNodeState(n.state, heard, now, opts_.node_grace_ms);
    n.state = l.state;
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
      it = state_.instances.erase(it);
    }
    ++n.version;
    EmitLocked(
        "Warning", "NodeLost", "node/" + name, "",
        "no heartbeat for " + silent + "; rescheduling " + std::to_string(moved) + " instances");
  }
}

// Builds the rollout planner's input (daemon/control/rollout.h) and applies its plan.
void ControlPlane::ReconcileWorkloadLocked(WorkloadRuntime& wr, int64_t now) {
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
