// RouteTable (daemon/gateway/gateway_state.h) without sockets: which endpoint a request gets, when
// it queues, who is woken, and when the load signal goes out. Time is a FakeClock; the backend
// records the load signals.
#include "daemon/gateway/gateway_state.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tide::gw {
namespace {

struct LoadCall {
  std::string workload;
  int inflight;
  int queued;
};

class RecordingBackend : public GatewayBackend {
 public:
  std::optional<RouteInfo> Route(const std::string&) override { return RouteInfo{}; }
  void OnLoad(const std::string& workload, int inflight, int queued) override {
    calls.push_back({workload, inflight, queued});
  }
  std::vector<LoadCall> calls;
};

class RouteTableTest : public ::testing::Test {
 protected:
  static std::vector<Endpoint> Endpoints(const std::vector<std::string>& ids) {
    std::vector<Endpoint> out;
    int port = 9000;
    for (const auto& id : ids) out.push_back({id, "127.0.0.1", port++, "", false});
    return out;
  }

  // Acquires for workload "w" with the given per-instance concurrency. A queued request's
  // waiter is returned in *waiter; its wake-ups are counted in woken_.
  RouteTable::Admit Acquire(Lease* lease, std::shared_ptr<Waiter>* waiter = nullptr,
                            int concurrency = 0, size_t max_queue = 10) {
    RouteInfo route;
    route.concurrency = concurrency;
    std::shared_ptr<Waiter> queued;
    const auto admit = table_.Acquire(
        "w", route, max_queue, clock_.NowMs(),
        [this] {
          auto w = std::make_shared<Waiter>();
          w->wake = [this, raw = w.get()] { woken_.push_back(raw); };
          return w;
        },
        lease, &queued);
    if (waiter) *waiter = std::move(queued);
    return admit;
  }

  static std::string Id(const Lease& l) { return l ? l.ep->ep.instance_id : ""; }

  FakeClock clock_;
  RecordingBackend backend_;
  RouteTable table_{backend_, clock_, nullptr};
  std::vector<Waiter*> woken_;
};

// "Acquire() grants the least-loaded ready endpoint with room".
TEST_F(RouteTableTest, GrantsTheLeastLoadedEndpoint) {
  table_.SetEndpoints("w", Endpoints({"a", "b", "c"}));
  std::vector<Lease> leases(3);
  for (auto& l : leases) ASSERT_EQ(Acquire(&l), RouteTable::Admit::kGranted);
  EXPECT_EQ(table_.InFlight("a"), 1);
  EXPECT_EQ(table_.InFlight("b"), 1);
  EXPECT_EQ(table_.InFlight("c"), 1);
  Lease* on_b = nullptr;
  for (auto& l : leases)
    if (Id(l) == "b") on_b = &l;
  ASSERT_NE(on_b, nullptr);
  table_.Release(on_b);
  Lease next;
  ASSERT_EQ(Acquire(&next), RouteTable::Admit::kGranted);
  EXPECT_EQ(Id(next), "b") << "b is the only endpoint with nothing in flight";
  for (auto& l : leases) table_.Release(&l);
  table_.Release(&next);
  EXPECT_EQ(table_.Load("w").inflight, 0);
}

// "in-flight < concurrency": an endpoint at its limit gets no more; the request queues and the
// released slot goes to it.
TEST_F(RouteTableTest, ConcurrencyIsAPerEndpointLimitAndAReleaseWakesTheWaiter) {
  table_.SetEndpoints("w", Endpoints({"a"}));
  Lease first, second, third;
  ASSERT_EQ(Acquire(&first, nullptr, 2), RouteTable::Admit::kGranted);
  ASSERT_EQ(Acquire(&second, nullptr, 2), RouteTable::Admit::kGranted);
  std::shared_ptr<Waiter> w;
  ASSERT_EQ(Acquire(&third, &w, 2), RouteTable::Admit::kQueued) << "a is at its limit of 2";
  EXPECT_EQ(table_.InFlight("a"), 2);
  EXPECT_FALSE(w->cold) << "an endpoint exists: this is a wait, not a cold start";
  EXPECT_TRUE(woken_.empty());
  table_.Release(&first);
  ASSERT_EQ(woken_.size(), 1u);
  EXPECT_EQ(woken_[0], w.get());
  EXPECT_EQ(w->outcome, Waiter::Outcome::kGranted);
  EXPECT_EQ(Id(w->lease), "a");
  EXPECT_EQ(table_.InFlight("a"), 2);
  EXPECT_EQ(table_.Load("w").queued, 0);
}

// "Release() frees the slot and hands it to the oldest waiter".
TEST_F(RouteTableTest, ReleasedSlotsGoToWaitersInArrivalOrder) {
  table_.SetEndpoints("w", Endpoints({"a"}));
  Lease busy, unused;
  ASSERT_EQ(Acquire(&busy, nullptr, 1), RouteTable::Admit::kGranted);
  std::shared_ptr<Waiter> w1, w2;
  ASSERT_EQ(Acquire(&unused, &w1, 1), RouteTable::Admit::kQueued);
  clock_.Advance(5);
  ASSERT_EQ(Acquire(&unused, &w2, 1), RouteTable::Admit::kQueued);
  table_.Release(&busy);
  EXPECT_EQ(w1->outcome, Waiter::Outcome::kGranted);
  EXPECT_EQ(w2->outcome, Waiter::Outcome::kPending);
  table_.Release(&w1->lease);
  EXPECT_EQ(w2->outcome, Waiter::Outcome::kGranted);
}

// A higher concurrency (a manifest change) gives the waiting requests the new room at once,
// and they keep their place ahead of the request that brought the change.
TEST_F(RouteTableTest, RaisedConcurrencyServesTheWaitersFirst) {
  table_.SetEndpoints("w", Endpoints({"a"}));
  Lease busy, unused, later;
  ASSERT_EQ(Acquire(&busy, nullptr, 1), RouteTable::Admit::kGranted);
  std::shared_ptr<Waiter> w;
  ASSERT_EQ(Acquire(&unused, &w, 1), RouteTable::Admit::kQueued);
  std::shared_ptr<Waiter> w_later;
  ASSERT_EQ(Acquire(&later, &w_later, 2), RouteTable::Admit::kQueued)
      << "the one new slot belongs to the request that was already waiting";
  EXPECT_EQ(w->outcome, Waiter::Outcome::kGranted);
  ASSERT_EQ(woken_.size(), 1u);
  EXPECT_EQ(woken_[0], w.get());
  EXPECT_EQ(table_.InFlight("a"), 2);
}

// "the bounded FIFO queue": it holds max_queue requests; one more is turned away. At zero
// ready endpoints a queued request is a cold start.
TEST_F(RouteTableTest, QueueHoldsExactlyMaxQueueRequests) {
  Lease l;
  std::shared_ptr<Waiter> w1, w2, w3;
  ASSERT_EQ(Acquire(&l, &w1, 0, 2), RouteTable::Admit::kQueued);
  ASSERT_EQ(Acquire(&l, &w2, 0, 2), RouteTable::Admit::kQueued);
  EXPECT_EQ(Acquire(&l, &w3, 0, 2), RouteTable::Admit::kQueueFull);
  EXPECT_EQ(w3, nullptr);
  EXPECT_TRUE(w1->cold);
  EXPECT_EQ(table_.Load("w").queued, 2);
  EXPECT_EQ(table_.Load("w").requests_total, 2u) << "a turned-away request is not admitted";
  // The endpoint arrives: both waiters are granted at once, in order.
  table_.SetEndpoints("w", Endpoints({"a"}));
  ASSERT_EQ(woken_.size(), 2u);
  EXPECT_EQ(woken_[0], w1.get());
  EXPECT_EQ(woken_[1], w2.get());
  EXPECT_EQ(table_.InFlight("a"), 2);
}

TEST_F(RouteTableTest, ZeroMaxQueueTurnsAwayEveryRequestWithoutRoom) {
  Lease l;
  std::shared_ptr<Waiter> w;
  EXPECT_EQ(Acquire(&l, &w, 0, 0), RouteTable::Admit::kQueueFull);
  EXPECT_EQ(table_.Load("w").queued, 0);
}

// A retry after a failed connect goes to another endpoint, even a busier one, or nowhere.
TEST_F(RouteTableTest, TryAcquireOtherNeverReturnsTheFailedEndpoint) {
  table_.SetEndpoints("w", Endpoints({"a", "b"}));
  std::vector<Lease> leases(3);
  for (auto& l : leases) ASSERT_EQ(Acquire(&l), RouteTable::Admit::kGranted);  // a:2, b:1
  Lease* on_b = nullptr;
  for (auto& l : leases)
    if (Id(l) == "b") on_b = &l;
  ASSERT_NE(on_b, nullptr);
  Lease retry = table_.TryAcquireOther(*on_b);
  EXPECT_EQ(Id(retry), "a") << "a is busier, but b just failed";
  table_.Release(&retry);
  for (auto& l : leases) table_.Release(&l);

  table_.SetEndpoints("w", Endpoints({"a"}));
  Lease only;
  ASSERT_EQ(Acquire(&only), RouteTable::Admit::kGranted);
  EXPECT_FALSE(table_.TryAcquireOther(only)) << "no other endpoint";
  table_.Release(&only);
}

// "endpoints that leave the set drain": no new requests, but their in-flight requests still
// count until released.
TEST_F(RouteTableTest, AnEndpointThatLeavesTheSetDrains) {
  table_.SetEndpoints("w", Endpoints({"a"}));
  Lease l;
  ASSERT_EQ(Acquire(&l), RouteTable::Admit::kGranted);
  EXPECT_EQ(table_.SetEndpoints("w", {}), (std::vector<std::string>{"a"}));
  EXPECT_EQ(table_.InFlight("a"), 1) << "still serving its request";
  Lease none;
  std::shared_ptr<Waiter> w;
  EXPECT_EQ(Acquire(&none, &w), RouteTable::Admit::kQueued);
  EXPECT_TRUE(w->cold);
  table_.Release(&l);
  EXPECT_EQ(table_.InFlight("a"), 0);
  EXPECT_EQ(w->outcome, Waiter::Outcome::kPending) << "a draining endpoint takes no waiter";
  EXPECT_TRUE(table_.CancelWaiter("w", w));
  EXPECT_EQ(table_.Load("w").queued, 0);
  EXPECT_FALSE(table_.CancelWaiter("w", w)) << "already removed";
}

// Load signal: with a flush scheduler, a change of the queued count goes out at once; a change
// of only the in-flight count at most every kLoadIntervalMs, the rest at the flush.
TEST_F(RouteTableTest, LoadSignalIsRateLimitedExceptForQueueChanges) {
  int scheduled = 0;
  table_.SetFlushScheduler([&] { ++scheduled; });
  table_.SetEndpoints("w", Endpoints({"a"}));
  Lease l1, l2, l3, l4;
  ASSERT_EQ(Acquire(&l1, nullptr, 3), RouteTable::Admit::kGranted);
  ASSERT_EQ(backend_.calls.size(), 1u) << "the first change goes out at once";
  EXPECT_EQ(backend_.calls.back().inflight, 1);

  clock_.Advance(RouteTable::kLoadIntervalMs - 1);
  ASSERT_EQ(Acquire(&l2, nullptr, 3), RouteTable::Admit::kGranted);
  ASSERT_EQ(Acquire(&l3, nullptr, 3), RouteTable::Admit::kGranted);
  EXPECT_EQ(backend_.calls.size(), 1u) << "in-flight changes within the interval wait";
  EXPECT_EQ(scheduled, 1) << "one flush for any number of deferred changes";
  table_.FlushLoads();
  ASSERT_EQ(backend_.calls.size(), 2u);
  EXPECT_EQ(backend_.calls.back().inflight, 3);

  std::shared_ptr<Waiter> w;
  ASSERT_EQ(Acquire(&l4, &w, 3), RouteTable::Admit::kQueued);
  ASSERT_EQ(backend_.calls.size(), 3u) << "a queued request is signalled at once";
  EXPECT_EQ(backend_.calls.back().queued, 1);

  clock_.Advance(RouteTable::kLoadIntervalMs);
  table_.CancelWaiter("w", w);
  ASSERT_EQ(backend_.calls.size(), 4u);
  EXPECT_EQ(backend_.calls.back().queued, 0);
  clock_.Advance(RouteTable::kLoadIntervalMs);
  table_.Release(&l1);
  ASSERT_EQ(backend_.calls.size(), 5u) << "a full interval after the last signal: at once";
  EXPECT_EQ(backend_.calls.back().inflight, 2);
  table_.Release(&l2);
  table_.Release(&l3);
  table_.FlushLoads();
  EXPECT_EQ(backend_.calls.back().inflight, 0) << "the last signal carries the latest counts";
}

TEST_F(RouteTableTest, RemovedWorkloadWakesItsWaitersAsRemoved) {
  Lease l;
  std::shared_ptr<Waiter> w;
  ASSERT_EQ(Acquire(&l, &w), RouteTable::Admit::kQueued);
  table_.RemoveWorkload("w");
  ASSERT_EQ(woken_.size(), 1u);
  EXPECT_EQ(w->outcome, Waiter::Outcome::kRemoved);
  EXPECT_EQ(table_.Load("w").queued, 0);
}

}  // namespace
}  // namespace tide::gw
