#include "daemon/control/cluster_state.h"

namespace tide {

std::vector<InstanceRecord*> ClusterState::InstancesOf(const std::string& workload) {
  std::vector<InstanceRecord*> out;
  for (auto& [id, rec] : instances) {
    if (rec.workload == workload) out.push_back(&rec);
  }
  return out;
}

AssignmentSet ClusterState::AssignmentsFor(const std::string& node) const {
  AssignmentSet set;
  auto it = nodes.find(node);
  if (it != nodes.end()) set.version = it->second.version;
  for (const auto& id : IdsOn(node)) {
    auto r = instances.find(id);
    if (r != instances.end() && r->second.assigned) set.instances.push_back(r->second.assignment);
  }
  return set;
}

void ClusterState::Add(InstanceRecord rec) {
  auto old = instances.find(rec.id);
  if (old != instances.end()) Erase(old);
  if (!rec.node.empty()) by_node_[rec.node].insert(rec.id);
  std::string id = rec.id;
  instances.emplace(std::move(id), std::move(rec));
}

void ClusterState::SetNode(InstanceRecord& rec, const std::string& node) {
  if (rec.node == node) return;
  if (!rec.node.empty()) {
    auto it = by_node_.find(rec.node);
    if (it != by_node_.end()) {
      it->second.erase(rec.id);
      if (it->second.empty()) by_node_.erase(it);
    }
  }
  rec.node = node;
  if (!node.empty()) by_node_[node].insert(rec.id);
}

std::map<std::string, InstanceRecord>::iterator ClusterState::Erase(
    std::map<std::string, InstanceRecord>::iterator it) {
  SetNode(it->second, "");
  return instances.erase(it);
}

const std::set<std::string>& ClusterState::IdsOn(const std::string& node) const {
  static const std::set<std::string> kNone;
  auto it = by_node_.find(node);
  return it == by_node_.end() ? kNone : it->second;
}

void ClusterState::Bump(const std::string& node) {
  auto it = nodes.find(node);
  if (it != nodes.end()) ++it->second.version;
}

}  // namespace tide
