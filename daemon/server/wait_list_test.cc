#include "daemon/server/wait_list.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <thread>

namespace tide {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Runs `n` waiters on one io thread; each records whether it was woken and how long it took.
struct Harness {
  asio::io_context ctx{1};
  WaitList list;
  std::atomic<int> woken{0}, expired{0}, armed{0};

  void Spawn(int n, Clock::duration timeout) {
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(
          ctx,
          [this, timeout]() -> asio::awaitable<void> {
            auto w = list.Arm(co_await asio::this_coro::executor, Clock::now() + timeout);
            ++armed;
            if (co_await w->Wait()) {
              ++woken;
            } else {
              ++expired;
            }
          },
          asio::detached);
    }
  }
};

TEST(WaitList, NotifyFromAnotherThreadWakesEveryWaiterWithoutAThreadEach) {
  Harness h;
  h.Spawn(1000, 60s);
  std::thread io([&] { h.ctx.run(); });
  const auto deadline = Clock::now() + 10s;
  while (h.armed < 1000 && Clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(h.list.size(), 1000u);
  const auto t0 = Clock::now();
  EXPECT_EQ(h.list.Notify(), 1000u);
  io.join();  // run() returns when every waiter is done: long before the 60 s deadline
  EXPECT_LT(Clock::now() - t0, 5s);
  EXPECT_EQ(h.woken, 1000);
  EXPECT_EQ(h.expired, 0);
  EXPECT_EQ(h.list.size(), 0u);  // a finished waiter leaves the list
}

TEST(WaitList, DeadlineWithoutNotifyExpires) {
  Harness h;
  h.Spawn(3, 20ms);
  h.ctx.run();
  EXPECT_EQ(h.expired, 3);
  EXPECT_EQ(h.woken, 0);
}

TEST(WaitList, NotifyBetweenArmAndWaitIsNotLost) {
  asio::io_context ctx{1};
  WaitList list;
  bool woken = false;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        auto w = list.Arm(co_await asio::this_coro::executor, Clock::now() + 60s);
        list.Notify();  // e.g. the state changed while the waiter was reading it
        woken = co_await w->Wait();
      },
      asio::detached);
  const auto t0 = Clock::now();
  ctx.run();
  EXPECT_TRUE(woken);
  EXPECT_LT(Clock::now() - t0, 5s);
}

TEST(WaitList, ANotifyBeforeArmDoesNotWakeALaterWaiter) {
  Harness h;
  h.list.Notify();
  h.Spawn(1, 30ms);
  h.ctx.run();
  EXPECT_EQ(h.expired, 1);
  EXPECT_EQ(h.list.notifications(), 1);
}

}  // namespace
}  // namespace tide
