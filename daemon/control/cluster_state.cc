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
  for (const auto& [id, rec] : instances) {
    if (rec.node == node && rec.assigned) set.instances.push_back(rec.assignment);
  }
  return set;
}

void ClusterState::Bump(const std::string& node) {
  auto it = nodes.find(node);
  if (it != nodes.end()) ++it->second.version;
}

}  // namespace tide
