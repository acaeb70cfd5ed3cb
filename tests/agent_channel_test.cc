// The agent channel apart from clients (issue 11 part 2), with real processes: tided (no local
// agent) and two tide-agents running a Service. Clients then do what filled the API before:
// 1,100 half-sent requests without a token, and 70 read-token watches. For twice the node
// grace no node may leave Ready, no instance may be restarted, and an admin GET must answer
// within a bound.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "daemon/gateway/loopback_testutil.h"
#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int PortOf(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

class AgentChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Tided::Options o;
    o.node_grace = "3s";  // NotReady after 1.5 s of silence, Lost after 3 s
    tided_ = std::make_unique<Tided>(dir_.path(), o);
    int base = ReservePortBlock();
    a_ = std::make_unique<AgentProc>(dir_.path(), *tided_, "node-a", base, base + 49);
    b_ = std::make_unique<AgentProc>(dir_.path(), *tided_, "node-b", base + 50, base + 99);
    auto r = tided_->Post("/v1/apply", TestappManifest("web", 2));
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(WaitFor(
        [&] {
          before_ = PidsById(tided_->Instances("web"));
          return before_.size() == 2;
        },
        20s))
        << tided_->Instances("web").dump(2);
  }

  // For twice the node grace: both nodes Ready at every look and an admin GET within `bound`.
  void HoldsFor(std::chrono::milliseconds span, std::chrono::milliseconds bound) {
    int64_t slowest = 0;
    const auto until = Clock::now() + span;
    while (Clock::now() < until) {
      const auto t0 = Clock::now();
      HttpResult r = tided_->Get("/v1/workloads");
      const int64_t took =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
      slowest = std::max(slowest, took);
      ASSERT_EQ(r.status, 200) << r.body;
      ASSERT_LE(took, bound.count()) << "admin GET /v1/workloads took " << took << " ms";
      ASSERT_EQ(NodeStateOf(*tided_, "node-a"), "Ready");
      ASSERT_EQ(NodeStateOf(*tided_, "node-b"), "Ready");
      std::this_thread::sleep_for(100ms);  // polling pace, not a wait for a condition
    }
    std::cout << "slowest admin GET under load: " << slowest << " ms\n";
  }

  void NothingRestarted() {
    EXPECT_EQ(CountEvents(*tided_, "", "NodeNotReady"), 0);
    EXPECT_EQ(CountEvents(*tided_, "", "NodeLost"), 0);
    EXPECT_EQ(PidsById(tided_->Instances("web")), before_) << tided_->Instances("web").dump(2);
  }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
  std::unique_ptr<AgentProc> a_, b_;
  std::map<std::string, int> before_;
};

TEST_F(AgentChannelTest, HalfSentRequestFloodDoesNotReachAgents) {
  const int port = PortOf(tided_->api());
  std::vector<int> flood;
  for (int i = 0; i < 1100; ++i) {
    int fd = ConnectLoopback(port);
    ASSERT_GE(fd, 0) << "connect " << i;
    const std::string half = "GET /v1/workloads HTTP/1.1\r\nHost: x\r\n";  // never finished
    ASSERT_EQ(::send(fd, half.data(), half.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(half.size()));
    flood.push_back(fd);
  }
  HoldsFor(6s, 1000ms);
  for (int fd : flood) ::close(fd);
  NothingRestarted();
}

TEST_F(AgentChannelTest, WatchesOfOneTokenCannotStarveTheApi) {
  // Watch a workload without instances: its body does not change, so every admitted watch
  // holds for its whole wait.
  auto applied = tided_->Post("/v1/apply", TestappManifest("idle", 0));
  ASSERT_EQ(applied.status, 200) << applied.body;
  const std::string read = Tided::ReadToken();
  HttpResult first = Http("GET", tided_->api() + "/v1/workloads/idle", "", read);
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string etag = first.headers["ETag"];
  ASSERT_FALSE(etag.empty());
  std::atomic<int> limited{0}, unchanged{0}, other{0};
  std::vector<std::thread> watches;
  for (int i = 0; i < 70; ++i) {
    watches.emplace_back([&] {
      HttpResult r = Http("GET", tided_->api() + "/v1/workloads/idle?waitMs=8000", "", read,
                          "application/json", 20, {{"If-None-Match", etag}});
      if (r.status == 429 && !r.headers["Retry-After"].empty()) {
        ++limited;
      } else if (r.status == 304 || r.status == 200) {
        ++unchanged;
      } else {
        ++other;
      }
    });
  }
  HoldsFor(6s, 1000ms);
  for (auto& t : watches) t.join();
  std::cout << "watches: " << unchanged << " held, " << limited << " answered 429\n";
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(limited.load(), 70 - 16) << "exactly 16 watches per token at once";
  EXPECT_EQ(unchanged.load(), 16);
  NothingRestarted();
}

}  // namespace
}  // namespace tide::testing
