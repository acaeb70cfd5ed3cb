#include "api/service_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

// The sd_notify protocol against a unix datagram socket standing in for systemd's.
namespace tide {
namespace {

using namespace std::chrono_literals;

class FakeNotifySocket {
 public:
  FakeNotifySocket() {
    char tmpl[] = "/tmp/tide-notify-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/notify.sock";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~FakeNotifySocket() {
    ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  const std::string& path() const { return path_; }
  // The next datagram, or "" when none arrives within timeout.
  std::string Next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::string dir_, path_;
  int fd_ = -1;
};

class ServiceNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  void TearDown() override { SetUp(); }
};

TEST_F(ServiceNotifyTest, NoSocketIsANoOp) {
  ::setenv("WATCHDOG_USEC", "1000000", 1);  // a watchdog without a socket is not one
  ServiceNotify n;
  EXPECT_FALSE(n.enabled());
  EXPECT_EQ(n.watchdog_interval().count(), 0);
  EXPECT_FALSE(n.Ready("serving"));
  EXPECT_FALSE(n.Watchdog());
  EXPECT_FALSE(n.Stopping("bye"));
}

TEST_F(ServiceNotifyTest, SendsReadyWatchdogAndStopping) {
  FakeNotifySocket sock;
  ::setenv("NOTIFY_SOCKET", sock.path().c_str(), 1);
  ServiceNotify n;
  ASSERT_TRUE(n.enabled());
  EXPECT_EQ(n.watchdog_interval().count(), 0);  // no WATCHDOG_USEC: no watchdog
  EXPECT_TRUE(n.Ready("API on 127.0.0.1:7400"));
  EXPECT_EQ(sock.Next(2s), "READY=1\nSTATUS=API on 127.0.0.1:7400");
  EXPECT_TRUE(n.Watchdog());
  EXPECT_EQ(sock.Next(2s), "WATCHDOG=1");
  EXPECT_TRUE(n.Stopping("signal 15"));
  EXPECT_EQ(sock.Next(2s), "STOPPING=1\nSTATUS=signal 15");
}

TEST_F(ServiceNotifyTest, WatchdogIntervalIsHalfOfWatchdogUsecForThisProcessOnly) {
  FakeNotifySocket sock;
  ::setenv("NOTIFY_SOCKET", sock.path().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  EXPECT_EQ(ServiceNotify().watchdog_interval(), std::chrono::microseconds(1500000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(ServiceNotify().watchdog_interval(), std::chrono::microseconds(1500000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);  // another process's
  EXPECT_EQ(ServiceNotify().watchdog_interval().count(), 0);
  ::unsetenv("WATCHDOG_PID");
  for (const char* bad : {"0", "abc", "-5", ""}) {
    ::setenv("WATCHDOG_USEC", bad, 1);
    EXPECT_EQ(ServiceNotify().watchdog_interval().count(), 0) << bad;
  }
}

// systemd may name an abstract socket ("@name"); anything else that is not a path (vsock:, a
// relative name, a name too long for sockaddr_un) leaves notification off instead of failing.
TEST_F(ServiceNotifyTest, AbstractSocketNamesAreReachedAndOtherFormsAreOff) {
  const std::string name = "tide-notify-test-" + std::to_string(::getpid());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  name.copy(addr.sun_path + 1, sizeof addr.sun_path - 2);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())),
            0);
  ::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
  ServiceNotify n;
  ASSERT_TRUE(n.enabled());
  EXPECT_TRUE(n.Ready("up"));
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  char buf[64];
  const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(std::max<ssize_t>(got, 0))), "READY=1\nSTATUS=up");
  ::close(fd);
  for (const std::string& bad : std::vector<std::string>{"vsock:2:1234", "relative/notify.sock",
                                                         "/" + std::string(200, 'x')}) {
    ::setenv("NOTIFY_SOCKET", bad.c_str(), 1);
    EXPECT_FALSE(ServiceNotify().enabled()) << bad;
  }
}

// The main loop pings while waiting for the stop signal, and only while `alive` says so.
TEST_F(ServiceNotifyTest, WaitForStopSignalPingsUntilTheSignal) {
  FakeNotifySocket sock;
  ::setenv("NOTIFY_SOCKET", sock.path().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "100000", 1);  // a ping every 50 ms
  ServiceNotify n;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, nullptr), 0);  // the thread below inherits it

  int pings = 0;
  std::thread counter([&] {
    while (pings < 3 && sock.Next(5s) == "WATCHDOG=1") ++pings;
    ::kill(::getpid(), SIGUSR1);
  });
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(WaitForStopSignal(set, n), SIGUSR1);
  counter.join();
  EXPECT_EQ(pings, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);

  // A daemon that is not alive withholds the ping: nothing arrives in 6 intervals.
  std::string got = "unset";
  std::thread silent([&] {
    got = sock.Next(300ms);
    ::kill(::getpid(), SIGUSR1);
  });
  EXPECT_EQ(WaitForStopSignal(set, n, [] { return false; }), SIGUSR1);
  silent.join();
  EXPECT_EQ(got, "");
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

}  // namespace
}  // namespace tide
