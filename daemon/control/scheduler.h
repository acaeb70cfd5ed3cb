// Scheduler: pure placement of workload instances on nodes. No I/O, no clock, no state of its
// own: the caller (the reconciler) passes the nodes as it sees them and gets a node name, or a
// reason no node fits, e.g.
//   "0/3 nodes available: 1 NotReady, 2 insufficient memory (need 256Mi, free 128Mi)".
//
// Rules: only Ready nodes; spec.nodeSelector must be a subset of the node's labels; the
// request's cpu and memory must fit in capacity - allocated (a capacity of 0 means unlimited;
// a request of 0 always fits). Among fitting nodes: fewest instances of this workload first
// (spread), then the lowest allocated fraction after placement (the larger of cpu and memory
// fractions, over the limited dimensions), then the node name, so results are deterministic.
//
// Thread-safety: free functions over caller-owned values; safe to call concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/model.h"
#include "api/status.h"

namespace tide {

struct SchedNode {
  std::string name;
  NodeState state = NodeState::kReady;
  NodeResources capacity;  // 0 in a dimension = unlimited
  StringMap labels;
  NodeResources allocated;     // sum of requests of the instances placed on it
  int workload_instances = 0;  // instances of the workload being placed
};

struct PlacementRequest {
  std::string workload;
  double cpu = 0;
  int64_t memory_bytes = 0;
  StringMap node_selector;
};

// Picks a node for one instance. Ok: *node is set. Unavailable: the message says why none fits.
Status PlaceOne(const std::vector<SchedNode>& nodes, const PlacementRequest& req,
                std::string* node);

struct PlacementResult {
  std::vector<std::string> nodes;  // one node name per placed instance, in placement order
  std::string reason;              // why the rest could not be placed; "" when all were
};

// Places up to `count` instances one at a time, adding each one's request to that node's
// `allocated` and `workload_instances` in *nodes, so later calls see the new load.
PlacementResult PlaceMany(std::vector<SchedNode>* nodes, const PlacementRequest& req, int count);

// "256Mi", "1.5Gi", "100Ki", "123" (bytes): for reasons and describe output.
std::string FormatBytes(int64_t bytes);

}  // namespace tide
