// ControlPlane: its instances. Creating and placing them (daemon/control/scheduler.h decides
// where), draining them, the assignments agents are sent, and the endpoints pushed to the gateway.
#include <random>

#include "daemon/control/control_plane.h"
#include "daemon/control/scheduler.h"
#include "daemon/control/secret_env.h"

namespace tide {
namespace {

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 5; ++i) s += kAlphabet[rng() % 36];
  return s;
}

}  // namespace

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

void ControlPlane::BuildPlacementCacheLocked() {
  PlacementCache c;
  for (const auto& [name, n] : state_.nodes) {
    SchedNode sn;
    sn.name = name;
    sn.state = n.state;
    sn.capacity = n.info.capacity;
    sn.labels = n.info.labels;
    c.index[name] = c.nodes.size();
    c.nodes.push_back(std::move(sn));
  }
  for (const auto& [id, other] : state_.instances) {
    if (other.node.empty() || other.removed) continue;
    auto it = c.index.find(other.node);
    if (it == c.index.end()) continue;
    SchedNode& sn = c.nodes[it->second];
    sn.allocated.cpu += other.assignment.spec->resources.cpu;
    sn.allocated.memory_bytes += other.assignment.spec->resources.memory_bytes;
    ++c.per_workload[other.workload][it->second];
  }
  placement_cache_ = std::move(c);
}

bool ControlPlane::PlaceLocked(InstanceRecord& rec, std::string* reason) {
  // Values as they are now: the instance may have waited for its Secret to be applied.
  if (std::string missing =
          ResolveSecretEnv(*rec.assignment.spec, secret_values_, &rec.assignment.secret_env);
      !missing.empty()) {
    *reason = std::string(kWaitingForSecret) + missing;
    return false;
  }
  // Within a reconcile pass the nodes' allocations are built once and kept up to date by each
  // placement (placing N instances costs N x nodes, not N x instances x nodes); outside a pass
  // they are built for this one placement.
  if (!placement_cache_) BuildPlacementCacheLocked();
  PlacementCache& cache = *placement_cache_;
  if (cache.workload != rec.workload) {
    cache.workload = rec.workload;
    const auto& counts = cache.per_workload[rec.workload];
    for (size_t i = 0; i < cache.nodes.size(); ++i) {
      auto it = counts.find(i);
      cache.nodes[i].workload_instances = it == counts.end() ? 0 : it->second;
    }
  }
  std::vector<SchedNode>& nodes = cache.nodes;
  PlacementRequest req;
  req.workload = rec.workload;
  req.cpu = rec.assignment.spec->resources.cpu;
  req.memory_bytes = rec.assignment.spec->resources.memory_bytes;
  req.node_selector = rec.assignment.spec->node_selector;
  std::string node;
  Status s = PlaceOne(nodes, req, &node);
  if (!s.ok()) {
    *reason = s.message();
    if (!in_pass_) placement_cache_.reset();
    return false;
  }
  if (auto it = cache.index.find(node); it != cache.index.end()) {
    SchedNode& sn = nodes[it->second];
    sn.allocated.cpu += req.cpu;
    sn.allocated.memory_bytes += req.memory_bytes;
    ++sn.workload_instances;
    ++cache.per_workload[rec.workload][it->second];
  }
  if (!in_pass_) placement_cache_.reset();
  state_.SetNode(rec, node);
  rec.observed.node = node;
  rec.assigned = true;
  rec.pending_reason.clear();
  state_.Bump(node);
  return true;
}

void ControlPlane::DrainLocked(InstanceRecord& rec, int64_t now, const std::string& why) {
  if (rec.draining || rec.removed) return;
  if (rec.node.empty()) {  // never placed: nothing to drain
    rec.removed = true;
    return;
  }
  rec.draining = true;
  int64_t grace = static_cast<int64_t>(rec.assignment.spec->timeout_seconds * 1000);
  rec.drain_deadline_ms = now + (rec.Ready() ? grace : 0);
  EmitLocked("Normal", "Killing", "instance/" + rec.id, rec.workload, "stopping instance: " + why);
}

InstanceAssignment ControlPlane::AssignmentLocked(const Object& o, const std::string& id,
                                                  int64_t generation) {
  InstanceAssignment a;
  a.id = id;
  a.workload = o.metadata.name;
  a.kind = o.kind;
  a.generation = generation;
  if (auto w = workloads_.find(o.metadata.name); w != workloads_.end()) {
    // During a rollout two generations alternate here; each switch makes one copy.
    if (!(*w->second.spec == o.spec)) w->second.spec = o.spec;
    a.spec = w->second.spec;
  } else {
    a.spec = o.spec;
  }
  for (const auto& l : o.spec.layers) {
    auto lp = layer_paths_.find(l);
    a.layers.push_back({l, lp == layer_paths_.end() ? "" : lp->second});
  }
  ResolveSecretEnv(o.spec, secret_values_, &a.secret_env);
  return a;
}

void ControlPlane::PlacePendingLocked(WorkloadRuntime& wr,
                                      const std::vector<InstanceRecord*>& recs) {
  const std::string& name = wr.obj.object.metadata.name;
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
}

void ControlPlane::CreateLocked(WorkloadRuntime& wr, const StoredObject& obj) {
  const std::string& name = wr.obj.object.metadata.name;
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
  state_.Add(std::move(rec));
}

bool ControlPlane::HiddenLocked(const WorkloadRuntime& wr, const InstanceRecord& r) {
  return wr.rollout.hide_failed_generation && r.generation == wr.obj.generation;
}

void ControlPlane::RoutesLocked(std::vector<GatewayUpdate>* out,
                                const std::set<std::string>* only) {
  if (!gateway_) return;
  std::map<std::string, std::vector<Endpoint>> eps;
  for (const auto& [id, rec] : state_.instances) {
    if (!rec.Ready() || rec.draining || rec.removed || rec.node.empty()) continue;
    if (only && !only->count(rec.workload)) continue;
    auto w = workloads_.find(rec.workload);
    if (w != workloads_.end() && HiddenLocked(w->second, rec)) continue;
    auto n = state_.nodes.find(rec.node);
    // A NotReady node may be dead: its instances get no new requests (passive health).
    if (n == state_.nodes.end() || n->second.state != NodeState::kReady) continue;
    eps[rec.workload].push_back(
        {id, n->second.info.address, rec.observed.port, rec.node, rec.observed.frozen});
  }
  for (auto& [name, wr] : workloads_) {
    if (only && !only->count(name)) continue;
    auto& v = eps[name];
    std::string key;
    for (const auto& e : v)
      key += e.instance_id + "@" + e.host + ":" + std::to_string(e.port) + ",";
    if (key == wr.last_route_key) continue;
    wr.last_route_key = key;
    wr.routed = v.size();
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

}  // namespace tide
