// Gateway::Impl: the event-driven engine behind daemon/gateway/gateway.h (private to the gateway
// unit).
//
// Layout: `io_threads` Workers, each one io_context run by one thread. The acceptor hands new
// client sockets to workers round-robin; a client connection and every upstream connection it
// uses live on that worker for their whole life, so per-worker state (idle upstream connection
// pool, relay buffers, the connection list and its deadline sweeper) needs no locks. Shared
// routing state is the RouteTable (one short mutex). Each client connection is one C++20
// coroutine (gateway_session.cc).
//
// Hot-path choices (see docs/gateway.md, "Performance"): sockets, timers and coroutines use the
// concrete io_context executor (no any_io_executor type erasure per operation); I/O deadlines are
// a number on each connection, enforced by one lazily armed timer per worker (no timer start and
// cancel per read or write).
#pragma once

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "daemon/gateway/freeze_loop.h"
#include "daemon/gateway/gateway.h"
#include "daemon/gateway/gateway_state.h"

namespace tide {

namespace gw {

using Executor = boost::asio::io_context::executor_type;
using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
using Acceptor = boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, Executor>;
using Timer = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;
template <typename T>
using Task = boost::asio::awaitable<T, Executor>;
inline constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable_t<Executor>{});
inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

struct Worker;

// A socket of one worker with an I/O deadline. ExpiresAfter() sets the deadline of the operations
// that follow; when it passes, the worker's sweeper cancels the socket's pending operations and
// Check() reports them as beast::error::timeout. Lives and dies on its worker's thread.
class Conn {
 public:
  Conn(Worker& w, Socket s);
  explicit Conn(Worker& w);  // an unopened socket (for connect)
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  void ExpiresAfter(std::chrono::milliseconds d);
  void ExpiresNever() {
    deadline_ = kNever;
    timed_out_ = false;
  }
  // `ec`, or beast::error::timeout when the operation was cancelled by an expired deadline.
  boost::system::error_code Check(boost::system::error_code ec) const;

  Socket sock;

 private:
  friend struct Worker;
  Worker& w_;
  int64_t deadline_ = kNever;  // Clock steady ms
  bool timed_out_ = false;
  Conn* prev_ = nullptr;
  Conn* next_ = nullptr;
};

// An upstream (instance) connection with its read buffer; pooled while idle.
struct UpConn {
  explicit UpConn(Worker& w) : c(w) {}
  Conn c;
  // The response is read through it: kUpstreamReadBytes while a request uses the connection,
  // none while it is parked.
  boost::beast::flat_buffer buf;
  int64_t parked_ms = 0;  // when it went idle (Clock steady ms)
};

inline constexpr size_t kRelayBufferBytes = 64 * 1024;
// How much of a response one read from an instance may take. Beast reads as much as the buffer's
// free capacity, at least 512 bytes, and an empty flat_buffer grows to 512 only: a 2 KiB answer
// took five reads from the instance and five writes to the client, each a pass of the event loop
// and a wake-up of the client (coldstart_bench, strace).
inline constexpr size_t kUpstreamReadBytes = 16 * 1024;
inline constexpr size_t kMaxIdlePerEndpoint = 128;
// A workload's RouteInfo is reused by a worker for this long without asking the backend, unless
// SetEndpoints/RemoveWorkload happened since (Impl::route_gen_). Unknown names are not cached.
inline constexpr int64_t kRouteCacheMs = 1000;
inline constexpr size_t kRouteCacheMax = 4096;

struct CachedRoute {
  RouteInfo info;
  int64_t until_ms = 0;
  uint64_t gen = 0;
};

struct Worker {
  explicit Worker(Clock& c) : clock(c) {}

  // Declared first so they are destroyed last: coroutine frames return buffers and unlink their
  // connections while the io_context below is torn down.
  Clock& clock;
  std::vector<std::unique_ptr<char[]>> free_buffers;
  Conn* conns = nullptr;      // every live Conn of this worker (intrusive list)
  int64_t armed_at = kNever;  // when the sweeper fires next (Clock steady ms)
  boost::asio::io_context ctx{1};
  Timer sweeper{ctx};     // destroyed before ctx
  Timer load_flush{ctx};  // worker 0 only: RouteTable::FlushLoads after a deferred load signal
  std::unordered_map<std::string, CachedRoute> routes;
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

  // Deadline bookkeeping (gateway.cc): the sweeper is armed for the earliest deadline it knows
  // of; a later deadline costs nothing, an earlier one re-arms it.
  void Link(Conn* c);
  void Unlink(Conn* c);
  void ArmFor(int64_t deadline);
  void Sweep();
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
  gw::Task<void> AcceptLoop();
  gw::Task<void> RejectBusy(gw::Socket s);
  void PurgePools(const std::vector<std::string>& instance_ids);
  void ScheduleLoadFlush();
  // The backend's RouteInfo for `workload`, from the worker's cache when fresh.
  std::optional<RouteInfo> RouteOf(gw::Worker& w, const std::string& workload);

  // ---- gateway_session.cc ----
  struct Request;
  gw::Task<void> Serve(gw::Worker& w, gw::Socket sock);
  gw::Task<bool> Handle(gw::Worker& w, Request& r);
  gw::Task<bool> Proxy(gw::Worker& w, Request& r, gw::Lease& lease, bool cold,
                       std::string upstream_target);
  // One read of request body bytes from the client under the body deadline
  // (GatewayOptions::body_timeout_ms / body_min_rate); beast::error::timeout when it passed.
  gw::Task<boost::system::error_code> ReadBodySome(Request& r);
  gw::Task<bool> Reply(Request& r, unsigned status, const char* code, std::string message,
                       bool keep);
  std::unique_ptr<gw::UpConn> TakeIdle(gw::Worker& w, const std::string& key);
  void Park(gw::Worker& w, const std::string& key, std::unique_ptr<gw::UpConn> c);

  const GatewayOptions opts_;
  GatewayBackend& backend_;
  Clock& clock_;
  gw::RouteTable table_;  // declared before workers_: outlives every coroutine
  gw::FreezeLoop freeze_loop_{table_, clock_};  // the frozen tier's freezes (spec.keepAlive)
  std::atomic<int> port_{0};
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  std::mutex lifecycle_mu_;
  std::atomic<bool> started_{false};
  std::atomic<uint64_t> route_gen_{0};  // bumped by SetEndpoints/RemoveWorkload
  std::vector<std::unique_ptr<gw::Worker>> workers_;
  std::unique_ptr<gw::Acceptor> acceptor_;
  size_t next_worker_ = 0;
};

}  // namespace tide
