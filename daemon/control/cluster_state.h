// ClusterState: tided's in-memory view of nodes and instances, rebuilt from agents' reports
// after a restart (it is never persisted: observed state belongs to the agents).
// Plain data plus small queries; the owner (ControlPlane) serializes all access with its mutex.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/model.h"

namespace tide {

struct NodeEntry {
  NodeInfo info;
  NodeState state = NodeState::kReady;
  int64_t last_heartbeat_ms = 0;    // steady
  int64_t last_heartbeat_wall = 0;  // wall, shown to users
  int64_t version = 0;              // assignment-set version, bumped on every change
  // Report deltas (api/agent_delta.h): the seq of the last report applied (-1: a delta cannot
  // be applied, the next report must be complete), and the ids the agent says it runs.
  int64_t report_seq = -1;
  std::set<std::string> running;
};

// One instance as the control plane tracks it: what it asked for and what the agent reports.
struct InstanceRecord {
  std::string id;
  std::string workload;
  Kind kind = Kind::kService;
  int64_t generation = 0;
  std::string node;  // "" while Pending (unplaced)
  InstanceAssignment assignment;
  bool assigned = false;  // listed in its node's assignment set
  bool draining = false;  // out of routing, waiting for in-flight requests to finish
  int64_t drain_deadline_ms = 0;
  bool removed = false;        // no longer assigned; forgotten once the agent reports it gone
  bool observed_seen = false;  // an agent has reported it at least once
  InstanceStatus observed;
  int64_t created_ms = 0;      // steady
  int64_t ready_since_ms = 0;  // steady: when it last became Ready (0 while not Ready)
  std::string pending_reason;
  double cpu_seconds_reported = 0;  // last cpu_seconds_total folded into the workload counter

  bool Ready() const { return observed_seen && observed.state == InstanceState::kReady; }
  // Ready without a break for at least min_ready_ms (rollout.minReadySeconds).
  bool Available(int64_t now_ms, int64_t min_ready_ms) const {
    return Ready() && now_ms - ready_since_ms >= min_ready_ms;
  }
  // Counts towards the workload's replicas: placed or pending, not on its way out.
  bool Live() const { return !removed && !draining; }
};

class ClusterState {
 public:
  std::map<std::string, NodeEntry> nodes;
  // By id. Read freely; an instance's `node` is set, and instances are added and erased, only
  // through the methods below, which keep the per-node index (so that a node's heartbeat and
  // assignment set cost what that node runs, not what the cluster runs).
  std::map<std::string, InstanceRecord> instances;

  void Add(InstanceRecord rec);
  void SetNode(InstanceRecord& rec, const std::string& node);
  std::map<std::string, InstanceRecord>::iterator Erase(
      std::map<std::string, InstanceRecord>::iterator it);
  // Ids of the instances whose node is `node` (empty set when none).
  const std::set<std::string>& IdsOn(const std::string& node) const;

  std::vector<InstanceRecord*> InstancesOf(const std::string& workload);
  // The full desired set of a node, as sent to its agent.
  AssignmentSet AssignmentsFor(const std::string& node) const;
  // Bumps the version of a node's assignment set (no-op for unknown nodes).
  void Bump(const std::string& node);

 private:
  std::map<std::string, std::set<std::string>> by_node_;
};

}  // namespace tide
