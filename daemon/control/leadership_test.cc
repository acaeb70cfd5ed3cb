#include "daemon/control/leadership.h"

#include <gtest/gtest.h>

#include "api/clock.h"

namespace tide {
namespace {

LeadershipConfig Cfg(const std::string& name = "a") {
  LeadershipConfig c;
  c.name = name;
  c.ttl_ms = 3000;
  c.renew_ms = 1000;
  c.margin_ms = 500;
  return c;
}

// A member holding lease 7, renewed at `renewed`, seeing key `holder` on `key_lease`.
LeadershipView View(const FakeClock& clock, int64_t renewed, bool exists,
                    const std::string& holder = "", int64_t key_lease = 0) {
  LeadershipView v;
  v.now_ms = clock.NowMs();
  v.lease_id = 7;
  v.renewed_at_ms = renewed;
  v.key_read = true;
  v.key_exists = exists;
  v.key_holder = holder;
  v.key_lease = key_lease;
  v.key_create_revision = exists ? 42 : 0;
  return v;
}

TEST(Leadership, WithoutALeaseTheFirstThingIsToGetOne) {
  FakeClock clock;
  LeadershipView v;
  v.now_ms = clock.NowMs();
  v.key_read = true;
  LeadershipDecision d = DecideLeadership(Cfg(), v);
  EXPECT_TRUE(d.grant_lease);
  EXPECT_FALSE(d.campaign);
  EXPECT_FALSE(d.leader);
}

TEST(Leadership, NoLeaderKeyMeansCampaign) {
  FakeClock clock;
  LeadershipDecision d = DecideLeadership(Cfg(), View(clock, clock.NowMs(), false));
  EXPECT_TRUE(d.campaign);
  EXPECT_FALSE(d.leader);
  EXPECT_EQ(d.leader_name, "");
}

TEST(Leadership, OwnKeyOnOwnLeaseLeadsWithItsCreateRevisionAsFence) {
  FakeClock clock;
  LeadershipDecision d = DecideLeadership(Cfg(), View(clock, clock.NowMs(), true, "a", 7));
  EXPECT_TRUE(d.leader);
  EXPECT_EQ(d.fence_revision, 42);
  EXPECT_EQ(d.leader_name, "a");
  EXPECT_FALSE(d.campaign);
  EXPECT_FALSE(d.renew_lease);  // renewed just now
}

TEST(Leadership, RenewsEveryRenewIntervalWhetherLeadingOrNot) {
  FakeClock clock;
  const int64_t renewed = clock.NowMs();
  clock.Advance(999);
  EXPECT_FALSE(DecideLeadership(Cfg(), View(clock, renewed, true, "b", 9)).renew_lease);
  clock.Advance(1);
  EXPECT_TRUE(DecideLeadership(Cfg(), View(clock, renewed, true, "b", 9)).renew_lease);
  EXPECT_TRUE(DecideLeadership(Cfg(), View(clock, renewed, true, "a", 7)).renew_lease);
}

TEST(Leadership, SomeoneElsesKeyIsFollowed) {
  FakeClock clock;
  LeadershipDecision d = DecideLeadership(Cfg(), View(clock, clock.NowMs(), true, "b", 9));
  EXPECT_FALSE(d.leader);
  EXPECT_FALSE(d.campaign);
  EXPECT_EQ(d.leader_name, "b");
}

// Hostile: a member restarted under the same name sees its old key (old lease) still there. It
// must not lead on a key whose lease it does not hold (the old lease may be renewed by nobody,
// but its expiry is etcd's call).
TEST(Leadership, OurNameOnAnotherLeaseIsNotLeadership) {
  FakeClock clock;
  LeadershipDecision d = DecideLeadership(Cfg(), View(clock, clock.NowMs(), true, "a", 3));
  EXPECT_FALSE(d.leader);
  EXPECT_FALSE(d.campaign);
}

// Hostile: the leader was paused (SIGSTOP) or cut off. As its lease nears expiry it stops acting
// before etcd can hand leadership to another member.
TEST(Leadership, ALeaderNotRenewedInTimeStopsLeadingBeforeTheLeaseCanExpire) {
  FakeClock clock;
  const int64_t renewed = clock.NowMs();
  clock.Advance(2499);
  EXPECT_TRUE(DecideLeadership(Cfg(), View(clock, renewed, true, "a", 7)).leader);
  clock.Advance(1);  // ttl - margin
  LeadershipDecision d = DecideLeadership(Cfg(), View(clock, renewed, true, "a", 7));
  EXPECT_FALSE(d.leader);
  EXPECT_TRUE(d.renew_lease);
  clock.Advance(500);  // a whole TTL without a renewal: the lease may be gone
  d = DecideLeadership(Cfg(), View(clock, renewed, true, "a", 7));
  EXPECT_FALSE(d.leader);
  EXPECT_TRUE(d.grant_lease);
  EXPECT_NE(d.why.find("stepping down"), std::string::npos) << d.why;
}

TEST(Leadership, AnUnreadableKeyMeansNobodyIsKnownToLead) {
  FakeClock clock;
  LeadershipView v = View(clock, clock.NowMs(), true, "a", 7);
  v.key_read = false;
  LeadershipDecision d = DecideLeadership(Cfg(), v);
  EXPECT_FALSE(d.leader);
  EXPECT_FALSE(d.campaign);
  EXPECT_EQ(d.leader_name, "");
}

TEST(Leadership, SurelyAliveIsStrictAtTtlMinusMargin) {
  EXPECT_TRUE(LeaseSurelyAlive(Cfg(), 0, 2499));
  EXPECT_FALSE(LeaseSurelyAlive(Cfg(), 0, 2500));
}

}  // namespace
}  // namespace tide
