#include "daemon/gateway/freeze_policy.h"

#include <gtest/gtest.h>

#include "api/clock.h"

// The gateway's freeze decision on a FakeClock: idle endpoints freeze exactly freeze_after after
// their last request ended, busy and frozen ones never, and the plan says when to look again.
namespace tide::gw {
namespace {

using V = std::vector<std::string>;

TEST(FreezePolicy, FreezesExactlyWhenIdleLongEnough) {
  FakeClock clock;
  const int64_t t0 = clock.NowMs();
  std::vector<FreezeCandidate> eps = {{"a", 0, t0, false}};
  FreezePlan p = PlanFreezes(eps, 1000, clock.NowMs());
  EXPECT_TRUE(p.freeze.empty());
  EXPECT_EQ(p.next_ms, t0 + 1000);
  clock.Advance(999);
  EXPECT_TRUE(PlanFreezes(eps, 1000, clock.NowMs()).freeze.empty());
  clock.Advance(1);
  p = PlanFreezes(eps, 1000, clock.NowMs());
  EXPECT_EQ(p.freeze, V{"a"});
  EXPECT_EQ(p.next_ms, -1);  // nothing else will come due
}

TEST(FreezePolicy, BusyAndFrozenEndpointsAreLeftAlone) {
  FakeClock clock;
  const int64_t t0 = clock.NowMs();
  clock.Advance(5000);
  std::vector<FreezeCandidate> eps = {{"busy", 1, t0, false},
                                      {"frozen", 0, t0, true},
                                      {"idle", 0, t0, false},
                                      {"recent", 0, t0 + 4500, false}};
  FreezePlan p = PlanFreezes(eps, 1000, clock.NowMs());
  EXPECT_EQ(p.freeze, V{"idle"});
  EXPECT_EQ(p.next_ms, t0 + 5500);  // "recent" comes due next
}

TEST(FreezePolicy, NextIsTheEarliestDeadline) {
  std::vector<FreezeCandidate> eps = {
      {"a", 0, 300, false}, {"b", 0, 100, false}, {"c", 0, 200, false}};
  FreezePlan p = PlanFreezes(eps, 1000, 500);
  EXPECT_TRUE(p.freeze.empty());
  EXPECT_EQ(p.next_ms, 1100);
  p = PlanFreezes(eps, 1000, 1200);
  EXPECT_EQ(p.freeze, (V{"b", "c"}));
  EXPECT_EQ(p.next_ms, 1300);
}

TEST(FreezePolicy, NoKeepAliveNeverFreezes) {
  std::vector<FreezeCandidate> eps = {{"a", 0, 0, false}};
  FreezePlan p = PlanFreezes(eps, 0, 1'000'000);
  EXPECT_TRUE(p.freeze.empty());
  EXPECT_EQ(p.next_ms, -1);
  EXPECT_EQ(FreezeAfterMs(0), 0);
  EXPECT_EQ(FreezeAfterMs(-1), 0);
  EXPECT_EQ(FreezeAfterMs(1), 1000);
  EXPECT_EQ(FreezeAfterMs(0.0005), 1);  // rounded up: never early
}

}  // namespace
}  // namespace tide::gw
