#include "daemon/control/member_load.h"

#include <gtest/gtest.h>

namespace tide {
namespace {

PublishedLoad Rec(const std::string& member, int64_t at, const std::string& w, int inflight,
                  int queued, uint64_t total) {
  PublishedLoad p;
  p.member = member;
  p.at_ms = at;
  p.workloads[w] = MemberLoad{inflight, queued, total};
  return p;
}

TEST(RemoteLoadTest, SumsFreshMembersAndSkipsItselfAndStaleOnes) {
  RemoteLoad r(3000);
  r.Update("me",
           {Rec("a", 10'000, "fn", 2, 1, 5), Rec("b", 9'500, "fn", 1, 3, 7),
            Rec("me", 10'000, "fn", 50, 50, 50), Rec("old", 6'000, "fn", 9, 9, 9)},
           10'000);
  MergedLoad m = r.Of("fn");
  EXPECT_EQ(m.inflight, 3);
  EXPECT_EQ(m.queued, 4);
  EXPECT_EQ(m.requests_total, 0u);  // first heard: their past is not counted
  EXPECT_TRUE(m.active);            // but something is in flight there
  EXPECT_EQ(r.Busy(), std::vector<std::string>{"fn"});
  EXPECT_EQ(r.Of("other").inflight, 0);
}

TEST(RemoteLoadTest, RequestsOnlyGrowAcrossRestartsAndStaleMembers) {
  RemoteLoad r(3000);
  r.Update("me", {Rec("a", 0, "fn", 0, 0, 100)}, 0);
  r.Update("me", {Rec("a", 500, "fn", 0, 0, 130)}, 500);
  EXPECT_EQ(r.Of("fn").requests_total, 30u);
  EXPECT_TRUE(r.Of("fn").active);
  // a restarted: its counter went back; nothing is subtracted, nothing counted twice.
  r.Update("me", {Rec("a", 1000, "fn", 0, 0, 4)}, 1000);
  EXPECT_EQ(r.Of("fn").requests_total, 30u);
  r.Update("me", {Rec("a", 1500, "fn", 0, 0, 10)}, 1500);
  EXPECT_EQ(r.Of("fn").requests_total, 36u);
  // Nothing new: idle, the total stays.
  r.Update("me", {Rec("a", 2000, "fn", 0, 0, 10)}, 2000);
  EXPECT_FALSE(r.Of("fn").active);
  EXPECT_TRUE(r.Busy().empty());
  EXPECT_EQ(r.Of("fn").requests_total, 36u);
  // a goes stale: its in-flight requests stop counting, the total never goes back.
  r.Update("me", {Rec("a", 2000, "fn", 5, 0, 10)}, 9000);
  EXPECT_EQ(r.Of("fn").inflight, 0);
  EXPECT_EQ(r.Of("fn").requests_total, 36u);
  // A workload that appears in a member already heard counts from zero.
  PublishedLoad two = Rec("a", 9500, "fn", 0, 0, 12);
  two.workloads["new"] = MemberLoad{0, 1, 3};
  r.Update("me", {Rec("a", 9000, "fn", 0, 0, 10)}, 9000);
  r.Update("me", {two}, 9500);
  EXPECT_EQ(r.Of("fn").requests_total, 38u);
  EXPECT_EQ(r.Of("new").requests_total, 3u);
  EXPECT_EQ(r.Of("new").queued, 1);
}

}  // namespace
}  // namespace tide
