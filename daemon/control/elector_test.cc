// Elector and FencedTxn against a real etcd (daemon/store/etcd_testutil.h) on loopback.
#include "daemon/control/elector.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "daemon/store/etcd_testutil.h"

namespace tide {
namespace {

bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

class ElectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.ok()) << etcd_.error();
    etcd::EtcdClient::Options o;
    o.endpoints = {etcd_.url()};
    o.timeout_seconds = 2;
    client_ = std::make_unique<etcd::EtcdClient>(o);
  }
  std::unique_ptr<Elector> Make(const std::string& name) {
    ElectorOptions eo;
    eo.name = name;
    eo.key = "/tide/leader";
    eo.ttl_seconds = 2;
    eo.tick_ms = 50;
    return std::make_unique<Elector>(eo, *client_, SystemClock::Get());
  }
  int Leaders(const std::vector<std::unique_ptr<Elector>>& es) {
    int n = 0;
    for (const auto& e : es) n += e->IsLeader() ? 1 : 0;
    return n;
  }
  TestEtcd etcd_;
  std::unique_ptr<etcd::EtcdClient> client_;
};

TEST_F(ElectorTest, ThreeMembersElectExactlyOneAndAllNameIt) {
  std::vector<std::unique_ptr<Elector>> es;
  for (const char* n : {"a", "b", "c"}) es.push_back(Make(n));
  for (auto& e : es) e->Start();
  ASSERT_TRUE(Eventually([&] { return Leaders(es) == 1; }, std::chrono::seconds(5)));
  std::string leader;
  for (auto& e : es) {
    if (e->IsLeader()) leader = e->Self();
  }
  ASSERT_TRUE(Eventually(
      [&] {
        for (auto& e : es) {
          if (e->Leader() != leader) return false;
        }
        return true;
      },
      std::chrono::seconds(3)));
  // Stable: still exactly one a few renewals later (bounded).
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_LE(Leaders(es), 1);
  }
}

TEST_F(ElectorTest, AStoppedLeaderHandsOverAtOnce) {
  std::vector<std::unique_ptr<Elector>> es;
  for (const char* n : {"a", "b"}) es.push_back(Make(n));
  for (auto& e : es) e->Start();
  ASSERT_TRUE(Eventually([&] { return Leaders(es) == 1; }, std::chrono::seconds(5)));
  size_t li = es[0]->IsLeader() ? 0 : 1;
  const auto t0 = std::chrono::steady_clock::now();
  es[li]->Stop();
  ASSERT_TRUE(Eventually([&] { return es[1 - li]->IsLeader(); }, std::chrono::seconds(5)));
  // Revoking the lease deleted the key: well under a TTL (2 s).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));
}

// A leader whose lease is gone (as after a pause past its TTL) while another member took over:
// its write with the old fence is refused by etcd and nothing is written.
TEST_F(ElectorTest, ADeposedLeadersFencedWriteIsRefusedAndWritesNothing) {
  auto a = Make("a");
  a->Tick();
  a->Tick();
  ASSERT_TRUE(a->IsLeader()) << a->Why();
  const int64_t old_fence = a->FenceRevision();
  ASSERT_GT(old_fence, 0);
  ASSERT_TRUE(FencedTxn(*client_, a->key(), old_fence, {}, {etcd::Op::Put("/tide/x", "1")}).ok());

  // Depose a: its lease vanishes (as if it expired during a pause) and b wins.
  etcd::KeyValue kv;
  bool found = false;
  ASSERT_TRUE(client_->Get(a->key(), &kv, &found).ok());
  ASSERT_TRUE(found);
  ASSERT_TRUE(client_->LeaseRevoke(kv.lease).ok());
  auto b = Make("b");
  b->Tick();
  b->Tick();
  ASSERT_TRUE(b->IsLeader()) << b->Why();

  Status s = FencedTxn(*client_, a->key(), old_fence, {}, {etcd::Op::Put("/tide/x", "2")});
  EXPECT_EQ(s.code(), Status::Code::kConflict) << s.message();
  EXPECT_NE(s.message().find("deposed"), std::string::npos);
  ASSERT_TRUE(client_->Get("/tide/x", &kv, &found).ok());
  EXPECT_EQ(kv.value, "1");  // untouched

  // a itself learns it no longer leads at its next round, which starts with a fenced txn that
  // etcd refuses: counted once.
  EXPECT_EQ(a->FencedRefusals(), 0);
  int heard = 0;
  a->SetFenceRefusedListener([&] { ++heard; });
  a->Tick();
  EXPECT_FALSE(a->IsLeader());
  EXPECT_EQ(a->Leader(), "b");
  EXPECT_EQ(a->FencedRefusals(), 1);
  EXPECT_EQ(heard, 1);
  a->Tick();  // no longer believes it leads: nothing more is sent through the old fence
  EXPECT_EQ(a->FencedRefusals(), 1);
  EXPECT_EQ(b->FencedRefusals(), 0);
  // Not leading: refused before anything is sent.
  EXPECT_EQ(FencedTxn(*client_, a->key(), 0, {}, {etcd::Op::Put("/tide/x", "3")}).code(),
            Status::Code::kUnavailable);
}

// A control loop that wakes from a pause before the elector's next round does not act on the
// last round's answer: IsLeader() is bounded by the clock since the last renewal.
TEST_F(ElectorTest, IsLeaderTurnsFalseOnItsOwnWhenTheLeaseCannotBeSureWithoutARound) {
  FakeClock clock;
  ElectorOptions eo;
  eo.name = "a";
  eo.key = "/tide/leader";
  eo.ttl_seconds = 3;
  Elector a(eo, *client_, clock);
  a.Tick();
  ASSERT_TRUE(a.IsLeader()) << a.Why();
  clock.Advance(2400);  // < ttl - margin (3000 - 500)
  EXPECT_TRUE(a.IsLeader());
  clock.Advance(200);  // past it, and no round since
  EXPECT_FALSE(a.IsLeader());
  a.Tick();  // a round renews the lease: leading again
  EXPECT_TRUE(a.IsLeader()) << a.Why();
}

TEST_F(ElectorTest, FencedTxnTellsACallersFailedConditionFromDeposition) {
  auto a = Make("a");
  a->Tick();
  ASSERT_TRUE(a->IsLeader()) << a->Why();
  etcd::TxnResult t;
  Status s = FencedTxn(*client_, a->key(), a->FenceRevision(),
                       {etcd::Compare::ValueEquals("/tide/y", "nope")},
                       {etcd::Op::Put("/tide/y", "1")}, &t);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_FALSE(t.succeeded);
}

TEST_F(ElectorTest, EtcdGoneMeansNobodyLeads) {
  auto a = Make("a");
  a->Tick();
  ASSERT_TRUE(a->IsLeader());
  etcd_.Kill();
  a->Tick();
  EXPECT_FALSE(a->IsLeader());
  EXPECT_EQ(a->Leader(), "");
}

}  // namespace
}  // namespace tide
