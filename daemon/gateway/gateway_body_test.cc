// Gateway tests of bodies and the edge: chunked and 50 MB bodies streamed both ways (the big one
// through tide-testapp in a process of its own), header and body limits, and the header timeout.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "daemon/gateway/gateway.h"

extern char** environ;

#include "daemon/gateway/gateway_testutil.h"

namespace tide {
namespace {

using namespace gateway_testing;
using namespace std::chrono_literals;

TEST_F(GatewayTest, StreamsChunkedBodiesBothWays) {
  Upstream& up = NewUpstream();
  backend_.Add("svc", RouteInfo{Kind::kService, 0, 10});
  gw_->SetEndpoints("svc", {Ep("svc-1", up.port())});
  auto c = Client();
  auto res = c.Get("/service/svc/chunks");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  ASSERT_EQ(res->body.size(), 10000u);
  EXPECT_EQ(res->body[0], 'a');
  EXPECT_EQ(res->body[9999], 'j');
  // Chunked request body (no Content-Length).
  std::string payload(300000, 'x');
  for (size_t i = 0; i < payload.size(); i += 7) payload[i] = static_cast<char>('0' + i % 10);
  auto res2 = c.Post(
      "/service/svc/echo",
      [&](size_t offset, httplib::DataSink& sink) {
        if (offset >= payload.size()) {
          sink.done();
          return true;
        }
        sink.write(payload.data() + offset, std::min<size_t>(40000, payload.size() - offset));
        return true;
      },
      "application/octet-stream");
  ASSERT_TRUE(res2);
  EXPECT_EQ(res2->status, 200);
  EXPECT_EQ(res2->get_header_value("X-Got-Transfer-Encoding"), "chunked");
  EXPECT_TRUE(res2->body == payload);
}

TEST_F(GatewayTest, SlowLorisIsClosedAfterHeaderTimeout) {
  gw_.reset();
  GatewayOptions o;
  o.header_timeout_ms = 300;
  StartGateway(o);
  int fd = ConnectLoopback(gw_->port());
  ASSERT_GE(fd, 0);
  std::string partial = "GET /service/x HTTP/1.1\r\nHost: a\r\nX-Slow: ";
  ASSERT_TRUE(SendAll(fd, partial.data(), partial.size()));
  auto t0 = Clk::now();
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char buf[256];
  EXPECT_LE(::recv(fd, buf, sizeof buf, 0), 0);  // closed, no answer
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clk::now() - t0).count();
  EXPECT_GE(ms, 200);
  EXPECT_LT(ms, 3000);
  ::close(fd);
}

TEST_F(GatewayTest, HeaderAndBodyLimits) {
  gw_.reset();
  GatewayOptions o;
  o.max_header_bytes = 4096;
  o.max_body_bytes = 1000;
  StartGateway(o);
  Upstream& up = NewUpstream();
  backend_.Add("svc", RouteInfo{Kind::kService, 0, 10});
  gw_->SetEndpoints("svc", {Ep("svc-1", up.port())});
  auto c = Client();
  auto big_head = c.Get("/service/svc/echo", {{"X-Big", std::string(8000, 'h')}});
  ASSERT_TRUE(big_head);
  EXPECT_EQ(big_head->status, 431);
  auto c2 = Client();
  auto big_body = c2.Post("/service/svc/echo", std::string(5000, 'b'), "text/plain");
  ASSERT_TRUE(big_body);
  EXPECT_EQ(big_body->status, 413);
  auto c3 = Client();
  auto fine = c3.Post("/service/svc/echo", std::string(900, 'b'), "text/plain");
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
}

// tide-testapp as a separate process, so this process holds only the gateway and a streaming

// client: its peak memory must not grow by the body size.
class TestApp {
 public:
  explicit TestApp(int port) {
    std::string port_s = std::to_string(port);
    const char* argv[] = {TIDE_TESTAPP_PATH, "--port", port_s.c_str(), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    ok_ =
        posix_spawn(&pid_, TIDE_TESTAPP_PATH, &fa, nullptr, const_cast<char**>(argv), environ) == 0;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~TestApp() {
    if (ok_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return ok_; }

 private:
  pid_t pid_ = 0;
  bool ok_ = false;
};

long PeakRssKb() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST_F(GatewayTest, FiftyMegabyteBodyRoundTripsStreamed) {
  int port = ClosedLoopbackPort();
  TestApp app(port);
  ASSERT_TRUE(app.ok());
  ASSERT_TRUE(WaitFor([&] {
    int fd = ConnectLoopback(port);
    if (fd >= 0) ::close(fd);
    return fd >= 0;
  }));
  backend_.Add("big", RouteInfo{Kind::kService, 0, 30});
  gw_->SetEndpoints("big", {Ep("big-1", port)});
  const size_t kSize = 50u << 20;
  auto byte_at = [](size_t i) { return static_cast<char>((i * 131 + i / 4096) & 0xff); };
  long before = PeakRssKb();

  int fd = ConnectLoopback(gw_->port());
  ASSERT_GE(fd, 0);
  std::string head =
      "POST /service/big/echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
      "Content-Length: " +
      std::to_string(kSize) + "\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, head.data(), head.size()));
  std::vector<char> chunk(64 * 1024);
  for (size_t off = 0; off < kSize; off += chunk.size()) {
    size_t n = std::min(chunk.size(), kSize - off);
    for (size_t i = 0; i < n; ++i) chunk[i] = byte_at(off + i);
    ASSERT_TRUE(SendAll(fd, chunk.data(), n));
  }
  // Read the answer: head, then verify the body byte by byte as it streams.
  std::string resp_head;
  size_t body_seen = 0;
  bool mismatch = false;
  char buf[64 * 1024];
  auto deadline = Clk::now() + 20s;
  while (Clk::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    size_t start = 0;
    if (resp_head.find("\r\n\r\n") == std::string::npos) {
      resp_head.append(buf, static_cast<size_t>(n));
      auto e = resp_head.find("\r\n\r\n");
      if (e == std::string::npos) continue;
      size_t body_in_head = resp_head.size() - (e + 4);
      start = static_cast<size_t>(n) - body_in_head;
      resp_head.resize(e + 4);
    }
    for (size_t i = start; i < static_cast<size_t>(n); ++i, ++body_seen)
      if (buf[i] != byte_at(body_seen)) mismatch = true;
  }
  ::close(fd);
  EXPECT_EQ(resp_head.rfind("HTTP/1.1 200", 0), 0u) << resp_head;
  EXPECT_EQ(body_seen, kSize) << resp_head;
  EXPECT_FALSE(mismatch);
  long grown_mb = (PeakRssKb() - before) / 1024;
  EXPECT_LT(grown_mb, 25) << "gateway peak memory grew by " << grown_mb << " MB";
}

}  // namespace
}  // namespace tide
