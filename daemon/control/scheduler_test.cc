#include "daemon/control/scheduler.h"

#include <gtest/gtest.h>

#include <map>

namespace tide {
namespace {

constexpr int64_t kMi = int64_t{1} << 20;

SchedNode Node(const std::string& name, double cpu, int64_t mem, NodeState st = NodeState::kReady) {
  SchedNode n;
  n.name = name;
  n.state = st;
  n.capacity.cpu = cpu;
  n.capacity.memory_bytes = mem;
  return n;
}

PlacementRequest Req(double cpu, int64_t mem) {
  PlacementRequest r;
  r.workload = "users";
  r.cpu = cpu;
  r.memory_bytes = mem;
  return r;
}

TEST(SchedulerTest, PicksANodeThatFits) {
  std::vector<SchedNode> nodes = {Node("a", 1, 256 * kMi), Node("b", 4, 4096 * kMi)};
  nodes[0].allocated = {0.5, 128 * kMi};
  std::string chosen;
  ASSERT_TRUE(PlaceOne(nodes, Req(1, 512 * kMi), &chosen).ok());
  EXPECT_EQ(chosen, "b");
  // Exactly filling the free capacity fits.
  ASSERT_TRUE(PlaceOne({nodes[0]}, Req(0.5, 128 * kMi), &chosen).ok());
  EXPECT_EQ(chosen, "a");
}

TEST(SchedulerTest, ZeroCapacityIsUnlimited) {
  std::vector<SchedNode> nodes = {Node("big", 0, 0)};
  nodes[0].allocated = {100, 1000 * kMi};
  std::string chosen;
  ASSERT_TRUE(PlaceOne(nodes, Req(64, 64 * 1024 * kMi), &chosen).ok());
  EXPECT_EQ(chosen, "big");
}

TEST(SchedulerTest, NodeSelectorMustMatch) {
  std::vector<SchedNode> nodes = {Node("a", 0, 0), Node("b", 0, 0), Node("c", 0, 0)};
  nodes[0].labels = {{"zone", "a"}};
  nodes[1].labels = {{"zone", "b"}, {"disk", "ssd"}};
  nodes[2].labels = {{"disk", "ssd"}};
  PlacementRequest r = Req(0, 0);
  r.node_selector = {{"zone", "b"}, {"disk", "ssd"}};
  std::string chosen;
  ASSERT_TRUE(PlaceOne(nodes, r, &chosen).ok());
  EXPECT_EQ(chosen, "b");

  r.node_selector = {{"zone", "c"}};
  Status s = PlaceOne(nodes, r, &chosen);
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_EQ(s.message(), "0/3 nodes available: 3 not matching nodeSelector zone=c");
}

TEST(SchedulerTest, OnlyReadyNodes) {
  std::vector<SchedNode> nodes = {Node("a", 0, 0, NodeState::kNotReady),
                                  Node("b", 0, 0, NodeState::kLost), Node("c", 0, 0)};
  std::string chosen;
  ASSERT_TRUE(PlaceOne(nodes, Req(0, 0), &chosen).ok());
  EXPECT_EQ(chosen, "c");
  nodes.pop_back();
  Status s = PlaceOne(nodes, Req(0, 0), &chosen);
  EXPECT_EQ(s.message(), "0/2 nodes available: 1 NotReady, 1 Lost");
}

TEST(SchedulerTest, ReasonText) {
  std::vector<SchedNode> nodes = {Node("a", 0, 0, NodeState::kNotReady), Node("b", 2, 512 * kMi),
                                  Node("c", 2, 512 * kMi)};
  nodes[1].allocated = {0, 384 * kMi};     // 128Mi free
  nodes[2].allocated = {1.75, 448 * kMi};  // 64Mi, 0.25 cpu free
  std::string chosen;
  Status s = PlaceOne(nodes, Req(0.5, 256 * kMi), &chosen);
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_EQ(s.message(),
            "0/3 nodes available: 1 NotReady, 1 insufficient cpu (need 0.5, free 0.25), "
            "2 insufficient memory (need 256Mi, free at most 128Mi)");

  s = PlaceOne({nodes[1]}, Req(0, 256 * kMi), &chosen);
  EXPECT_EQ(s.message(), "0/1 nodes available: 1 insufficient memory (need 256Mi, free 128Mi)");
  s = PlaceOne({}, Req(0, 0), &chosen);
  EXPECT_EQ(s.message(), "0/0 nodes available: no nodes registered");
}

TEST(SchedulerTest, SpreadsReplicasOverNodes) {
  std::vector<SchedNode> nodes = {Node("a", 4, 4096 * kMi), Node("b", 4, 4096 * kMi)};
  PlacementResult r = PlaceMany(&nodes, Req(0.5, 128 * kMi), 4);
  ASSERT_EQ(r.nodes.size(), 4u);
  EXPECT_TRUE(r.reason.empty());
  std::map<std::string, int> per;
  for (const auto& n : r.nodes) per[n]++;
  EXPECT_EQ(per["a"], 2);
  EXPECT_EQ(per["b"], 2);
  EXPECT_DOUBLE_EQ(nodes[0].allocated.cpu, 1.0);
  EXPECT_EQ(nodes[1].allocated.memory_bytes, 256 * kMi);
  EXPECT_EQ(nodes[0].workload_instances, 2);
}

TEST(SchedulerTest, SpreadBeatsLoadThenLeastAllocatedThenName) {
  std::vector<SchedNode> nodes = {Node("a", 4, 0), Node("b", 4, 0), Node("c", 4, 0)};
  nodes[0].workload_instances = 1;  // already runs one: avoid
  nodes[1].allocated.cpu = 3;       // busy
  nodes[2].allocated.cpu = 1;
  std::string chosen;
  ASSERT_TRUE(PlaceOne(nodes, Req(0.5, 0), &chosen).ok());
  EXPECT_EQ(chosen, "c");
  nodes[2].allocated.cpu = 3;  // b and c tie: name decides
  ASSERT_TRUE(PlaceOne(nodes, Req(0.5, 0), &chosen).ok());
  EXPECT_EQ(chosen, "b");
}

// The load that ranks nodes is the allocated fraction after the placement: on a small node a
// request is a large share. Here the small node is the less loaded before (25% against 37.5%)
// and the more loaded after (75% against 50%).
TEST(SchedulerTest, RanksNodesByTheirLoadAfterThePlacement) {
  std::vector<SchedNode> nodes = {Node("small", 2, 0), Node("large", 8, 0)};
  nodes[0].allocated.cpu = 0.5;
  nodes[1].allocated.cpu = 3;
  std::string chosen;
  ASSERT_TRUE(PlaceOne(nodes, Req(1, 0), &chosen).ok());
  EXPECT_EQ(chosen, "large");

  std::vector<SchedNode> mem = {Node("small", 0, 1024 * kMi), Node("large", 0, 4096 * kMi)};
  mem[0].allocated.memory_bytes = 256 * kMi;   // 25% before, 75% after
  mem[1].allocated.memory_bytes = 1536 * kMi;  // 37.5% before, 50% after
  ASSERT_TRUE(PlaceOne(mem, Req(0, 512 * kMi), &chosen).ok());
  EXPECT_EQ(chosen, "large");
}

// The load is the larger of the cpu and memory fractions: a node with idle cpu but nearly full
// memory is the busier one.
TEST(SchedulerTest, MemoryFractionCountsAsMuchAsCpu) {
  std::vector<SchedNode> nodes = {Node("a", 4, 1024 * kMi), Node("b", 4, 1024 * kMi)};
  nodes[0].allocated = {0.5, 896 * kMi};  // after: cpu 25%, memory 100%
  nodes[1].allocated = {1.5, 256 * kMi};  // after: cpu 50%, memory 37.5%
  std::string chosen;
  ASSERT_TRUE(PlaceOne(nodes, Req(0.5, 128 * kMi), &chosen).ok());
  EXPECT_EQ(chosen, "b");
  // Equal cpu (37.5% after): memory (62.5% against 12.5%) decides, before the name does.
  nodes[0].allocated = {1, 512 * kMi};
  nodes[1].allocated = {1, 0};
  ASSERT_TRUE(PlaceOne(nodes, Req(0.5, 128 * kMi), &chosen).ok());
  EXPECT_EQ(chosen, "b");
}

TEST(SchedulerTest, PlaceManyStopsWhenFull) {
  std::vector<SchedNode> nodes = {Node("a", 1, 0), Node("b", 1, 0)};
  PlacementResult r = PlaceMany(&nodes, Req(0.5, 0), 5);
  EXPECT_EQ(r.nodes.size(), 4u);
  EXPECT_EQ(r.reason, "0/2 nodes available: 2 insufficient cpu (need 0.5, free at most 0)");
}

TEST(SchedulerTest, FormatBytes) {
  EXPECT_EQ(FormatBytes(256 * kMi), "256Mi");
  EXPECT_EQ(FormatBytes(2048 * kMi), "2Gi");
  EXPECT_EQ(FormatBytes(1536 * kMi), "1.5Gi");
  EXPECT_EQ(FormatBytes(1000), "1000");
  EXPECT_EQ(FormatBytes(0), "0");
}

}  // namespace
}  // namespace tide
