#include "daemon/control_plane.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "api/cron.h"
#include "daemon/scheduler.h"

namespace tide {
namespace {

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 5; ++i) s += kAlphabet[rng() % 36];
  return s;
}

bool IsAutoscaled(const Object& o) { return o.kind == Kind::kFunction || o.spec.autoscale; }

Autoscale AutoscaleOf(const Object& o) {
  if (o.spec.autoscale) return *o.spec.autoscale;
  Autoscale a;
  a.min_replicas = 0;
  return a;
}

int64_t Ms(double seconds) { return std::llround(std::clamp(seconds, 0.0, 1e9) * 1000); }

// "CrashLoopBackOff (exit code 3)" and the like, for events and conditions.
std::string Describe(const InstanceStatus& st) {
  std::string s = InstanceStateName(st.state);
  if (st.last_signal) {
    s += " (signal " + std::to_string(st.last_signal) + ")";
  } else if (st.last_exit_code >= 0) {
    s += " (exit code " + std::to_string(st.last_exit_code) + ")";
  }
  if (!st.reason.empty()) s += ", " + st.reason;
  return s;
}

std::string SecondsText(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gs", s);
  return buf;
}

}  // namespace

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
  }
  reconcile_thread_ = std::thread([this] { ReconcileLoop(); });
  autoscale_thread_ = std::thread([this] { AutoscaleLoop(); });
  trigger_thread_ = std::thread([this] { TriggerLoop(); });
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
  if (trigger_thread_.joinable()) trigger_thread_.join();
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
    if (spec_changed) {
      wr.rollout_failed = false;
      wr.rollout_failure.clear();
      wr.rollout_started_ms = wr.rollout_progress_ms = clock_.NowMs();
      wr.rollout_available = 0;
      wr.hide_failed_generation = false;
      wr.restore_impossible_reported = false;
    }
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
  for (auto& [name, n] : state_.nodes) {
    int64_t silent = now - n.last_heartbeat_ms;
    if (n.state == NodeState::kReady && silent > opts_.node_grace_ms / 2) {
      n.state = NodeState::kNotReady;
      EmitLocked("Warning", "NodeNotReady", "node/" + name, "",
                 "no heartbeat for " + std::to_string(silent) + " ms");
    }
    if (n.state == NodeState::kNotReady && silent > opts_.node_grace_ms) {
      n.state = NodeState::kLost;
      int moved = 0;
      for (auto& [id, rec] : state_.instances) {
        if (rec.node != name || rec.removed) continue;
        // Its instances are placed elsewhere; if the node returns, the agent stops these
        // because they are no longer in its assignment set.
        rec.removed = true;
        rec.draining = false;
        rec.assigned = false;
        ++moved;
      }
      for (auto it = state_.instances.begin(); it != state_.instances.end();) {
        if (it->second.node == name && it->second.removed) {
          it = state_.instances.erase(it);
        } else {
          ++it;
        }
      }
      ++n.version;
      EmitLocked("Warning", "NodeLost", "node/" + name, "",
                 "no heartbeat for " + std::to_string(silent) + " ms; rescheduling " +
                     std::to_string(moved) + " instances");
    }
  }
}

InstanceRecord ControlPlane::NewInstanceLocked(const StoredObject& obj) {
  InstanceRecord rec;
  const Object& o = obj.object;
  do {
    rec.id = o.metadata.name + "-" + RandomSuffix();
  } while (state_.instances.count(rec.id));
  rec.workload = o.metadata.name;
  rec.kind = o.kind;
  rec.generation = obj.generation;
  rec.created_ms = clock_.NowMs();
  rec.assignment = AssignmentLocked(o, rec.id, rec.generation);
  rec.observed.id = rec.id;
  rec.observed.workload = rec.workload;
  rec.observed.generation = rec.generation;
  rec.observed.state = InstanceState::kPending;
  return rec;
}

bool ControlPlane::PlaceLocked(InstanceRecord& rec, std::string* reason) {
  std::vector<SchedNode> nodes;
  for (const auto& [name, n] : state_.nodes) {
    SchedNode sn;
    sn.name = name;
    sn.state = n.state;
    sn.capacity = n.info.capacity;
    sn.labels = n.info.labels;
    nodes.push_back(std::move(sn));
  }
  for (const auto& [id, other] : state_.instances) {
    if (other.node.empty() || other.removed) continue;
    for (auto& sn : nodes) {
      if (sn.name != other.node) continue;
      sn.allocated.cpu += other.assignment.spec.resources.cpu;
      sn.allocated.memory_bytes += other.assignment.spec.resources.memory_bytes;
      if (other.workload == rec.workload) ++sn.workload_instances;
    }
  }
  PlacementRequest req;
  req.workload = rec.workload;
  req.cpu = rec.assignment.spec.resources.cpu;
  req.memory_bytes = rec.assignment.spec.resources.memory_bytes;
  req.node_selector = rec.assignment.spec.node_selector;
  std::string node;
  Status s = PlaceOne(nodes, req, &node);
  if (!s.ok()) {
    *reason = s.message();
    return false;
  }
  rec.node = node;
  rec.observed.node = node;
  rec.assigned = true;
  rec.pending_reason.clear();
  state_.Bump(node);
  return true;
}

void ControlPlane::DrainLocked(InstanceRecord& rec, int64_t now, const char* why) {
  if (rec.draining || rec.removed) return;
  if (rec.node.empty()) {  // never placed: nothing to drain
    rec.removed = true;
    return;
  }
  rec.draining = true;
  int64_t grace = static_cast<int64_t>(rec.assignment.spec.timeout_seconds * 1000);
  rec.drain_deadline_ms = now + (rec.Ready() ? grace : 0);
  EmitLocked("Normal", "Killing", "instance/" + rec.id, rec.workload,
             std::string("stopping instance: ") + why);
}

InstanceAssignment ControlPlane::AssignmentLocked(const Object& o, const std::string& id,
                                                  int64_t generation) const {
  InstanceAssignment a;
  a.id = id;
  a.workload = o.metadata.name;
  a.kind = o.kind;
  a.generation = generation;
  a.spec = o.spec;
  for (const auto& l : o.spec.layers) {
    auto lp = layer_paths_.find(l);
    a.layers.push_back({l, lp == layer_paths_.end() ? "" : lp->second});
  }
  return a;
}

void ControlPlane::ReconcileWorkloadLocked(WorkloadRuntime& wr, int64_t now) {
  const std::string& name = wr.obj.object.metadata.name;
  const int64_t gen = wr.obj.generation;
  const int desired = std::max(0, wr.desired);
  auto recs = state_.InstancesOf(name);

  // Place what is pending.
  std::string reason;
  for (auto* r : recs) {
    if (!r->Live() || !r->node.empty()) continue;
    std::string why;
    if (!PlaceLocked(*r, &why)) {
      reason = why;
      r->pending_reason = why;
    } else {
      EmitLocked("Normal", "Scheduled", "instance/" + r->id, name, "placed on " + r->node);
    }
  }
  if (!reason.empty() && reason != wr.last_pending_reason) {
    EmitLocked("Warning", "FailedScheduling", "workload/" + name, name, reason);
  }
  wr.last_pending_reason = reason;

  std::vector<InstanceRecord*> current, outdated;
  for (auto* r : recs) {
    if (!r->Live()) continue;
    (r->generation == gen ? current : outdated).push_back(r);
  }
  // Starts n instances of `obj` (the current generation, or the serving one after a failed
  // rollout) and adds them to `into`.
  auto create = [&](int n, const StoredObject& obj, std::vector<InstanceRecord*>& into) {
    for (int i = 0; i < n; ++i) {
      InstanceRecord rec = NewInstanceLocked(obj);
      std::string why;
      if (PlaceLocked(rec, &why)) {
        EmitLocked("Normal", "Scheduled", "instance/" + rec.id, name, "placed on " + rec.node);
      } else {
        rec.pending_reason = why;
        if (why != wr.last_pending_reason) {
          EmitLocked("Warning", "FailedScheduling", "workload/" + name, name, why);
          wr.last_pending_reason = why;
        }
      }
      into.push_back(&(state_.instances[rec.id] = std::move(rec)));
    }
  };
  // Victims first: not placed, then not ready, then the idlest (fewest in-flight requests at
  // the gateway), then the newest.
  auto victim_order = [&](std::vector<InstanceRecord*>& v) {
    auto busy = [&](InstanceRecord* r) {
      auto it = inflight_snapshot_.find(r->id);
      return it == inflight_snapshot_.end() ? 0 : it->second;
    };
    std::sort(v.begin(), v.end(), [&](InstanceRecord* a, InstanceRecord* b) {
      auto rank = [](InstanceRecord* r) { return r->node.empty() ? 0 : (r->Ready() ? 2 : 1); };
      if (rank(a) != rank(b)) return rank(a) < rank(b);
      if (busy(a) != busy(b)) return busy(a) < busy(b);
      return a->created_ms > b->created_ms;
    });
  };

  if (now - started_ms_ < opts_.startup_settle_ms) return;  // agents are re-registering

  // A rollout is in progress while older instances run, and after they are gone until the
  // new generation is available at the desired count (it may still fail then: back to the
  // serving generation). The first generation, or any after a tided restart, has nothing to
  // fall back on: it simply runs.
  const bool rolling = !outdated.empty() || (wr.serving && wr.serving->generation != gen);
  if (!rolling) {
    wr.hide_failed_generation = false;
    if (!wr.serving) wr.serving = wr.obj;
    int have = static_cast<int>(current.size());
    if (have < desired) create(desired - have, wr.obj, current);
    if (have > desired) {
      victim_order(current);
      for (int i = 0; i < have - desired; ++i) DrainLocked(*current[i], now, "scaled down");
    }
    return;
  }

  // Rolling update: surge new instances, retire old ones while enough new ones are available
  // (Ready for minReadySeconds).
  const Rollout& ro = wr.obj.object.spec.rollout;
  const int64_t min_ready_ms = Ms(ro.min_ready_seconds);
  int surge = std::max(0, ro.max_surge);
  int unavailable = std::max(0, ro.max_unavailable);
  if (surge == 0 && unavailable == 0) surge = 1;
  int available_current = 0;
  const InstanceRecord* crashing = nullptr;
  for (auto* r : current) {
    if (r->Available(now, min_ready_ms)) ++available_current;
    if (!crashing && (r->observed.state == InstanceState::kCrashLoopBackOff ||
                      r->observed.state == InstanceState::kFailed)) {
      crashing = r;
    }
  }
  if (available_current > wr.rollout_available) {
    wr.rollout_available = available_current;
    wr.rollout_progress_ms = now;
  }
  if (!wr.rollout_failed) {
    std::string cause;
    if (crashing) {
      cause = "new instance " + crashing->id + " is " + Describe(crashing->observed);
    } else if (now - wr.rollout_progress_ms > Ms(ro.progress_deadline_seconds)) {
      cause = "no progress for " + SecondsText(ro.progress_deadline_seconds) +
              " (progressDeadlineSeconds): " + std::to_string(available_current) + " of " +
              std::to_string(desired) + " new instances available";
    }
    if (!cause.empty()) {
      wr.rollout_failed = true;
      wr.rollout_failure = cause;
      std::string keep = wr.serving
                             ? "generation " + std::to_string(wr.serving->generation) +
                                   " keeps serving with " + std::to_string(desired) + " instances"
                             : "the old instances keep serving";
      EmitLocked("Warning", "RolloutFailed", "workload/" + name, name,
                 "rollout of generation " + std::to_string(gen) + " failed: " + cause + "; " +
                     keep + "; the new generation gets no traffic");
    }
  }

  if (wr.rollout_failed) {
    // The old generations serve at the desired count; the failed generation gets no traffic
    // (RoutesLocked) and keeps at most maxSurge instances, so its state and logs stay visible.
    if (static_cast<int>(current.size()) > surge) {
      victim_order(current);
      for (size_t i = 0; i < current.size() - surge; ++i)
        DrainLocked(*current[i], now, "rollout failed: beyond maxSurge");
    }
    const int have_old = static_cast<int>(outdated.size());
    if (have_old < desired) {
      if (wr.serving && wr.serving->generation != gen) {
        create(desired - have_old, *wr.serving, outdated);
        EmitLocked("Normal", "RestoringCapacity", "workload/" + name, name,
                   "started " + std::to_string(desired - have_old) + " instance(s) of generation " +
                       std::to_string(wr.serving->generation) + " so that " +
                       std::to_string(desired) + " serve while the rollout of generation " +
                       std::to_string(gen) + " is failed");
      } else if (!wr.restore_impossible_reported) {
        wr.restore_impossible_reported = true;
        EmitLocked("Warning", "RestoringCapacity", "workload/" + name, name,
                   "only " + std::to_string(have_old) + " of " + std::to_string(desired) +
                       " old instances are left and their spec is not known (tided restarted "
                       "during the rollout): apply a fixed spec");
      }
    } else if (have_old > desired) {
      victim_order(outdated);
      for (int i = 0; i < have_old - desired; ++i) DrainLocked(*outdated[i], now, "scaled down");
    }
    // With nothing older to serve (not even being restored), the new instances keep their
    // traffic rather than leaving the workload with none.
    wr.hide_failed_generation = !outdated.empty();
    return;
  }
  if (outdated.empty() && available_current >= desired) {
    wr.serving = wr.obj;  // complete: every instance runs this generation and is available
    EmitLocked("Normal", "RolloutComplete", "workload/" + name, name,
               "generation " + std::to_string(gen) + " is available with " +
                   std::to_string(available_current) + " instances");
  }

  int total = static_cast<int>(current.size() + outdated.size());
  int can_create = std::min(desired - static_cast<int>(current.size()), desired + surge - total);
  if (can_create > 0) create(can_create, wr.obj, current);
  int ready_old = 0;
  for (auto* r : outdated) ready_old += r->Ready() ? 1 : 0;
  victim_order(outdated);
  int min_ready = std::max(0, desired - unavailable);
  for (auto* r : outdated) {
    bool ready = r->Ready();
    if (ready && ready_old + available_current - 1 < min_ready) break;
    DrainLocked(*r, now, "replaced by a newer generation");
    if (ready) --ready_old;
  }
  if (static_cast<int>(current.size()) > desired) {
    victim_order(current);
    for (size_t i = 0; i < current.size() - desired; ++i)
      DrainLocked(*current[i], now, "scaled down");
  }
}

bool ControlPlane::HiddenLocked(const WorkloadRuntime& wr, const InstanceRecord& r) {
  return wr.hide_failed_generation && r.generation == wr.obj.generation;
}

void ControlPlane::ReapDeletedLocked(int64_t now) {
  for (auto& [id, rec] : state_.instances) {
    if (!workloads_.count(rec.workload)) DrainLocked(rec, now, "workload deleted");
  }
}

void ControlPlane::RoutesLocked(std::vector<GatewayUpdate>* out) {
  if (!gateway_) return;
  std::map<std::string, std::vector<Endpoint>> eps;
  for (const auto& [id, rec] : state_.instances) {
    if (!rec.Ready() || rec.draining || rec.removed || rec.node.empty()) continue;
    auto w = workloads_.find(rec.workload);
    if (w != workloads_.end() && HiddenLocked(w->second, rec)) continue;
    auto n = state_.nodes.find(rec.node);
    // A NotReady node may be dead: its instances get no new requests (passive health).
    if (n == state_.nodes.end() || n->second.state != NodeState::kReady) continue;
    eps[rec.workload].push_back({id, n->second.info.address, rec.observed.port});
  }
  for (auto& [name, wr] : workloads_) {
    auto& v = eps[name];
    std::string key;
    for (const auto& e : v)
      key += e.instance_id + "@" + e.host + ":" + std::to_string(e.port) + ",";
    if (key == wr.last_route_key) continue;
    wr.last_route_key = key;
    out->push_back({name, v, false, ++route_seq_});
  }
}

void ControlPlane::FlushGateway(std::vector<GatewayUpdate> updates) {
  if (!gateway_) return;
  std::lock_guard<std::mutex> lk(flush_mu_);
  for (auto& u : updates) {
    uint64_t& last = flushed_seq_[u.workload];
    if (u.seq != 0 && u.seq < last) continue;  // a newer set was already pushed
    last = u.seq;
    if (u.remove) {
      gateway_->RemoveWorkload(u.workload);
    } else {
      gateway_->SetEndpoints(u.workload, std::move(u.endpoints));
    }
  }
}

void ControlPlane::MetricsLocked() {
  std::map<NodeState, int> by_state{
      {NodeState::kReady, 0}, {NodeState::kNotReady, 0}, {NodeState::kLost, 0}};
  for (const auto& [name, n] : state_.nodes) ++by_state[n.state];
  for (const auto& [st, count] : by_state) {
    metrics_.nodes.Add({{"state", NodeStateName(st)}}).Set(count);
  }
  int64_t now = clock_.NowMs();
  if (last_metrics_ms_ == 0) last_metrics_ms_ = now;
  double dt = std::max<int64_t>(0, now - last_metrics_ms_) / 1000.0;
  last_metrics_ms_ = now;
  for (auto& [name, wr] : workloads_) {
    int ready = 0, running = 0;
    int64_t mem = 0;
    for (auto* r : state_.InstancesOf(name)) {
      if (r->Ready()) ++ready;
      if (r->observed_seen && r->observed.pid > 0 && !r->removed) {
        ++running;
        mem += r->observed.memory_bytes;
      }
    }
    const char* kind = KindName(wr.obj.object.kind);
    metrics_.workload_desired_replicas.Add({{"workload", name}, {"kind", kind}}).Set(wr.desired);
    metrics_.workload_ready_replicas.Add({{"workload", name}, {"kind", kind}}).Set(ready);
    metrics_.workload_memory_bytes.Add({{"workload", name}}).Set(static_cast<double>(mem));
    if (running > 0 && dt > 0) {
      metrics_.workload_instance_seconds_total.Add({{"workload", name}}).Increment(running * dt);
      wr.instance_seconds += running * dt;
    }
  }
}

// ---- autoscaling ---------------------------------------------------------------------------

void ControlPlane::AutoscaleLoop() {
  while (true) {
    std::vector<std::string> names;
    {
      std::unique_lock<std::mutex> lk(mu_);
      autoscale_cv_.wait_for(lk, std::chrono::milliseconds(opts_.autoscale_period_ms),
                             [this] { return stopping_; });
      if (stopping_) return;
      for (const auto& [name, wr] : workloads_) {
        if (wr.autoscaled) names.push_back(name);
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
        Autoscale a = AutoscaleOf(o);
        const auto& load = loads[n];
        double value = 0;
        if (a.metric == "rps") {
          if (wr.rps_last_ms > 0 && now > wr.rps_last_ms) {
            value = static_cast<double>(load.requests_total - wr.rps_last_total) * 1000.0 /
                    static_cast<double>(now - wr.rps_last_ms);
          }
          wr.rps_last_total = load.requests_total;
          wr.rps_last_ms = now;
        } else if (a.metric == "cpu") {
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
        int current = 0;  // what can serve: a failed rollout's instances do not
        for (auto* r : state_.InstancesOf(n)) current += r->Live() && !HiddenLocked(wr, *r) ? 1 : 0;
        auto decision = autoscaler_.Decide(n, current);
        if (!decision) continue;
        const auto& d = *decision;
        int want = d.desired;
        // Functions keep their last instance until idleTimeoutSeconds without requests.
        if (o.kind == Kind::kFunction && want == 0 && wr.desired > 0 &&
            now - wr.last_request_ms < static_cast<int64_t>(o.spec.idle_timeout_seconds * 1000)) {
          want = std::max(1, a.min_replicas);
        }
        // Requests waiting at zero always get capacity (activation).
        if (load.queued > 0) {
          int per = o.spec.concurrency > 0 ? o.spec.concurrency : 0;
          int need = per > 0 ? (load.inflight + load.queued + per - 1) / per : 1;
          want = std::max(want, std::min(need, std::max(1, a.max_replicas)));
        }
        want = std::clamp(want, a.min_replicas, std::max(a.min_replicas, a.max_replicas));
        if (want != wr.desired) {
          const char* dir = want > wr.desired ? "up" : "down";
          metrics_.autoscaler_scale_events_total.Add({{"workload", n}, {"direction", dir}})
              .Increment();
          EmitLocked("Normal", want > wr.desired ? "ScaledUp" : "ScaledDown", "workload/" + n, n,
                     want == d.desired && !d.reason.empty()
                         ? d.reason
                         : "desired " + std::to_string(wr.desired) + " -> " + std::to_string(want) +
                               " (idle timeout or waiting requests)");
          wr.desired = want;
          changed = true;
        }
      }
      if (changed) kicked_ = true;
      events.swap(pending_events_);
    }
    if (changed) kick_cv_.notify_all();
    store_.AppendEvents(std::move(events));
  }
}

void ControlPlane::TriggerLoop() {
  while (true) {
    std::vector<std::string> due;  // workloads to invoke now
    {
      std::unique_lock<std::mutex> lk(mu_);
      autoscale_cv_.wait_for(lk, std::chrono::milliseconds(500), [this] { return stopping_; });
      if (stopping_) return;
      int64_t now = clock_.WallMs();
      std::set<std::string> keys;
      for (const auto& [name, wr] : workloads_) {
        const auto& triggers = wr.obj.object.spec.triggers;
        for (size_t i = 0; i < triggers.size(); ++i) {
          std::string key = name + "#" + std::to_string(i) + "#" + triggers[i].schedule;
          keys.insert(key);
          CronSchedule cron;
          std::string err;
          if (!CronSchedule::Parse(triggers[i].schedule, &cron, &err)) continue;
          auto it = next_trigger_ms_.find(key);
          if (it == next_trigger_ms_.end()) {
            next_trigger_ms_[key] = cron.NextAfter(now);
          } else if (it->second >= 0 && now >= it->second) {
            due.push_back(name);
            it->second = cron.NextAfter(now);
            EmitLocked("Normal", "Triggered", "workload/" + name, name,
                       "schedule \"" + triggers[i].schedule + "\" fired");
          }
        }
      }
      for (auto it = next_trigger_ms_.begin(); it != next_trigger_ms_.end();) {
        it = keys.count(it->first) ? std::next(it) : next_trigger_ms_.erase(it);
      }
    }
    for (const auto& name : due) {
      if (opts_.gateway_url.empty()) continue;
      // Fire and forget: the gateway queues the request through a cold start like any other.
      std::thread([url = opts_.gateway_url, name] {
        httplib::Client cli(url);
        cli.set_read_timeout(300, 0);
        cli.Post("/function/" + name + "/", httplib::Headers{{"X-Tide-Trigger", "schedule"}}, "",
                 "text/plain");
      }).detach();
    }
  }
}

std::optional<RouteInfo> ControlPlane::Route(const std::string& workload) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = workloads_.find(workload);
  if (it == workloads_.end()) return std::nullopt;
  RouteInfo r;
  r.kind = it->second.obj.object.kind;
  r.concurrency = it->second.obj.object.spec.concurrency;
  r.timeout_seconds = it->second.obj.object.spec.timeout_seconds;
  return r;
}

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
    wr.last_request_ms = now;
    if (queued > 0 && wr.autoscaled) {
      // Scale from zero at once, as many as the waiting requests need (event-driven: the
      // autoscale loop's period is not on this path).
      const Object& o = wr.obj.object;
      Autoscale a = AutoscaleOf(o);
      int per = o.spec.concurrency;
      int need = per > 0 ? (inflight + queued + per - 1) / per : 1;
      need = std::min(need, std::max(1, a.max_replicas));
      if (need > wr.desired) {
        metrics_.autoscaler_scale_events_total.Add({{"workload", workload}, {"direction", "up"}})
            .Increment();
        EmitLocked("Normal", "ScaledUp", "workload/" + workload, workload,
                   "desired " + std::to_string(wr.desired) + " -> " + std::to_string(need) + ": " +
                       std::to_string(queued) + " requests waiting");
        wr.desired = need;
        kicked_ = true;
        activate = true;
      }
    }
  }
  if (activate) kick_cv_.notify_all();
}

// ---- queries -------------------------------------------------------------------------------

WorkloadStatus ControlPlane::StatusOf(const StoredObject& obj) {
  std::lock_guard<std::mutex> lk(mu_);
  WorkloadStatus s;
  const std::string& name = obj.object.metadata.name;
  s.generation = obj.generation;
  auto it = workloads_.find(name);
  s.desired = it != workloads_.end() ? it->second.desired
                                     : obj.scale_replicas.value_or(obj.object.spec.replicas);
  bool all_current = true, pending = false, crashing = false;
  int64_t oldest = obj.generation;
  for (auto* r : state_.InstancesOf(name)) {
    if (!r->Live()) continue;
    const bool hidden = it != workloads_.end() && HiddenLocked(it->second, *r);
    if (r->Ready() && !hidden) ++s.ready;  // readyReplicas: instances that get traffic
    if (r->generation != obj.generation) all_current = false;
    oldest = std::min(oldest, r->generation);
    if (r->node.empty()) pending = true;
    if (r->observed.state == InstanceState::kCrashLoopBackOff ||
        r->observed.state == InstanceState::kFailed)
      crashing = true;
  }
  s.observed_generation = oldest;
  bool failed = it != workloads_.end() && it->second.rollout_failed;
  if (it != workloads_.end()) s.instance_seconds = it->second.instance_seconds;
  if (failed) {
    s.phase = "Degraded";
  } else if (s.desired == 0) {
    s.phase = "Idle";
  } else if (s.ready >= s.desired && all_current) {
    s.phase = "Running";
  } else if (pending) {
    s.phase = "Pending";
  } else if (crashing) {
    s.phase = "Degraded";
  } else {
    s.phase = "Progressing";
  }
  s.conditions.push_back({"Available", s.ready >= s.desired ? "True" : "False",
                          s.ready >= s.desired ? "MinimumReplicasAvailable" : "NotEnoughReady",
                          std::to_string(s.ready) + "/" + std::to_string(s.desired) + " ready"});
  if (pending && it != workloads_.end()) {
    s.conditions.push_back({"Scheduled", "False", "Unschedulable", it->second.last_pending_reason});
  }
  if (failed) {
    const WorkloadRuntime& wr = it->second;
    std::string serving = wr.serving && wr.serving->generation != obj.generation
                              ? "generation " + std::to_string(wr.serving->generation) + " serves"
                              : "the old instances serve";
    s.conditions.push_back({"Progressing", "False", "RolloutFailed",
                            "rollout of generation " + std::to_string(obj.generation) +
                                " failed: " + wr.rollout_failure + "; " + serving});
  } else if (!all_current) {
    s.conditions.push_back({"Progressing", "True", "RollingUpdate", "replacing instances"});
  }
  return s;
}

std::vector<InstanceStatus> ControlPlane::Instances(const std::string& workload,
                                                    const std::string& node) {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<InstanceStatus> out;
  for (const auto& [id, rec] : state_.instances) {
    if (!workload.empty() && rec.workload != workload) continue;
    if (!node.empty() && rec.node != node) continue;
    InstanceStatus st = rec.observed;
    st.id = rec.id;
    st.workload = rec.workload;
    st.node = rec.node;
    st.generation = rec.generation;
    if (!rec.observed_seen) {
      st.state = InstanceState::kPending;
      if (!rec.pending_reason.empty()) st.message = rec.pending_reason;
    }
    if (rec.draining ||
        (rec.removed && st.state != InstanceState::kExited && st.state != InstanceState::kFailed)) {
      st.state = InstanceState::kTerminating;
    }
    out.push_back(std::move(st));
  }
  return out;
}

std::vector<ControlPlane::NodeView> ControlPlane::Nodes() {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<NodeView> out;
  for (const auto& [name, n] : state_.nodes) {
    NodeView v;
    v.entry = n;
    for (const auto& [id, rec] : state_.instances) {
      if (rec.node != name || rec.removed) continue;
      v.allocated.cpu += rec.assignment.spec.resources.cpu;
      v.allocated.memory_bytes += rec.assignment.spec.resources.memory_bytes;
      ++v.instances;
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::string ControlPlane::AgentUrlOf(const std::string& instance_id) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = state_.instances.find(instance_id);
  if (it == state_.instances.end()) return "";
  auto n = state_.nodes.find(it->second.node);
  return n == state_.nodes.end() ? "" : n->second.info.agent_url;
}

}  // namespace tide
