// Gateway public API and lifecycle: listening socket, I/O threads, accept loop, pool purging, and
// the workers' connection deadlines. The per-connection proxy logic is in gateway_session.cc;
// routing state in gateway_state.cc.
#include "daemon/gateway/gateway.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>

#include "api/address.h"
#include "daemon/gateway/gateway_http.h"
#include "daemon/gateway/gateway_impl.h"

namespace tide {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

using gw::kTuple;

// ---- connection deadlines ----

namespace gw {

Conn::Conn(Worker& w, Socket s) : sock(std::move(s)), w_(w) { w_.Link(this); }
Conn::Conn(Worker& w) : sock(w.ctx.get_executor()), w_(w) { w_.Link(this); }
Conn::~Conn() { w_.Unlink(this); }

void Conn::ExpiresAfter(std::chrono::milliseconds d) {
  timed_out_ = false;
  deadline_ = w_.clock.NowMs() + d.count();
  if (deadline_ < w_.armed_at) w_.ArmFor(deadline_);
}

boost::system::error_code Conn::Check(boost::system::error_code ec) const {
  if (ec && timed_out_ && ec == asio::error::operation_aborted) return beast::error::timeout;
  return ec;
}

void Worker::Link(Conn* c) {
  c->next_ = conns;
  if (conns) conns->prev_ = c;
  conns = c;
}

void Worker::Unlink(Conn* c) {
  if (c->prev_)
    c->prev_->next_ = c->next_;
  else
    conns = c->next_;
  if (c->next_) c->next_->prev_ = c->prev_;
  c->prev_ = c->next_ = nullptr;
}

void Worker::ArmFor(int64_t deadline) {
  armed_at = deadline;
  int64_t wait_ms = std::max<int64_t>(0, deadline - clock.NowMs());
  sweeper.expires_after(std::chrono::milliseconds(wait_ms));  // cancels an earlier wait
  sweeper.async_wait([this, deadline](boost::system::error_code ec) {
    if (ec || armed_at != deadline) return;  // re-armed meanwhile
    Sweep();
  });
}

void Worker::Sweep() {
  armed_at = kNever;
  const int64_t now = clock.NowMs();
  int64_t next = kNever;
  for (Conn* c = conns; c; c = c->next_) {
    if (c->deadline_ <= now) {
      c->deadline_ = kNever;
      c->timed_out_ = true;
      boost::system::error_code ec;
      c->sock.cancel(ec);  // pending operations complete with operation_aborted
    } else if (c->deadline_ < next) {
      next = c->deadline_;
    }
  }
  if (next != kNever) ArmFor(next);
}

}  // namespace gw

Gateway::Impl::Impl(GatewayOptions options, GatewayBackend& backend, Clock& clock, Metrics* metrics)
    : opts_(std::move(options)), backend_(backend), clock_(clock), table_(backend, clock, metrics) {
  table_.SetFlushScheduler([this] { ScheduleLoadFlush(); });
  table_.SetFreezeWake([this](int64_t due_ms) { freeze_loop_.Wake(due_ms); });
}

void Gateway::Impl::ScheduleLoadFlush() {
  if (!started_ || stopping_) {
    table_.FlushLoads();
    return;
  }
  gw::Worker* w = workers_[0].get();
  asio::post(w->ctx, [this, w] {
    w->load_flush.expires_after(std::chrono::milliseconds(gw::RouteTable::kLoadIntervalMs));
    w->load_flush.async_wait([this](boost::system::error_code ec) {
      if (!ec) table_.FlushLoads();
    });
  });
}

std::optional<RouteInfo> Gateway::Impl::RouteOf(gw::Worker& w, const std::string& workload) {
  const uint64_t gen = route_gen_.load(std::memory_order_acquire);
  const int64_t now = clock_.NowMs();
  auto it = w.routes.find(workload);
  if (it != w.routes.end() && it->second.gen == gen && now < it->second.until_ms)
    return it->second.info;
  std::optional<RouteInfo> r = backend_.Route(workload);
  if (!r) {
    if (it != w.routes.end()) w.routes.erase(it);
    return r;
  }
  if (it == w.routes.end()) {
    if (w.routes.size() >= gw::kRouteCacheMax) w.routes.clear();
    it = w.routes.emplace(workload, gw::CachedRoute{}).first;
  }
  it->second = gw::CachedRoute{*r, now + gw::kRouteCacheMs, gen};
  return r;
}

Gateway::Impl::~Impl() {
  Stop();
  acceptor_.reset();
  workers_.clear();
}

Status Gateway::Impl::Start() {
  std::lock_guard lock(lifecycle_mu_);
  if (started_) return Status::Invalid("gateway already started");
  HostPort listen;
  if (Status st = ParseHostPort(opts_.listen, PortUse::kListen, &listen); !st.ok())
    return Status::Invalid("gateway listen address: " + st.message());
  const std::string host = listen.host == "localhost" ? "127.0.0.1" : listen.host;
  const int want_port = listen.port;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return Status::Invalid("gateway listen host '" + host + "' is not an IP address");

  int n = std::max(1, opts_.io_threads);
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<gw::Worker>(clock_));
  auto acc = std::make_unique<gw::Acceptor>(workers_[0]->ctx.get_executor());
  tcp::endpoint ep(addr, static_cast<unsigned short>(want_port));
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    workers_.clear();
    return Status::Unavailable("gateway cannot listen on " + opts_.listen + ": " + ec.message());
  }
  port_ = acc->local_endpoint().port();
  acceptor_ = std::move(acc);
  started_ = true;
  freeze_loop_.Start();
  asio::co_spawn(workers_[0]->ctx, AcceptLoop(), asio::detached);
  for (auto& w : workers_) {
    gw::Worker* wp = w.get();
    wp->thread = std::thread([wp] {
      auto guard = asio::make_work_guard(wp->ctx);
      wp->ctx.run();
    });
  }
  return Status::Ok();
}

void Gateway::Impl::Stop() {
  std::lock_guard lock(lifecycle_mu_);
  if (!started_ || stopping_.exchange(true)) return;
  freeze_loop_.Stop();
  for (auto& w : workers_) w->ctx.stop();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  boost::system::error_code ec;
  acceptor_->close(ec);
  // Queued waiters hold timers of the io_contexts; coroutine frames, sockets and pooled
  // connections go when the workers are destroyed (in ~Impl, after this).
  table_.DropAllWaiters();
  port_ = 0;
}

gw::Task<void> Gateway::Impl::AcceptLoop() {
  for (;;) {
    gw::Worker& w = *workers_[next_worker_];
    next_worker_ = (next_worker_ + 1) % workers_.size();
    auto [ec, sock] = co_await acceptor_->async_accept(w.ctx.get_executor(), kTuple);
    if (stopping_ || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors or similar: back off briefly instead of spinning.
      gw::Timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(20));
      co_await t.async_wait(kTuple);
      continue;
    }
    if (connections_.load() >= opts_.max_connections) {
      asio::co_spawn(w.ctx, RejectBusy(std::move(sock)), asio::detached);
      continue;
    }
    asio::co_spawn(w.ctx, Serve(w, std::move(sock)), asio::detached);
  }
}

gw::Task<void> Gateway::Impl::RejectBusy(gw::Socket s) {
  static const std::string kBody =
      gw::ErrorBody("TooManyConnections", "the gateway is at its connection limit");
  static const std::string kResponse =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
      "application/json\r\nRetry-After: 1\r\nConnection: "
      "close\r\nContent-Length: " +
      std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
  co_await asio::async_write(s, asio::buffer(kResponse), kTuple);
  boost::system::error_code ec;
  s.shutdown(tcp::socket::shutdown_both, ec);
}

void Gateway::Impl::SetEndpoints(const std::string& workload, std::vector<Endpoint> ready) {
  route_gen_.fetch_add(1, std::memory_order_acq_rel);
  PurgePools(table_.SetEndpoints(workload, std::move(ready)));
}

void Gateway::Impl::RemoveWorkload(const std::string& workload) {
  route_gen_.fetch_add(1, std::memory_order_acq_rel);
  PurgePools(table_.RemoveWorkload(workload));
}

void Gateway::Impl::PurgePools(const std::vector<std::string>& instance_ids) {
  // workers_ is fixed from Start until ~Impl; posting to a stopped io_context is harmless.
  if (instance_ids.empty() || !started_ || stopping_) return;
  for (auto& w : workers_) {
    gw::Worker* wp = w.get();
    asio::post(wp->ctx, [wp, instance_ids] {
      for (const auto& id : instance_ids) {
        std::string prefix = id + "|";
        std::erase_if(wp->pool, [&](const auto& kv) { return kv.first.rfind(prefix, 0) == 0; });
      }
    });
  }
}

// ---- public API ----

Gateway::Gateway(GatewayOptions options, GatewayBackend& backend, Clock& clock, Metrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(options), backend, clock, metrics)) {}
Gateway::~Gateway() = default;
Status Gateway::Start() { return impl_->Start(); }
void Gateway::Stop() { impl_->Stop(); }
int Gateway::port() const { return impl_->port(); }
void Gateway::SetEndpoints(const std::string& workload, std::vector<Endpoint> ready) {
  impl_->SetEndpoints(workload, std::move(ready));
}
void Gateway::RemoveWorkload(const std::string& workload) { impl_->RemoveWorkload(workload); }
int Gateway::InFlight(const std::string& instance_id) const {
  return impl_->table().InFlight(instance_id);
}
Gateway::WorkloadLoad Gateway::Load(const std::string& workload) const {
  return impl_->table().Load(workload);
}
void Gateway::NoteInstancePhase(const std::string& workload, const std::string& phase,
                                int64_t at_ms) {
  impl_->table().NoteInstancePhase(workload, phase, at_ms);
}

}  // namespace tide
