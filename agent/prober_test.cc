#include "agent/prober.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace tide {
namespace {

// Polls until the probe's result is in, or 10 s pass (then fails the test).
ProbeResult Await(Prober& p, Prober::Ticket t) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto r = p.Poll(t)) return *r;
    std::this_thread::yield();
  }
  ADD_FAILURE() << "probe did not finish";
  return {};
}

// A listening socket on 127.0.0.1 with a kernel-chosen port.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof(sa);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
  }
  ~Listener() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

Probe Tcp() { return Probe{}; }

TEST(RealProberTest, TcpSucceedsOnListenerAndFailsWhenClosed) {
  RealProber prober(1);
  Listener l;
  ProbeTarget target{"i", l.port(), {}, ""};
  ProbeResult ok = Await(prober, prober.Submit(Tcp(), target));
  EXPECT_TRUE(ok.ok) << ok.message;
  l.Close();
  ProbeResult bad = Await(prober, prober.Submit(Tcp(), target));
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.message.find("refused"), std::string::npos) << bad.message;
}

TEST(RealProberTest, TcpResultOnLoopbackIsKnownWithoutWaiting) {
  RealProber prober(1);
  Listener l;
  auto t = prober.Submit(Tcp(), {"i", l.port(), {}, ""});
  auto r = prober.Poll(t);  // loopback connects complete inside Submit
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->ok);
  EXPECT_FALSE(prober.Poll(t).has_value());  // a result is handed out once
}

TEST(RealProberTest, HttpGetExpects2xxOr3xx) {
  httplib::Server server;
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  server.Get("/moved",
             [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/healthz"); });
  server.Get("/sick", [](const httplib::Request&, httplib::Response& res) { res.status = 503; });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&] { server.listen_after_bind(); });

  RealProber prober(2);
  Probe http;
  http.type = Probe::Type::kHttp;
  ProbeTarget target{"i", port, {}, ""};
  http.http_path = "/healthz";
  EXPECT_TRUE(Await(prober, prober.Submit(http, target)).ok);
  http.http_path = "/moved";
  EXPECT_TRUE(Await(prober, prober.Submit(http, target)).ok);
  http.http_path = "/sick";
  ProbeResult sick = Await(prober, prober.Submit(http, target));
  EXPECT_FALSE(sick.ok);
  EXPECT_NE(sick.message.find("503"), std::string::npos) << sick.message;
  server.stop();
  t.join();
  http.http_path = "/healthz";
  EXPECT_FALSE(Await(prober, prober.Submit(http, target)).ok);
}

TEST(RealProberTest, ExecExitCodeEnvAndTimeout) {
  RealProber prober(2);
  Probe exec;
  exec.type = Probe::Type::kExec;
  ProbeTarget target{"i", 4321, {{"PATH", "/usr/bin:/bin"}, {"PORT", "4321"}}, "/"};
  exec.exec = {"true"};
  EXPECT_TRUE(Await(prober, prober.Submit(exec, target)).ok);
  exec.exec = {"false"};
  ProbeResult f = Await(prober, prober.Submit(exec, target));
  EXPECT_FALSE(f.ok);
  EXPECT_NE(f.message.find("exit code 1"), std::string::npos) << f.message;
  // The probe sees the instance's env and working dir.
  exec.exec = {"sh", "-c", "test \"$PORT\" = 4321 && test \"$(pwd)\" = /"};
  EXPECT_TRUE(Await(prober, prober.Submit(exec, target)).ok);
  exec.exec = {"no-such-probe-binary"};
  ProbeResult nf = Await(prober, prober.Submit(exec, target));
  EXPECT_FALSE(nf.ok);
  EXPECT_NE(nf.message.find("not found"), std::string::npos) << nf.message;
  exec.exec = {"sleep", "30"};
  exec.timeout_seconds = 0.2;
  const auto start = std::chrono::steady_clock::now();
  ProbeResult slow = Await(prober, prober.Submit(exec, target));
  EXPECT_FALSE(slow.ok);
  EXPECT_NE(slow.message.find("timed out"), std::string::npos) << slow.message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(RealProberTest, CancelDropsResult) {
  RealProber prober(1);
  Probe exec;
  exec.type = Probe::Type::kExec;
  exec.exec = {"/bin/true"};
  auto a = prober.Submit(exec, {"i", 0, {}, ""});
  prober.Cancel(a);
  auto b = prober.Submit(exec, {"i", 0, {}, ""});
  EXPECT_TRUE(Await(prober, b).ok);  // b ran after a on the single worker
  EXPECT_FALSE(prober.Poll(a).has_value());
}

}  // namespace
}  // namespace tide
