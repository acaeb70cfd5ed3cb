// systemd readiness and watchdog (api/service_notify.h) against real tided and tide-agent
// processes, with a unix datagram socket standing in for systemd's NOTIFY_SOCKET: READY=1
// arrives when the API already answers, WATCHDOG=1 every WATCHDOG_USEC/2, STOPPING=1 on SIGTERM.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <string>

#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& dir) : path_(dir + "/notify.sock") {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << path_;
  }
  ~NotifySocket() { ::close(fd_); }
  const std::string& path() const { return path_; }
  // The next datagram, or "" when none arrives within timeout.
  std::string Next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  // Reads until a datagram starting with `prefix` arrives; false at the deadline.
  bool WaitFor(const std::string& prefix, std::chrono::milliseconds timeout) {
    auto deadline = SteadyClock::now() + timeout;
    while (SteadyClock::now() < deadline) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (Next(std::max(left, 1ms)).starts_with(prefix)) return true;
    }
    return false;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(SdNotify, TidedIsReadyWhenItServesPingsTheWatchdogAndSaysStopping) {
  TempDir dir;
  NotifySocket sock(dir.path());
  int api = FreePort(), gw = FreePort(), agent_ports = ReservePortBlock();
  Proc tided(
      {TidedBin(), "--api-listen", "127.0.0.1:" + std::to_string(api), "--gateway-listen",
       "127.0.0.1:" + std::to_string(gw), "--data-dir", dir.path() + "/data", "--agent-port-range",
       std::to_string(agent_ports) + "-" + std::to_string(agent_ports + kPortBlock - 1)},
      dir.path() + "/tided.log", {{"NOTIFY_SOCKET", sock.path()}, {"WATCHDOG_USEC", "200000"}});

  // The first message is READY=1, and by then the API answers.
  std::string first = sock.Next(30s);
  ASSERT_TRUE(first.starts_with("READY=1\nSTATUS=API on 127.0.0.1:")) << first << tided.Log();
  EXPECT_EQ(Http("GET", "http://127.0.0.1:" + std::to_string(api) + "/healthz").status, 200);

  // WATCHDOG=1 every 100 ms (half of WATCHDOG_USEC): 5 pings take at least ~400 ms.
  auto start = SteadyClock::now();
  int pings = 0;
  while (pings < 5 && sock.Next(3s) == "WATCHDOG=1") ++pings;
  auto took = SteadyClock::now() - start;
  EXPECT_EQ(pings, 5) << tided.Log();
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3s);

  EXPECT_EQ(tided.Terminate(SIGTERM), 0) << tided.Log();
  EXPECT_TRUE(sock.WaitFor("STOPPING=1", 2s));
}

TEST(SdNotify, AgentIsReadyWhenItsApiListensAndWithoutWatchdogDoesNotPing) {
  TempDir dir;
  Tided tided(dir.path());
  NotifySocket sock(dir.path());
  WriteFile(dir.path() + "/join.token", Tided::JoinToken() + "\n");
  int port = FreePort(), lo = ReservePortBlock();
  Proc agent(
      {AgentBin(), "--server", tided.api(), "--name", "node-n", "--token-file",
       dir.path() + "/join.token", "--listen", "127.0.0.1:" + std::to_string(port), "--data-dir",
       dir.path() + "/agent", "--port-range", std::to_string(lo) + "-" + std::to_string(lo + 49)},
      dir.path() + "/agent.log", {{"NOTIFY_SOCKET", sock.path()}});
  std::string first = sock.Next(30s);
  ASSERT_TRUE(first.starts_with("READY=1\nSTATUS=serving on 127.0.0.1:")) << first << agent.Log();
  EXPECT_EQ(Http("GET", "http://127.0.0.1:" + std::to_string(port) + "/healthz").status, 200);
  EXPECT_EQ(sock.Next(300ms), "") << "no WATCHDOG_USEC: no pings";
  EXPECT_EQ(agent.Terminate(SIGTERM), 0) << agent.Log();
  EXPECT_TRUE(sock.WaitFor("STOPPING=1", 2s));
}

}  // namespace
}  // namespace tide::testing
