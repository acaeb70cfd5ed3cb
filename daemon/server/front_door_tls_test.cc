// The front door's TLS listener and kept-alive connections (front_door.h), with a CA and a
// certificate made at run time (api/tls_testutil.h) and the real REST client (api/client.h).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "api/client.h"
#include "api/tls_testutil.h"
#include "daemon/server/front_door.h"

namespace tide {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

class FrontDoorTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tide-fd-tls-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    testing::TestCert ca = testing::MakeTestCa("front door test CA");
    testing::WriteTestCert(ca, dir_ + "/ca.crt", "");
    testing::WriteTestCert(testing::MakeTestCert(ca, "tided", {"IP:127.0.0.1"}),
                           dir_ + "/server.crt", dir_ + "/server.key");
    backend_.Get("/hello", [this](const httplib::Request&, httplib::Response& res) {
      ++hits_;
      res.set_content("hello\n", "text/plain");
    });
    backend_.Get("/stream", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
        if (offset >= 3 * 6) {
          sink.done();
          return true;
        }
        sink.write("chunk\n", 6);
        return true;
      });
    });
    backend_.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.body, "application/json");
    });
    backend_port_ = backend_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(backend_port_, 0);
    backend_thread_ = std::thread([this] { backend_.listen_after_bind(); });
    const auto deadline = Clock::now() + 5s;
    while (!backend_.is_running() && Clock::now() < deadline) std::this_thread::yield();
  }
  void TearDown() override {
    if (front_) front_->Stop();
    backend_.stop();
    backend_thread_.join();
    std::filesystem::remove_all(dir_);
  }
  Status StartFront(bool tls, const std::string& key = "") {
    FrontDoorOptions o;
    o.listen = "127.0.0.1:0";
    o.backend_port = backend_port_;
    o.header_timeout_ms = 400;
    if (tls) {
      o.tls_cert_file = dir_ + "/server.crt";
      o.tls_key_file = key.empty() ? dir_ + "/server.key" : key;
    }
    front_ = std::make_unique<FrontDoor>(o);
    return front_->Start();
  }
  std::string Url(bool tls) const {
    return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(front_->port());
  }

  std::string dir_;
  httplib::Server backend_;
  std::atomic<int> hits_{0};
  int backend_port_ = 0;
  std::thread backend_thread_;
  std::unique_ptr<FrontDoor> front_;
};

TEST_F(FrontDoorTlsTest, AKeptAliveClientPaysOneHandshakeForManyRequests) {
  ASSERT_TRUE(StartFront(true).ok());
  Client cli(ClientConfig{Url(true), "", 5, dir_ + "/ca.crt"});
  for (int i = 0; i < 20; ++i) {
    Response r;
    Status st = cli.Get("/hello", &r);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(r.body, "hello\n");
  }
  // A streamed (chunked) answer and a body, on the same connection, then another request.
  std::string streamed;
  Response r;
  ASSERT_TRUE(cli.GetStream(
                     "/stream",
                     [&](std::string_view c) {
                       streamed.append(c);
                       return true;
                     },
                     &r)
                  .ok());
  EXPECT_EQ(streamed, "chunk\nchunk\nchunk\n");
  ASSERT_TRUE(cli.Post("/echo", R"({"a":1})", "application/json", &r).ok());
  EXPECT_EQ(r.body, R"({"a":1})");
  ASSERT_TRUE(cli.Get("/hello", &r).ok());
  EXPECT_EQ(hits_.load(), 21);
  EXPECT_EQ(front_->tls_handshakes(), 1) << "each request paid a handshake";
}

TEST_F(FrontDoorTlsTest, PlainHttpToTheTlsPortIsA400SayingHttps) {
  ASSERT_TRUE(StartFront(true).ok());
  Client cli(ClientConfig{Url(false), "", 5});
  Response r;
  Status st = cli.Get("/hello", &r);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(st.message().find("https://"), std::string::npos) << st.message();
  EXPECT_EQ(hits_.load(), 0) << "a plain request reached the API";
}

TEST_F(FrontDoorTlsTest, ASilentConnectionIsCutAtTheHeaderTimeoutWithoutAHandshake) {
  ASSERT_TRUE(StartFront(true).ok());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(front_->port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  pollfd p{fd, POLLIN, 0};
  const auto t0 = Clock::now();
  ASSERT_EQ(::poll(&p, 1, 3000), 1) << "never closed";
  char c;
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0);
  EXPECT_LT(Clock::now() - t0, 2s);
  ::close(fd);
  EXPECT_EQ(front_->tls_handshakes(), 0);
}

TEST_F(FrontDoorTlsTest, PlainKeepAliveKeepsTheConnectionAndCloseStillCloses) {
  ASSERT_TRUE(StartFront(false).ok());
  {
    Client cli(ClientConfig{Url(false), "", 5});
    Response r;
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(cli.Get("/hello", &r).ok());
    EXPECT_EQ(front_->open_connections(), 1) << "the kept-alive connection was not kept";
  }
  // httplib without keep-alive sends Connection: close: the connection ends with the answer.
  httplib::Client once("127.0.0.1", front_->port());
  ASSERT_TRUE(once.Get("/hello"));
  const auto deadline = Clock::now() + 3s;
  while (front_->open_connections() > 0 && Clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(front_->open_connections(), 0);
}

// CPU of this whole process (client, front door and backend) per request: TLS over one kept
// connection against a new connection (a full handshake) per request, and plain for reference.
// Prints the figures (docs/benchmarks.md); bench/tls_bench measures tided alone.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

TEST_F(FrontDoorTlsTest, KeptAliveTlsCostsFarLessCpuThanAHandshakePerRequest) {
  constexpr int kRequests = 200;
  auto measure = [&](const std::string& url, const std::string& ca, bool kept) {
    ClientConfig cfg{url, "", 5, ca};
    auto cli = std::make_unique<Client>(cfg);
    Response r;
    EXPECT_TRUE(cli->Get("/hello", &r).ok());
    const double t0 = CpuSeconds();
    for (int i = 0; i < kRequests; ++i) {
      if (!kept) cli = std::make_unique<Client>(cfg);
      EXPECT_TRUE(cli->Get("/hello", &r).ok());
    }
    return (CpuSeconds() - t0) * 1e6 / kRequests;
  };
  ASSERT_TRUE(StartFront(false).ok());
  const double plain = measure(Url(false), "", true);
  front_->Stop();
  ASSERT_TRUE(StartFront(true).ok());
  const double kept = measure(Url(true), dir_ + "/ca.crt", true);
  EXPECT_EQ(front_->tls_handshakes(), 1);
  const double each = measure(Url(true), dir_ + "/ca.crt", false);
  EXPECT_EQ(front_->tls_handshakes(), 2 + kRequests);
  std::printf(
      "CPU per request (client + front door + backend, one process, %d requests):\n"
      "  plain kept-alive %.1f us, TLS kept-alive %.1f us, TLS new connection each "
      "%.1f us\n",
      kRequests, plain, kept, each);
  EXPECT_LT(kept * 2, each) << "kept-alive TLS should cost far less than a handshake each";
}

TEST_F(FrontDoorTlsTest, AKeyThatDoesNotMatchStopsTheStartNamingIt) {
  testing::WriteTestCert(testing::MakeTestCert(testing::MakeTestCa("x"), "x", {"IP:127.0.0.1"}), "",
                         dir_ + "/wrong.key");
  Status st = StartFront(true, dir_ + "/wrong.key");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir_ + "/wrong.key"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace tide
