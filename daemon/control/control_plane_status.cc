// ControlPlane: what it shows. Queries for the API (status, instances, nodes) and the
// Prometheus gauges and counters refreshed after each reconcile pass.
#include <algorithm>
#include <map>
#include <utility>

#include "daemon/control/control_plane.h"
#include "daemon/control/secret_env.h"

namespace tide {

WorkloadStatus ControlPlane::StatusOf(const StoredObject& obj) {
  const std::string& name = obj.object.metadata.name;
  // A recent answer for this very spec: unchanged since (same revision), or recent enough.
  auto recent = [&](bool any_revision) -> std::optional<WorkloadStatus> {
    std::lock_guard<std::mutex> rl(recent_mu_);
    auto it = recent_status_.find(name);
    if (it == recent_status_.end()) return std::nullopt;
    const RecentStatus& r = it->second;
    if (r.generation != obj.generation || r.scale != obj.scale_replicas) return std::nullopt;
    if (r.revision == status_revision_.load()) return r.status;
    if (any_revision && clock_.NowMs() - r.at_ms < kStatusReuseMs) return r.status;
    return std::nullopt;
  };
  if (auto s = recent(false)) return *s;
  std::unique_lock<std::mutex> lk(mu_, std::try_to_lock);
  if (!lk.owns_lock()) {  // a pass runs: do not wait for it
    if (auto s = recent(true)) return *s;
    lk.lock();
  }
  const int64_t revision = status_revision_.load();  // under mu_: what the status is computed at
  WorkloadStatus s = StatusLocked(obj);
  std::lock_guard<std::mutex> rl(recent_mu_);
  if (recent_status_.size() > 4 * workloads_.size() + 64) recent_status_.clear();  // bounded
  recent_status_[name] =
      RecentStatus{revision, obj.generation, obj.scale_replicas, clock_.NowMs(), s};
  return s;
}

WorkloadStatus ControlPlane::StatusLocked(const StoredObject& obj) {
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
  const RolloutState none;
  const RolloutState& rollout = it != workloads_.end() ? it->second.rollout : none;
  const bool failed = rollout.failed;
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
    const std::string& why = it->second.last_pending_reason;
    s.conditions.push_back({"Scheduled", "False",
                            why.starts_with(kWaitingForSecret) ? "SecretMissing" : "Unschedulable",
                            why});
  }
  std::optional<int64_t> serving;
  if (it != workloads_.end() && it->second.serving) serving = it->second.serving->generation;
  if (auto c = ProgressingCondition(rollout, obj.generation, serving, all_current)) {
    s.conditions.push_back({c->type, c->status, c->reason, c->message});
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
  for (auto& [name, n] : state_.nodes) {
    CollectBeatLocked(name, n);
    NodeView v;
    v.entry = n;
    for (const auto& id : state_.IdsOn(name)) {  // the node's own instances (the index)
      auto it = state_.instances.find(id);
      if (it == state_.instances.end() || it->second.removed) continue;
      const InstanceRecord& rec = it->second;
      v.allocated.cpu += rec.assignment.spec->resources.cpu;
      v.allocated.memory_bytes += rec.assignment.spec->resources.memory_bytes;
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

void ControlPlane::AccrueLocked(int64_t now) {
  if (last_metrics_ms_ == 0) last_metrics_ms_ = now;
  const double dt = std::max<int64_t>(0, now - last_metrics_ms_) / 1000.0;
  last_metrics_ms_ = now;
  std::map<std::string, std::pair<int, int64_t>> running;  // workload -> instances, memory
  for (const auto& [id, rec] : state_.instances) {
    if (!rec.observed_seen || rec.observed.pid <= 0 || rec.removed) continue;
    auto& r = running[rec.workload];
    ++r.first;
    r.second += rec.observed.memory_bytes;
  }
  for (const auto& [name, r] : running) {
    auto w = workloads_.find(name);
    if (w == workloads_.end()) continue;
    metrics_.workload_memory_bytes.Add({{"workload", name}}).Set(static_cast<double>(r.second));
    if (dt > 0) {
      metrics_.workload_instance_seconds_total.Add({{"workload", name}}).Increment(r.first * dt);
      w->second.instance_seconds += r.first * dt;
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
  AccrueLocked(clock_.NowMs());
  for (auto& [name, wr] : workloads_) {
    int ready = 0, running = 0;
    for (auto* r : state_.InstancesOf(name)) {
      if (r->Ready()) ++ready;
      if (r->observed_seen && r->observed.pid > 0 && !r->removed) ++running;
    }
    const char* kind = KindName(wr.obj.object.kind);
    metrics_.workload_desired_replicas.Add({{"workload", name}, {"kind", kind}}).Set(wr.desired);
    metrics_.workload_ready_replicas.Add({{"workload", name}, {"kind", kind}}).Set(ready);
    if (running == 0) metrics_.workload_memory_bytes.Add({{"workload", name}}).Set(0);
  }
}

}  // namespace tide
