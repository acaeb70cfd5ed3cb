// The gateway against hostile clients and failing instances, over real loopback sockets:
// request smuggling (ambiguous framing gets 400 and close), path traversal (normalised within
// /{prefix}/{name}, or 400), slow request bodies (408; they hold no instance capacity), and
// passive health (refused endpoints are ejected and requests move on; a request already sent
// is never replayed elsewhere).
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "daemon/gateway/gateway.h"
#include "daemon/gateway/loopback_testutil.h"
#include "daemon/metrics.h"

namespace tide {
namespace {

using namespace std::chrono_literals;
using Clk = std::chrono::steady_clock;

int64_t MsSince(Clk::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clk::now() - t).count();
}

class Backend : public GatewayBackend {
 public:
  std::optional<RouteInfo> Route(const std::string& w) override {
    if (w == "svc" || w == "other") return RouteInfo{Kind::kService, 0, 10};
    return std::nullopt;
  }
  void OnLoad(const std::string&, int, int) override {}
};

// An instance with few worker threads (like a small real service) that records what it got.
class Recorder {
 public:
  Recorder() {
    srv_.new_task_queue = [] { return new httplib::ThreadPool(4); };
    auto h = [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard l(mu_);
        targets_.push_back(req.method + " " + req.target);
      }
      res.set_content("ok " + req.target, "text/plain");
    };
    srv_.Get(".*", h);
    srv_.Post(".*", h);
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~Recorder() {
    srv_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<std::string> targets() {
    std::lock_guard l(mu_);
    return targets_;
  }
  size_t count() { return targets().size(); }

 private:
  httplib::Server srv_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<std::string> targets_;
};

// Accepts every connection, reads what arrives, then resets it: an instance that dies after
// the request reached it.
class Resetter {
 public:
  Resetter() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 64);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        char buf[4096];
        (void)::recv(c, buf, sizeof buf, 0);
        ++accepted_;
        linger lg{1, 0};
        ::setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(c);
      }
    });
  }
  ~Resetter() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

bool SendAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t k = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (k <= 0) return false;
    s.remove_prefix(static_cast<size_t>(k));
  }
  return true;
}

// Everything the peer sends until it closes (closed = true) or `limit` passes.
std::string ReadUntilClose(int fd, std::chrono::milliseconds limit, bool* closed) {
  std::string out;
  *closed = false;
  auto deadline = Clk::now() + limit;
  while (Clk::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      *closed = true;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class GatewayEdgeTest : public ::testing::Test {
 protected:
  void StartGateway(GatewayOptions o = {}) {
    gw_.reset();
    o.listen = "127.0.0.1:0";
    gw_ = std::make_unique<Gateway>(o, backend_, SystemClock::Get(), &metrics_);
    ASSERT_TRUE(gw_->Start().ok());
  }
  void SetUp() override { StartGateway(); }
  void TearDown() override { gw_.reset(); }
  Endpoint Ep(const std::string& id, int port) {
    return Endpoint{id, "127.0.0.1", port, "", false};
  }
  // One raw request on a new connection; the whole answer until the gateway closes.
  std::string Raw(const std::string& request, bool* closed,
                  std::chrono::milliseconds limit = 5000ms) {
    int fd = ConnectLoopback(gw_->port());
    EXPECT_GE(fd, 0);
    EXPECT_TRUE(SendAll(fd, request));
    std::string out = ReadUntilClose(fd, limit, closed);
    ::close(fd);
    return out;
  }
  double Ejections(const std::string& workload) {
    return metrics_.gateway_endpoint_ejections_total.Add({{"workload", workload}}).Value();
  }

  // Instances outlive the gateway, so its pooled keep-alive connections close first and their
  // servers do not wait out a keep-alive timeout.
  Recorder& NewRecorder() { return *recs_.emplace_back(std::make_unique<Recorder>()); }

  Backend backend_;
  Metrics metrics_;
  std::vector<std::unique_ptr<Recorder>> recs_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(GatewayEdgeTest, EverySmugglingCaseGets400AndClose) {
  Recorder& up = NewRecorder();
  gw_->SetEndpoints("svc", {Ep("svc-1", up.port())});
  const std::string line = "POST /service/svc/x HTTP/1.1\r\nHost: t\r\n";
  const std::string body =
      "5\r\nhello\r\n0\r\n\r\nGET /service/svc/smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
  const std::vector<std::string> cases = {
      line + "Transfer-Encoding: chunked, identity\r\n\r\n" + body,
      line + "Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n" + body,
      line + "Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n" + body,
      line + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" + body,
      line + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
      line + "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
      line + "Transfer-Encoding: gzip, chunked\r\n\r\n" + body,
      line + "Transfer-Encoding: xchunked\r\n\r\n" + body,
      line + "Content-Length: 5, 5\r\n\r\n" + body,
      line + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n" + body,
      "POST /service/svc/x HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
  };
  for (const auto& c : cases) {
    bool closed = false;
    std::string out = Raw(c, &closed);
    EXPECT_EQ(out.rfind("HTTP/1.", 0), 0u) << c;
    EXPECT_NE(out.find(" 400 "), std::string::npos) << c << "\n---\n" << out;
    EXPECT_NE(out.find("BadRequest"), std::string::npos) << out;
    EXPECT_EQ(out.find("200"), std::string::npos) << "a second answer: " << out;
    EXPECT_TRUE(closed) << "connection left open after: " << c;
  }
  EXPECT_EQ(up.count(), 0u) << "the instance got a request with ambiguous framing";
  // Plain chunked still works.
  bool closed = false;
  std::string ok = Raw(
      line + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + "5\r\nhello\r\n0\r\n\r\n",
      &closed);
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
}

TEST_F(GatewayEdgeTest, TraversalCannotReachAnotherPath) {
  Recorder& svc = NewRecorder();
  Recorder& other = NewRecorder();
  gw_->SetEndpoints("svc", {Ep("svc-1", svc.port())});
  gw_->SetEndpoints("other", {Ep("other-1", other.port())});
  httplib::Client c("127.0.0.1", gw_->port());
  for (const char* path :
       {"/service/svc/a/../../other/secret", "/service/svc/%2e%2e/%2e%2e/service/other/secret",
        "/service/svc/..%2f..%2fservice%2fother", "/service/svc/..", "/service/svc/.%2E/x",
        "/service/%2e%2e/service/other/secret"}) {
    auto res = c.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 400) << path << " " << res->body;
  }
  EXPECT_EQ(other.count(), 0u);
  EXPECT_EQ(svc.count(), 0u);
  auto res = c.Get("/service/svc/a/./b/%2e%2e/c?next=../x");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  ASSERT_EQ(svc.count(), 1u);
  EXPECT_EQ(svc.targets()[0], "GET /a/c?next=../x");
}

TEST_F(GatewayEdgeTest, SlowBodiesHoldNoInstanceCapacityAndGet408) {
  GatewayOptions o;
  o.body_timeout_ms = 3000;
  StartGateway(o);
  Recorder& up = NewRecorder();  // 4 worker threads
  gw_->SetEndpoints("svc", {Ep("svc-1", up.port())});
  constexpr int kSlow = 200;
  std::vector<int> slow;
  auto started = Clk::now();
  for (int i = 0; i < kSlow; ++i) {
    int fd = ConnectLoopback(gw_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd,
                        "POST /service/svc/slow HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
                        "x"));
    slow.push_back(fd);
  }
  // Normal requests to the same Service while every slow body is pending.
  httplib::Client c("127.0.0.1", gw_->port());
  int64_t worst = 0;
  for (int i = 0; i < 30; ++i) {
    auto t0 = Clk::now();
    auto res = c.Get("/service/svc/fast");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    worst = std::max(worst, MsSince(t0));
  }
  const int64_t normal_done = MsSince(started);
  // Had the slow requests reached the instance, its 4 workers would be theirs until the 408s
  // (3 s). The bound leaves room for a loaded 2-core machine.
  EXPECT_LT(worst, 1000) << "a normal request waited " << worst << " ms behind slow bodies";
  EXPECT_LT(normal_done, 2500) << "normal requests finished only after the slow ones timed out";
  std::cout << "30 normal requests beside " << kSlow << " slow bodies: worst " << worst << " ms\n";
  // Every slow sender gets 408 and is closed, about at the body timeout.
  int got408 = 0;
  for (int fd : slow) {
    bool closed = false;
    std::string out = ReadUntilClose(fd, 6000ms, &closed);
    if (out.find(" 408 ") != std::string::npos && closed) ++got408;
    ::close(fd);
  }
  EXPECT_EQ(got408, kSlow);
  EXPECT_GE(MsSince(started), 2900);
  for (const auto& t : up.targets()) EXPECT_EQ(t.find("/slow"), std::string::npos) << t;
}

TEST_F(GatewayEdgeTest, BodyDeadlineAlsoHoldsAfterTheFirst64KiB) {
  GatewayOptions o;
  o.body_timeout_ms = 800;
  o.body_min_rate = 0;
  StartGateway(o);
  Recorder& up = NewRecorder();
  gw_->SetEndpoints("svc", {Ep("svc-1", up.port())});
  int fd = ConnectLoopback(gw_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(
      SendAll(fd, "POST /service/svc/big HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n" +
                      std::string(100000, 'b')));
  auto t0 = Clk::now();
  bool closed = false;
  std::string out = ReadUntilClose(fd, 5000ms, &closed);
  ::close(fd);
  EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << out;
  EXPECT_NE(out.find("RequestTimeout"), std::string::npos);
  EXPECT_TRUE(closed);
  EXPECT_LT(MsSince(t0), 3000);
}

TEST_F(GatewayEdgeTest, RefusedEndpointIsEjectedAndNoRequestFails) {
  Recorder& live = NewRecorder();
  gw_->SetEndpoints("svc", {Ep("dead", ClosedLoopbackPort()), Ep("live", live.port())});
  httplib::Client c("127.0.0.1", gw_->port());
  for (int i = 0; i < 20; ++i) {
    auto res = i % 2 ? c.Get("/service/svc/g") : c.Post("/service/svc/p", "body", "text/plain");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
  }
  EXPECT_EQ(live.count(), 20u);
  // Tried once, then left alone: one ejection, not one per request.
  EXPECT_EQ(Ejections("svc"), 1);
  // Listed again after a set without it (it was seen ready again): tried again.
  gw_->SetEndpoints("svc", {Ep("live", live.port())});
  gw_->SetEndpoints("svc", {Ep("dead", ClosedLoopbackPort()), Ep("live", live.port())});
  for (int i = 0; i < 4; ++i) {
    auto res = c.Get("/service/svc/g");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
  EXPECT_EQ(Ejections("svc"), 2);
}

TEST_F(GatewayEdgeTest, ARequestThatReachedAnInstanceIsNotReplayedElsewhere) {
  Recorder& live = NewRecorder();
  Resetter dies;
  gw_->SetEndpoints("svc", {Ep("dies", dies.port()), Ep("live", live.port())});
  int ok = 0, bad = 0;
  for (int i = 0; i < 12; ++i) {
    httplib::Client c("127.0.0.1", gw_->port());
    auto res = i % 2 ? c.Get("/service/svc/g") : c.Post("/service/svc/p", "body", "text/plain");
    ASSERT_TRUE(res);
    if (res->status == 200) ++ok;
    if (res->status == 502) ++bad;
  }
  EXPECT_EQ(ok + bad, 12);
  EXPECT_GE(bad, 1);
  // Each request that reached the dying instance failed there; none was sent a second time.
  EXPECT_EQ(dies.accepted(), bad);
  EXPECT_EQ(static_cast<int>(live.count()), ok);
  EXPECT_EQ(Ejections("svc"), 0);
}

}  // namespace
}  // namespace tide
