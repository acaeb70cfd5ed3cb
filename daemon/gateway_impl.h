// Gateway::Impl: the event-driven engine behind daemon/gateway.h (private to the gateway unit).
//
// Layout: `io_threads` Workers, each one io_context run by one thread. The acceptor hands new
// client sockets to workers round-robin; a client connection and every upstream connection it
// uses live on that worker for their whole life, so per-worker state (idle upstream connection
// pool, relay buffers) needs no locks. Shared routing state is the RouteTable (one short mutex).
// Each client connection is one C++20 coroutine (gateway_session.cc).
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "daemon/gateway.h"
#include "daemon/gateway_state.h"

namespace tide {

namespace gw {

// An upstream (instance) connection with its read buffer; pooled while idle.
struct UpConn {
  explicit UpConn(boost::asio::any_io_executor ex) : stream(std::move(ex)) {}
  boost::beast::tcp_stream stream;
  boost::beast::flat_buffer buf;
  int64_t parked_ms = 0;  // when it went idle (Clock steady ms)
};

inline constexpr size_t kRelayBufferBytes = 64 * 1024;
inline constexpr size_t kMaxIdlePerEndpoint = 128;

struct Worker {
  // Declared first so it is destroyed last: coroutine frames return buffers while the
  // io_context below is torn down.
  std::vector<std::unique_ptr<char[]>> free_buffers;
  boost::asio::io_context ctx{1};
  // Idle upstream connections by EndpointState::pool_key. Destroyed before ctx.
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpConn>>> pool;
  std::thread thread;

  std::unique_ptr<char[]> TakeBuffer() {
    if (free_buffers.empty()) return std::make_unique<char[]>(kRelayBufferBytes);
    auto b = std::move(free_buffers.back());
    free_buffers.pop_back();
    return b;
  }
  void GiveBuffer(std::unique_ptr<char[]> b) {
    if (free_buffers.size() < 64) free_buffers.push_back(std::move(b));
  }
};

}  // namespace gw

class Gateway::Impl {
 public:
  Impl(GatewayOptions options, GatewayBackend& backend, Clock& clock, Metrics* metrics);
  ~Impl();

  Status Start();
  void Stop();
  int port() const { return port_.load(); }
  void SetEndpoints(const std::string& workload, std::vector<Endpoint> ready);
  void RemoveWorkload(const std::string& workload);
  gw::RouteTable& table() { return table_; }

 private:
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> RejectBusy(boost::asio::ip::tcp::socket s);
  void PurgePools(const std::vector<std::string>& instance_ids);

  // ---- gateway_session.cc ----
  struct Request;
  boost::asio::awaitable<void> Serve(gw::Worker& w, boost::asio::ip::tcp::socket sock);
  boost::asio::awaitable<bool> Handle(gw::Worker& w, Request& r);
  boost::asio::awaitable<bool> Proxy(gw::Worker& w, Request& r, gw::Lease& lease, bool cold,
                                     std::string upstream_target);
  boost::asio::awaitable<bool> Reply(Request& r, unsigned status, const char* code,
                                     std::string message, bool keep);
  std::unique_ptr<gw::UpConn> TakeIdle(gw::Worker& w, const std::string& key);
  void Park(gw::Worker& w, const std::string& key, std::unique_ptr<gw::UpConn> c);

  const GatewayOptions opts_;
  GatewayBackend& backend_;
  Clock& clock_;
  gw::RouteTable table_;  // declared before workers_: outlives every coroutine
  std::atomic<int> port_{0};
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  std::mutex lifecycle_mu_;
  std::atomic<bool> started_{false};
  std::vector<std::unique_ptr<gw::Worker>> workers_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  size_t next_worker_ = 0;
};

}  // namespace tide
