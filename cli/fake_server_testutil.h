// Test helper: a cpp-httplib server on 127.0.0.1 (ephemeral port) serving on a background
// thread, plus a loopback port nobody listens on. Test-only; handlers run on server threads, so
// tests guard shared state with the provided mutex.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tide::cli::testing {

class FakeServer {
 public:
  httplib::Server& server() { return server_; }
  // Binds and starts serving; returns once the accept loop runs.
  void Start() {
    // Recorded before routing, so a request is listed before its answer is sent.
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard<std::mutex> lock(mu);
      std::string target = req.path;
      if (!req.params.empty()) {
        std::string q;
        for (const auto& [k, v] : req.params) q += (q.empty() ? "?" : "&") + k + "=" + v;
        target += q;
      }
      requests.push_back(req.method + " " + target);
      return httplib::Server::HandlerResponse::Unhandled;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() is a no-op until the accept loop runs, so wait for it (deadline 5 s).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    ASSERT_TRUE(server_.is_running());
  }
  ~FakeServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> Requests() {
    std::lock_guard<std::mutex> lock(mu);
    return requests;
  }

  std::mutex mu;
  std::vector<std::string> requests;  // "METHOD /path?k=v" in arrival order

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

inline int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

inline void Json(httplib::Response& res, const std::string& body, int status = 200) {
  res.status = status;
  res.set_content(body, "application/json");
}

}  // namespace tide::cli::testing
