// The route table's frozen tier (gateway_freeze.cc) without sockets, on a FakeClock: endpoints
// freeze after freezeAfterSeconds without a request, warm endpoints are preferred, a frozen one
// is thawed by the request that takes it (in arrival order), and a thaw that finds the instance
// gone sends the request to another endpoint or to the cold-start queue instead of failing it.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "daemon/gateway/gateway_state.h"
#include "daemon/metrics.h"

namespace tide::gw {
namespace {

class FreezingBackend : public GatewayBackend {
 public:
  std::optional<RouteInfo> Route(const std::string&) override { return RouteInfo{}; }
  void OnLoad(const std::string&, int, int queued) override { last_queued = queued; }
  Status Freeze(const Endpoint& ep, bool freeze) override {
    calls.push_back((freeze ? "freeze " : "thaw ") + ep.instance_id);
    if (!freeze && ep.instance_id == dead) return Status::NotFound("gone");
    return Status::Ok();
  }
  std::vector<std::string> calls;
  std::string dead;
  int last_queued = 0;
};

class FreezeTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_.SetFreezeWake([this](int64_t due) { wakes_.push_back(due); });
  }
  static std::vector<Endpoint> Endpoints(const std::vector<std::string>& ids) {
    std::vector<Endpoint> out;
    int port = 9000;
    for (const auto& id : ids) out.push_back({id, "127.0.0.1", port++, "n1", false});
    return out;
  }
  RouteTable::Admit Acquire(Lease* lease, std::shared_ptr<Waiter>* waiter = nullptr,
                            int concurrency = 0) {
    RouteInfo route;
    route.concurrency = concurrency;
    route.freeze_after_seconds = 1;
    std::shared_ptr<Waiter> queued;
    auto admit = table_.Acquire(
        "w", route, 10, clock_.NowMs(), [] { return std::make_shared<Waiter>(); }, lease, &queued);
    if (waiter) *waiter = std::move(queued);
    return admit;
  }
  // Runs the freeze thread's work once: what is due is frozen through the backend.
  int64_t FreezeDue() {
    int64_t next = -1;
    for (const auto& ep : table_.TakeDueFreezes(&next)) table_.ApplyFreeze(ep);
    return next;
  }
  static std::string Id(const Lease& l) { return l ? l.ep->ep.instance_id : ""; }
  // One request and its end: the table learns freezeAfterSeconds from the route at a request.
  void OneRequest() {
    Lease l;
    ASSERT_EQ(Acquire(&l), RouteTable::Admit::kGranted);
    table_.Release(&l);
  }

  FakeClock clock_;
  FreezingBackend backend_;
  Metrics metrics_;
  RouteTable table_{backend_, clock_, &metrics_};
  std::vector<int64_t> wakes_;
};

TEST_F(FreezeTableTest, IdleEndpointFreezesAfterFreezeAfterAndTheNextRequestThawsIt) {
  table_.SetEndpoints("w", Endpoints({"a"}));
  Lease l;
  ASSERT_EQ(Acquire(&l), RouteTable::Admit::kGranted);
  EXPECT_FALSE(l.thawed);
  clock_.Advance(100);
  const int64_t ended = clock_.NowMs();
  table_.Release(&l);
  ASSERT_FALSE(wakes_.empty());
  EXPECT_EQ(wakes_.back(), ended + 1000);  // the freeze thread is told when "a" comes due
  clock_.Advance(999);
  EXPECT_EQ(FreezeDue(), ended + 1000);
  EXPECT_TRUE(backend_.calls.empty());
  clock_.Advance(1);
  EXPECT_EQ(FreezeDue(), -1);
  EXPECT_EQ(backend_.calls, std::vector<std::string>{"freeze a"});

  ASSERT_EQ(Acquire(&l), RouteTable::Admit::kGranted);
  EXPECT_EQ(Id(l), "a");
  EXPECT_TRUE(l.thawed);
  EXPECT_EQ(backend_.calls.back(), "thaw a");
  const std::string text = metrics_.Serve();
  EXPECT_NE(text.find("tide_thaws_total{workload=\"w\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("tide_thaw_duration_seconds_count{workload=\"w\"} 1"), std::string::npos);
  table_.Release(&l);
}

TEST_F(FreezeTableTest, BusyEndpointsAreNeverFrozenAndWarmOnesArePreferred) {
  table_.SetEndpoints("w", Endpoints({"a", "b"}));
  Lease la, lb;
  ASSERT_EQ(Acquire(&la), RouteTable::Admit::kGranted);
  ASSERT_EQ(Acquire(&lb), RouteTable::Admit::kGranted);
  table_.Release(&lb);  // b idle, a busy
  clock_.Advance(5000);
  FreezeDue();
  ASSERT_EQ(backend_.calls.size(), 1u);
  const std::string frozen = backend_.calls[0].substr(7);
  EXPECT_NE(frozen, Id(la));  // the busy one stays warm
  // Unlimited concurrency: the next request joins the warm, busy endpoint, no thaw.
  Lease lc;
  ASSERT_EQ(Acquire(&lc), RouteTable::Admit::kGranted);
  EXPECT_EQ(Id(lc), Id(la));
  EXPECT_FALSE(lc.thawed);
  EXPECT_EQ(backend_.calls.size(), 1u);
  table_.Release(&lc);
  table_.Release(&la);
}

TEST_F(FreezeTableTest, ThawsInArrivalOrderWhenWarmOnesAreFull) {
  table_.SetEndpoints("w", Endpoints({"a", "b"}));
  clock_.Advance(100);
  Lease l1;
  ASSERT_EQ(Acquire(&l1, nullptr, 1), RouteTable::Admit::kGranted);
  table_.Release(&l1);
  clock_.Advance(2000);
  FreezeDue();
  ASSERT_EQ(backend_.calls.size(), 2u);  // both idle: both frozen
  Lease first, second;
  ASSERT_EQ(Acquire(&first, nullptr, 1), RouteTable::Admit::kGranted);
  ASSERT_EQ(Acquire(&second, nullptr, 1), RouteTable::Admit::kGranted);
  EXPECT_TRUE(first.thawed);
  EXPECT_TRUE(second.thawed);
  EXPECT_NE(Id(first), Id(second));
  EXPECT_EQ(backend_.calls[2], "thaw " + Id(first));
  EXPECT_EQ(backend_.calls[3], "thaw " + Id(second));
  table_.Release(&first);
  table_.Release(&second);
}

TEST_F(FreezeTableTest, FreezeDecidedButRequestCameFirstStaysWarm) {
  table_.SetEndpoints("w", Endpoints({"a"}));
  OneRequest();
  clock_.Advance(2000);
  int64_t next = 0;
  auto due = table_.TakeDueFreezes(&next);
  ASSERT_EQ(due.size(), 1u);
  Lease l;
  ASSERT_EQ(Acquire(&l), RouteTable::Admit::kGranted);  // takes it before the freeze call
  EXPECT_FALSE(l.thawed);
  table_.ApplyFreeze(due[0]);
  EXPECT_TRUE(backend_.calls.empty());  // never frozen under a request
  table_.Release(&l);
}

TEST_F(FreezeTableTest, ThawOfADeadInstanceFallsBackToAColdStart) {
  table_.SetEndpoints("w", Endpoints({"a"}));
  OneRequest();
  clock_.Advance(2000);
  FreezeDue();
  backend_.dead = "a";
  Lease l;
  std::shared_ptr<Waiter> w;
  EXPECT_EQ(Acquire(&l, &w), RouteTable::Admit::kQueued);  // not a 502: it waits
  ASSERT_TRUE(w);
  EXPECT_TRUE(w->cold);
  EXPECT_EQ(backend_.last_queued, 1);  // activation asked of the control plane
  EXPECT_EQ(table_.InFlight("a"), 0);
  // The agent restarts it and the control plane lists it again: the waiter gets it, warm.
  table_.SetEndpoints("w", {});
  table_.SetEndpoints("w", Endpoints({"a"}));
  EXPECT_EQ(w->outcome, Waiter::Outcome::kGranted);
  EXPECT_FALSE(w->lease.thaw);
  table_.Release(&w->lease);
}

TEST_F(FreezeTableTest, EndpointReportedFrozenIsThawedByItsFirstRequest) {
  auto eps = Endpoints({"a"});
  eps[0].frozen = true;  // frozen before a tided restart: the agent reports it
  table_.SetEndpoints("w", eps);
  Lease l;
  ASSERT_EQ(Acquire(&l), RouteTable::Admit::kGranted);
  EXPECT_TRUE(l.thawed);
  EXPECT_EQ(backend_.calls, std::vector<std::string>{"thaw a"});
  table_.Release(&l);
}

}  // namespace
}  // namespace tide::gw
