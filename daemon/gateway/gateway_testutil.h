// Fixture shared by the gateway's tests (gateway_test.cc: routing, cold starts, queueing,
// failures; gateway_body_test.cc: bodies, streaming and the edge limits): a fake backend, real
// upstream HTTP servers on 127.0.0.1 ephemeral ports, and a gateway started per test.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "daemon/gateway/gateway.h"
#include "daemon/gateway/loopback_testutil.h"
#include "daemon/metrics.h"

namespace tide::gateway_testing {

using namespace std::chrono_literals;
using Clk = std::chrono::steady_clock;

// Polls `pred` until true or the deadline passes (for state with no notification hook).
template <typename Pred>
inline bool WaitFor(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = Clk::now() + limit;
  while (Clk::now() < deadline) {
    if (pred()) return true;
    std::this_thread::yield();
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

class FakeBackend : public GatewayBackend {
 public:
  void Add(const std::string& name, RouteInfo r) {
    std::lock_guard l(mu_);
    routes_[name] = r;
  }
  void Remove(const std::string& name) {
    std::lock_guard l(mu_);
    routes_.erase(name);
  }
  int route_calls() {
    std::lock_guard l(mu_);
    return route_calls_;
  }
  std::optional<RouteInfo> Route(const std::string& w) override {
    std::lock_guard l(mu_);
    ++route_calls_;
    auto it = routes_.find(w);
    if (it == routes_.end()) return std::nullopt;
    return it->second;
  }
  void OnLoad(const std::string& w, int inflight, int queued) override {
    std::lock_guard l(mu_);
    last_[w] = {inflight, queued};
    if (queued > max_queued_[w]) max_queued_[w] = queued;
    cv_.notify_all();
  }
  // Waits until an OnLoad call for `w` reported queued >= n.
  bool WaitQueued(const std::string& w, int n, std::chrono::milliseconds limit = 5000ms) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, limit, [&] { return max_queued_[w] >= n; });
  }
  std::pair<int, int> Last(const std::string& w) {
    std::lock_guard l(mu_);
    return last_[w];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, RouteInfo> routes_;
  std::map<std::string, std::pair<int, int>> last_;
  std::map<std::string, int> max_queued_;
  int route_calls_ = 0;
};

// An in-process upstream instance.
class Upstream {
 public:
  Upstream() {
    srv_.new_task_queue = [] { return new httplib::ThreadPool(16); };
    auto echo = [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Echo-Method", req.method);
      res.set_header("X-Echo-Target", req.target);
      for (const auto& [k, v] : req.headers) res.set_header("X-Got-" + k, v);
      res.set_content(req.body, "application/octet-stream");
    };
    srv_.Get(R"(/echo.*)", echo);
    srv_.Post(R"(/echo.*)", echo);
    srv_.Put(R"(/echo.*)", echo);
    srv_.Delete(R"(/echo.*)", echo);
    srv_.Get("/work", [this](const httplib::Request& req, httplib::Response& res) {
      int now = ++current_;
      int prev = max_seen_.load();
      while (now > prev && !max_seen_.compare_exchange_weak(prev, now)) {
      }
      ++total_;
      // Simulated work, long enough for requests to overlap.
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::atoi(req.get_param_value("ms").c_str())));
      --current_;
      res.set_content("worked", "text/plain");
    });
    srv_.Get("/hold", [this](const httplib::Request&, httplib::Response& res) {
      std::unique_lock l(mu_);
      ++held_;
      cv_.notify_all();
      cv_.wait_for(l, 10s, [&] { return released_; });
      res.set_content("released", "text/plain");
    });
    srv_.Get("/chunks", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
        if (offset >= 10 * 1000) {
          sink.done();
          return true;
        }
        std::string piece(1000, static_cast<char>('a' + offset / 1000));
        sink.write(piece.data(), piece.size());
        return true;
      });
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    WaitFor([&] { return srv_.is_running(); });
  }
  ~Upstream() {
    Release();
    srv_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  int max_seen() const { return max_seen_; }
  int total() const { return total_; }
  bool WaitHeld(int n) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, 5s, [&] { return held_ >= n; });
  }
  void Release() {
    std::lock_guard l(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  httplib::Server srv_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> current_{0}, max_seen_{0}, total_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  int held_ = 0;
  bool released_ = false;
};

inline bool SendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// A listening socket on an ephemeral port; `Serve` accepts one connection, reads the request head
// and closes without answering (an instance that dies mid-request).
class DyingUpstream {
 public:
  DyingUpstream() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 8);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      (void)::recv(c, buf, sizeof buf, 0);
      linger lg{1, 0};  // reset, as a killed process's socket would
      ::setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      ::close(c);
    });
  }
  ~DyingUpstream() {
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

class GatewayTest : public ::testing::Test {
 protected:
  void StartGateway(GatewayOptions o = {}) {
    o.listen = "127.0.0.1:0";
    gw_ = std::make_unique<Gateway>(o, backend_, SystemClock::Get(), &metrics_);
    ASSERT_TRUE(gw_->Start().ok());
    ASSERT_GT(gw_->port(), 0);
  }
  void SetUp() override { StartGateway(); }
  void TearDown() override { gw_.reset(); }
  httplib::Client Client() {
    httplib::Client c("127.0.0.1", gw_->port());
    c.set_read_timeout(20, 0);
    c.set_write_timeout(20, 0);
    return c;
  }
  Endpoint Ep(const std::string& id, int port) {
    return Endpoint{id, "127.0.0.1", port, "", false};
  }
  // Upstreams outlive the gateway, so its pooled keep-alive connections close first and the
  // upstream's workers are not left waiting out their keep-alive timeout.
  Upstream& NewUpstream() { return *ups_.emplace_back(std::make_unique<Upstream>()); }

  FakeBackend backend_;
  Metrics metrics_;
  std::vector<std::unique_ptr<Upstream>> ups_;
  std::unique_ptr<Gateway> gw_;
};

}  // namespace tide::gateway_testing
