#include "agent/exit_watcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

namespace tide {
namespace {

int SpawnSleep() {
  const char* argv[] = {"sleep", "100", nullptr};
  pid_t pid = -1;
  char* const env[] = {nullptr};
  EXPECT_EQ(::posix_spawnp(&pid, "sleep", nullptr, nullptr, const_cast<char* const*>(argv), env),
            0);
  return pid;
}

bool WaitUntil(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

TEST(ExitWatcherTest, CallsTheListenerOncePerEndAndForgetsTheProcess) {
  ExitWatcher w;
  std::atomic<int> calls{0};
  w.SetListener([&] { ++calls; });
  int a = SpawnSleep(), b = SpawnSleep();
  w.Watch(a);
  w.Watch(a);  // twice: still one
  w.Watch(b);
  EXPECT_EQ(w.watched(), 2);
  ::kill(a, SIGKILL);
  ASSERT_TRUE(WaitUntil([&] { return calls.load() == 1; }));
  EXPECT_EQ(w.watched(), 1);
  ::waitpid(a, nullptr, 0);
  ::kill(b, SIGKILL);
  ASSERT_TRUE(WaitUntil([&] { return calls.load() == 2; }));
  EXPECT_EQ(w.watched(), 0);
  ::waitpid(b, nullptr, 0);
}

TEST(ExitWatcherTest, AGonePidIsNotWatched) {
  ExitWatcher w;
  int a = SpawnSleep();
  ::kill(a, SIGKILL);
  ::waitpid(a, nullptr, 0);
  w.Watch(a);
  EXPECT_EQ(w.watched(), 0);
  w.Watch(0);
  w.Watch(-1);
  EXPECT_EQ(w.watched(), 0);
}

}  // namespace
}  // namespace tide
