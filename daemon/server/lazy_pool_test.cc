#include "daemon/server/lazy_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

namespace tide {
namespace {

using namespace std::chrono_literals;

// Waits (deadline 10 s) until pred() holds.
template <class Pred>
bool WaitUntil(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(LazyPoolTest, NoThreadUntilATaskAndOneForCallsOneAtATime) {
  LazyPool pool(64);
  EXPECT_EQ(pool.threads(), 0u);  // httplib::ThreadPool(64) would have started 64
  std::atomic<int> done{0};
  for (int i = 0; i < 50; ++i) {
    pool.enqueue([&] { ++done; });
    ASSERT_TRUE(WaitUntil([&] { return done == i + 1; }));
    // The call is answered: its thread waits for the next one, which it takes.
    ASSERT_TRUE(WaitUntil([&] { return pool.idle() == pool.threads(); }));
  }
  EXPECT_EQ(pool.threads(), 1u);
}

TEST(LazyPoolTest, ConcurrentCallsGetThreadsUpToTheBound) {
  LazyPool pool(4);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> running{0}, done{0};
  for (int i = 0; i < 10; ++i) {
    pool.enqueue([&] {
      ++running;
      std::unique_lock<std::mutex> lk(mu);
      cv.wait_for(lk, 10s, [&] { return release; });
      ++done;
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return running == 4; }));  // four at once, the rest queued
  EXPECT_EQ(pool.threads(), 4u);
  {
    std::lock_guard<std::mutex> lk(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(WaitUntil([&] { return done == 10; }));  // the queued six ran too
  EXPECT_EQ(pool.threads(), 4u);
}

TEST(LazyPoolTest, ShutdownRunsWhatIsQueuedAndDropsWhatComesAfter) {
  std::atomic<int> done{0};
  LazyPool pool(1);
  for (int i = 0; i < 5; ++i) pool.enqueue([&] { ++done; });
  pool.shutdown();
  EXPECT_EQ(done, 5);
  pool.enqueue([&] { ++done; });
  EXPECT_EQ(done, 5);
  EXPECT_EQ(pool.threads(), 0u);
}

}  // namespace
}  // namespace tide
