// Passive health in the gateway (issue 11 part 6), with real processes: tided (no local agent)
// and two tide-agents each running two replicas of a Service. One node really dies (kill -9 of
// its agent and of its instances' process groups); requests sent through the gateway during the
// node grace must all succeed, on the surviving replica.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <regex>

#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// True when nothing accepts connections on 127.0.0.1:port.
bool Refused(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool refused = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0;
  ::close(fd);
  return refused;
}

double Ejections(const Tided& tided, const std::string& workload) {
  HttpResult m = Http("GET", tided.api() + "/metrics");
  std::smatch mm;
  std::regex re("tide_gateway_endpoint_ejections_total\\{workload=\"" + workload +
                "\"\\} ([0-9.e+]+)");
  if (!std::regex_search(m.body, mm, re)) return 0;
  return std::stod(mm[1]);
}

TEST(GatewayHealthTest, NodeLossDuringGraceFailsNoRequest) {
  TempDir dir;
  Tided::Options o;
  o.node_grace = "4s";  // NotReady after 2 s, Lost after 4 s
  Tided tided(dir.path(), o);
  int base = ReservePortBlock();
  AgentProc a(dir.path(), tided, "node-a", base, base + 49);
  AgentProc b(dir.path(), tided, "node-b", base + 50, base + 99);
  ASSERT_TRUE(WaitFor(
      [&] {
        json n = tided.Get("/v1/nodes").Json();
        return n.contains("items") && n["items"].size() == 2;
      },
      10s));
  auto r = tided.Post("/v1/apply", TestappManifest("web", 4));
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<std::pair<int, int>> dying;  // pid, port of node-a's instances
  ASSERT_TRUE(WaitFor(
      [&] {
        json inst = tided.Instances("web");
        dying.clear();
        int ready = 0;
        for (const auto& i : inst) {
          if (i.value("state", "") != "Ready") continue;
          ++ready;
          if (i["node"] == "node-a") dying.emplace_back(i["pid"].get<int>(), i.value("port", 0));
        }
        return ready == 4 && dying.size() == 2;
      },
      20s))
      << tided.Instances("web").dump(2);

  const std::string url = tided.gateway() + "/service/web/";
  // Warm: every replica answers and the gateway holds pooled connections to each.
  for (int i = 0; i < 20; ++i) ASSERT_EQ(Http("GET", url).status, 200);

  // node-a dies for real: its agent and its instances' whole process groups.
  a.Kill9();
  for (auto [pid, port] : dying) ASSERT_EQ(::kill(-pid, SIGKILL), 0);
  auto killed = Clock::now();
  // Dead means its port refuses connections: the leader can show as a zombie while the other
  // threads still exit with the listening socket open (a connection made then is reset after
  // the request was sent, and such a request is rightly not replayed).
  for (auto [pid, port] : dying) {
    ASSERT_GT(port, 0);
    ASSERT_TRUE(
        WaitFor([&, pid = pid, port = port] { return !PidAlive(pid) && Refused(port); }, 5s));
  }

  // Requests from four clients through the whole grace: NotReady, then Lost.
  LoadLoop load(url, 4, 100000, 10);
  EXPECT_TRUE(WaitFor([&] { return NodeStateOf(tided, "node-a") == "NotReady"; }, 4s));
  EXPECT_TRUE(WaitFor([&] { return NodeStateOf(tided, "node-a") == "Lost"; }, 6s));
  EXPECT_TRUE(load.WaitMoreOk(50, 10s));
  load.Stop();
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count();
  std::cout << load.ok() << " requests in " << ms << " ms after node-a died, " << load.failed()
            << " failed, slowest " << load.max_latency_ms() << " ms\n";
  EXPECT_EQ(load.failed(), 0) << load.FailureSummary();
  EXPECT_GE(load.ok(), 100);
  // The dead endpoint was found by a refused connection and taken out at once.
  EXPECT_GE(Ejections(tided, "web"), 1) << "no ejection counted";
  if (HasFailure()) {
    std::cerr << "---- tided log ----\n" << tided.proc()->Log().substr(0, 20000) << "\n";
    std::cerr << "---- events ----\n" << Events(tided).dump(1).substr(0, 10000) << "\n";
  }
}

}  // namespace
}  // namespace tide::testing
