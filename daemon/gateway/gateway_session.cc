// One client connection of the gateway: a coroutine that reads requests (keep-alive), routes
// each one, waits for a slot (queue / cold start), and relays request and response through a
// pooled upstream connection, streaming bodies through one 64 KiB buffer per direction.
#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <limits>
#include <span>

#include "daemon/gateway/gateway_http.h"
#include "daemon/gateway/gateway_impl.h"

namespace tide {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

using gw::kTuple;

std::chrono::milliseconds Ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// A relay buffer borrowed from the worker for one request.
class RelayBuffer {
 public:
  explicit RelayBuffer(gw::Worker& w) : w_(w) {}
  ~RelayBuffer() {
    if (buf_) w_.GiveBuffer(std::move(buf_));
  }
  char* get() {
    if (!buf_) buf_ = w_.TakeBuffer();
    return buf_.get();
  }

 private:
  gw::Worker& w_;
  std::unique_ptr<char[]> buf_;
};

bool IsConnectionError(const error_code& ec) {
  return ec == asio::error::connection_refused || ec == asio::error::connection_reset ||
         ec == asio::error::eof || ec == http::error::end_of_stream ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted ||
         ec == http::error::partial_message;
}

// An idle pooled connection is usable if the peer has not closed it (no EOF, no stray bytes).
bool StillOpen(gw::UpConn& c) {
  if (c.buf.size() != 0) return false;
  char b;
  ssize_t n = ::recv(c.c.sock.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

// Per-request state shared by Handle/Proxy/Reply.
struct Gateway::Impl::Request {
  gw::Conn& client;
  beast::flat_buffer& buf;
  http::request_parser<http::buffer_body>& parser;
  const std::string& client_ip;
  int64_t arrival_ms;
  std::string& head;  // scratch for the upstream request / response head (per connection)
  unsigned version = 11;
  bool client_keep = true;
  bool has_body = false;
  std::string workload{};  // for metrics ("" until routed)
  double timeout_s = 30;
  RelayBuffer* relay = nullptr;  // holds the first pre_len body bytes, read before a slot
  size_t pre_len = 0;
  int64_t body_bytes = 0;    // body bytes read from the client so far
  int64_t body_wait_ms = 0;  // time spent waiting for them
};

gw::Task<void> Gateway::Impl::Serve(gw::Worker& w, gw::Socket sock) {
  ++connections_;
  struct Count {
    std::atomic<int>& n;
    ~Count() { --n; }
  } count{connections_};
  error_code ec;
  sock.set_option(tcp::no_delay(true), ec);
  std::string client_ip;
  {
    auto remote = sock.remote_endpoint(ec);
    client_ip = ec ? "unknown" : remote.address().to_string();
  }
  gw::Conn client(w, std::move(sock));
  beast::flat_buffer buf;
  std::optional<http::request_parser<http::buffer_body>> parser;
  std::string head;
  head.reserve(512);
  for (bool first = true;; first = false) {
    if (buf.size() == 0) {
      // Idle between requests: hold as little memory as possible. A new connection must start
      // its request within the header timeout; a kept-alive one may idle longer.
      if (buf.capacity() > 16 * 1024) buf.shrink_to_fit();
      if (head.capacity() > 16 * 1024) {
        head.clear();
        head.shrink_to_fit();
      }
      client.ExpiresAfter(
          std::chrono::milliseconds(first ? opts_.header_timeout_ms : opts_.idle_timeout_ms));
      auto [rec, n] = co_await client.sock.async_read_some(buf.prepare(4096), kTuple);
      if (rec) break;
      buf.commit(n);
    }
    parser.emplace();
    parser->header_limit(static_cast<uint32_t>(
        std::min<size_t>(opts_.max_header_bytes, std::numeric_limits<uint32_t>::max())));
    parser->body_limit(static_cast<uint64_t>(opts_.max_body_bytes));
    client.ExpiresAfter(std::chrono::milliseconds(opts_.header_timeout_ms));
    auto [hec0, hn] = co_await http::async_read_header(client.sock, buf, *parser, kTuple);
    const error_code hec = client.Check(hec0);
    Request r{client, buf, *parser, client_ip, clock_.NowMs(), head};
    if (hec) {
      if (hec == http::error::header_limit) {
        co_await Reply(r, 431, "HeaderTooLarge",
                       "request head exceeds " + std::to_string(opts_.max_header_bytes) + " bytes",
                       false);
      } else if (hec == http::error::body_limit) {
        co_await Reply(r, 413, "PayloadTooLarge",
                       "request body exceeds " + std::to_string(opts_.max_body_bytes) + " bytes",
                       false);
      } else if (hec != beast::error::timeout && !IsConnectionError(hec) &&
                 hec != asio::error::operation_aborted) {
        co_await Reply(r, 400, "BadRequest", "malformed HTTP request: " + hec.message(), false);
      }
      break;
    }
    if (std::string why = gw::FramingError(parser->get()); !why.empty()) {
      co_await Reply(r, 400, "BadRequest", "ambiguous request framing: " + why, false);
      break;
    }
    bool keep = co_await Handle(w, r);
    if (!keep) break;
  }
  client.sock.shutdown(tcp::socket::shutdown_send, ec);
  client.sock.close(ec);
}

gw::Task<bool> Gateway::Impl::Reply(Request& r, unsigned status, const char* code,
                                    std::string message, bool keep) {
  http::response<http::string_body> res{static_cast<http::status>(status), r.version};
  res.set(http::field::content_type, "application/json");
  if (status == 503) res.set(http::field::retry_after, "1");
  res.body() = gw::ErrorBody(code, message);
  res.prepare_payload();
  res.keep_alive(keep);
  r.client.ExpiresAfter(Ms(r.timeout_s));
  auto [ec, n] = co_await http::async_write(r.client.sock, res, kTuple);
  table_.CountResponse(r.workload, static_cast<int>(status),
                       static_cast<double>(clock_.NowMs() - r.arrival_ms) / 1000.0);
  co_return keep && !ec;
}

gw::Task<error_code> Gateway::Impl::ReadBodySome(Request& r) {
  auto& body = r.parser.get().body();
  const int64_t allowance = opts_.body_min_rate > 0 ? r.body_bytes * 1000 / opts_.body_min_rate : 0;
  const int64_t budget = opts_.body_timeout_ms + allowance - r.body_wait_ms;
  if (budget <= 0) co_return beast::error::timeout;
  const size_t room = body.size;
  const int64_t t0 = clock_.NowMs();
  r.client.ExpiresAfter(std::chrono::milliseconds(budget));
  auto [ec, n] = co_await http::async_read_some(r.client.sock, r.buf, r.parser, kTuple);
  r.body_wait_ms += clock_.NowMs() - t0;
  r.body_bytes += static_cast<int64_t>(room - body.size);
  if (ec == http::error::need_buffer) ec = {};
  co_return r.client.Check(ec);
}

namespace {

std::string SlowBodyMessage(int64_t timeout_ms, int64_t min_rate) {
  std::string m = "the request body did not arrive within " + std::to_string(timeout_ms) + " ms";
  if (min_rate > 0) m += " (plus 1 s per " + std::to_string(min_rate) + " bytes received)";
  return m;
}

}  // namespace

gw::Task<bool> Gateway::Impl::Handle(gw::Worker& w, Request& r) {
  auto& req = r.parser.get();
  r.version = req.version();
  r.client_keep = req.keep_alive();
  r.has_body = r.parser.chunked() || (r.parser.content_length() && *r.parser.content_length() > 0);
  // An error answered before the body was read ends the connection: the unread body would
  // otherwise be taken for the next request.
  const bool keep_on_error = r.client_keep && !r.has_body;

  gw::Target t = gw::ParseTarget(std::string_view(req.target().data(), req.target().size()));
  if (t.prefix == gw::Target::Prefix::kNone) {
    co_return co_await Reply(r, 404, "NotFound",
                             "no route for " + std::string(req.target()) +
                                 "; use /function/{name}/... or /service/{name}/...",
                             keep_on_error);
  }
  if (!t.error.empty()) {
    co_return co_await Reply(r, 400, "BadRequest", "path refused: " + t.error, keep_on_error);
  }
  if (t.prefix == gw::Target::Prefix::kAsyncFunction) {
    std::optional<RouteInfo> fn = backend_.Route(t.name);
    if (!fn || fn->kind != Kind::kFunction) {
      co_return co_await Reply(r, 404, "NotFound", "no function named " + t.name, keep_on_error);
    }
    r.workload = t.name;
    if (req.method() != http::verb::post) {
      co_return co_await Reply(r, 405, "MethodNotAllowed",
                               "asynchronous invocations are POST requests", keep_on_error);
    }
    // The body is kept whole (it is stored durably), so it is bounded well below the proxy's.
    constexpr size_t kMaxAsyncBody = 8 << 20;
    if (r.parser.content_length() && *r.parser.content_length() > kMaxAsyncBody) {
      co_return co_await Reply(r, 413, "PayloadTooLarge",
                               "asynchronous request bodies are limited to 8 MiB", false);
    }
    if (auto e = req.find(http::field::expect);
        e != req.end() && beast::iequals(e->value(), "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      r.client.ExpiresAfter(Ms(r.timeout_s));
      auto [ec, n] = co_await asio::async_write(r.client.sock, asio::buffer(kContinue), kTuple);
      if (ec) co_return false;
    }
    AsyncInvocation inv;
    {
      RelayBuffer relay(w);
      while (!r.parser.is_done()) {
        char* b = relay.get();
        req.body().data = b;
        req.body().size = gw::kRelayBufferBytes;
        error_code ec = co_await ReadBodySome(r);
        if (ec == beast::error::timeout) {
          co_return co_await Reply(r, 408, "RequestTimeout",
                                   SlowBodyMessage(opts_.body_timeout_ms, opts_.body_min_rate),
                                   false);
        }
        if (ec) co_return false;
        inv.body.append(b, gw::kRelayBufferBytes - req.body().size);
        if (inv.body.size() > kMaxAsyncBody) {
          co_return co_await Reply(r, 413, "PayloadTooLarge",
                                   "asynchronous request bodies are limited to 8 MiB", false);
        }
      }
    }
    gw::StripHopByHop(req);
    gw::AppendForwardedFor(req, r.client_ip);
    for (const auto& f : req) {
      if (f.name() == http::field::host || f.name() == http::field::content_length ||
          f.name() == http::field::transfer_encoding || f.name() == http::field::expect)
        continue;
      inv.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    inv.method = "POST";
    inv.target = t.rest;
    std::string id;
    Status st = backend_.EnqueueAsync(t.name, std::move(inv), &id);
    if (!st.ok()) {
      co_return co_await Reply(r, 503, "Unavailable", st.message(), r.client_keep);
    }
    http::response<http::string_body> res{http::status::accepted, r.version};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::location, "/v1/invocations/" + id);
    res.body() = "{\"id\":\"" + id + "\"}\n";
    res.prepare_payload();
    res.keep_alive(r.client_keep);
    r.client.ExpiresAfter(Ms(r.timeout_s));
    auto [ec, n] = co_await http::async_write(r.client.sock, res, kTuple);
    table_.CountResponse(r.workload, 202,
                         static_cast<double>(clock_.NowMs() - r.arrival_ms) / 1000.0);
    co_return r.client_keep && !ec;
  }
  std::optional<RouteInfo> route = RouteOf(w, t.name);
  const bool want_function = t.prefix == gw::Target::Prefix::kFunction;
  if (!route || route->kind == Kind::kLayer || (route->kind == Kind::kFunction) != want_function) {
    std::string what = want_function ? "function" : "service";
    co_return co_await Reply(r, 404, "NotFound", "no " + what + " named " + t.name, keep_on_error);
  }
  r.workload = t.name;
  r.timeout_s = route->timeout_seconds > 0 ? route->timeout_seconds : 30;
  if (r.parser.content_length() &&
      *r.parser.content_length() > static_cast<uint64_t>(opts_.max_body_bytes)) {
    co_return co_await Reply(
        r, 413, "PayloadTooLarge",
        "request body exceeds " + std::to_string(opts_.max_body_bytes) + " bytes", false);
  }

  // Expect: 100-continue is answered here, and the body's start (up to one relay buffer, or all
  // of it) is read before the request takes a slot: a slow sender holds no instance capacity.
  if (auto e = req.find(http::field::expect); e != req.end()) {
    const bool cont = beast::iequals(e->value(), "100-continue");
    req.erase(http::field::expect);
    if (cont && r.has_body) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      r.client.ExpiresAfter(Ms(r.timeout_s));
      auto [ec, n] = co_await asio::async_write(r.client.sock, asio::buffer(kContinue), kTuple);
      if (ec) co_return false;
    }
  }
  RelayBuffer relay(w);
  r.relay = &relay;
  if (r.has_body) {
    req.body().data = relay.get();
    req.body().size = gw::kRelayBufferBytes;
    while (!r.parser.is_done() && req.body().size > 0) {
      error_code ec = co_await ReadBodySome(r);
      if (ec == beast::error::timeout) {
        co_return co_await Reply(r, 408, "RequestTimeout",
                                 SlowBodyMessage(opts_.body_timeout_ms, opts_.body_min_rate),
                                 false);
      }
      if (ec == http::error::body_limit) {
        co_return co_await Reply(
            r, 413, "PayloadTooLarge",
            "request body exceeds " + std::to_string(opts_.max_body_bytes) + " bytes", false);
      }
      if (ec) co_return false;
    }
    r.pre_len = gw::kRelayBufferBytes - req.body().size;
  }

  // A slot on an endpoint, now or after waiting in the queue.
  gw::Lease lease;
  std::shared_ptr<gw::Waiter> waiter;
  std::shared_ptr<gw::Timer> timer;
  auto exec = co_await asio::this_coro::executor;
  auto make_waiter = [&]() {
    timer = std::make_shared<gw::Timer>(exec);
    auto wt = std::make_shared<gw::Waiter>();
    wt->wake = [tm = timer]() { asio::post(tm->get_executor(), [tm] { tm->cancel(); }); };
    return wt;
  };
  auto admit = table_.Acquire(t.name, *route, opts_.max_queue_per_workload, r.arrival_ms,
                              make_waiter, &lease, &waiter);
  if (admit == gw::RouteTable::Admit::kQueueFull) {
    co_return co_await Reply(r, 503, "QueueFull",
                             "too many requests waiting for " + t.name + "; retry later",
                             keep_on_error);
  }
  bool cold = false;
  if (admit == gw::RouteTable::Admit::kQueued) {
    timer->expires_after(Ms(r.timeout_s));
    co_await timer->async_wait(kTuple);
    // Woken (cancelled) by a decision, or the deadline passed.
    // CancelWaiter reads and settles the outcome under the table's lock.
    if (table_.CancelWaiter(t.name, waiter)) {
      std::string msg = waiter->cold ? "no instance of " + t.name + " became ready within " +
                                           std::to_string(r.timeout_s) + "s"
                                     : "every instance of " + t.name + " stayed busy for " +
                                           std::to_string(r.timeout_s) + "s";
      co_return co_await Reply(r, 504, "Timeout", msg, keep_on_error);
    }
    if (waiter->outcome == gw::Waiter::Outcome::kRemoved) {
      co_return co_await Reply(r, 404, "NotFound", "workload " + t.name + " was removed",
                               keep_on_error);
    }
    lease = std::move(waiter->lease);
    cold = waiter->cold;
    if (!table_.Thaw(&lease))  // granted a frozen endpoint whose process is gone
      co_return co_await Reply(r, 503, "Unavailable", t.name + ": retry", keep_on_error);
  }
  bool keep = co_await Proxy(w, r, lease, cold, std::move(t.rest));
  co_return keep;
}

std::unique_ptr<gw::UpConn> Gateway::Impl::TakeIdle(gw::Worker& w, const std::string& key) {
  auto it = w.pool.find(key);
  if (it == w.pool.end()) return nullptr;
  auto& v = it->second;
  while (!v.empty()) {
    auto c = std::move(v.back());
    v.pop_back();
    // A connection parked moments ago is trusted (servers announce a close in their last
    // answer); an older one is checked for a close that arrived while it was idle.
    if (c->buf.size() == 0 && (clock_.NowMs() - c->parked_ms < 1000 || StillOpen(*c))) return c;
  }
  return nullptr;
}

void Gateway::Impl::Park(gw::Worker& w, const std::string& key, std::unique_ptr<gw::UpConn> c) {
  auto& v = w.pool[key];
  if (v.size() >= gw::kMaxIdlePerEndpoint) return;
  c->c.ExpiresNever();
  c->buf.shrink_to_fit();  // an idle connection holds no read buffer (empty after a response)
  c->parked_ms = clock_.NowMs();
  v.push_back(std::move(c));
}

gw::Task<bool> Gateway::Impl::Proxy(gw::Worker& w, Request& r, gw::Lease& lease_in, bool cold,
                                    std::string upstream_target) {
  // Give the slot back however this coroutine ends (but not during shutdown: the table's
  // wakeups would be posted to io_contexts being destroyed).
  struct LeaseGuard {
    Gateway::Impl* impl;
    gw::Lease lease;
    ~LeaseGuard() {
      if (!impl->stopping_) impl->table_.Release(&lease);
    }
  } guard{this, std::move(lease_in)};
  auto& req = r.parser.get();
  const bool keep_on_error = r.client_keep && !r.has_body;

  // Upstream request head: same method, headers and body; target rewritten.
  req.target(upstream_target);
  const bool is_head = req.method() == http::verb::head;
  const bool idempotent_without_body = !r.has_body && gw::IdempotentMethod(req.method());
  gw::StripHopByHop(req);
  gw::AppendForwardedFor(req, r.client_ip);
  // A view into the request's own field (not modified after this) or into new_id.
  std::string_view request_id;
  char new_id[32];
  if (auto id = req.find("X-Request-Id"); id != req.end() && !id->value().empty()) {
    request_id = std::string_view(id->value().data(), id->value().size());
  } else {
    gw::NewRequestId(new_id);
    request_id = std::string_view(new_id, sizeof new_id);
    req.set("X-Request-Id", request_id);
  }
  req.version(11);
  // The head goes out as we serialize it; bodies are framed here (chunked stays chunked).
  std::string& head = r.head;
  head.clear();
  gw::AppendRequestHead(req, head);
  const bool req_chunked = r.parser.chunked();

  RelayBuffer& relay = *r.relay;
  const auto timeout = Ms(r.timeout_s);
  std::unique_ptr<gw::UpConn> up;
  bool body_started = false;
  auto fail = [&](unsigned status, const char* code, std::string msg) {
    return Reply(r, status, code, std::move(msg), keep_on_error && !body_started);
  };
  char chunk_head[24];
  static constexpr std::string_view kCrlf = "\r\n";
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";
  std::optional<http::response_parser<http::buffer_body>> rp;
  // Passive health: the endpoint could not have seen the request; eject it and move the request
  // to another ready endpoint (never an ejected one). At most kMaxHops moves per request.
  constexpr int kMaxHops = 8;
  int hops = 0;
  auto other_instance = [&]() {
    table_.Eject(guard.lease);
    PurgePools({guard.lease.ep->ep.instance_id});
    if (hops >= kMaxHops) return false;
    gw::Lease other = table_.TryAcquireOther(guard.lease);
    if (!other || !table_.Thaw(&other)) return false;
    ++hops;
    table_.Release(&guard.lease);
    guard.lease = std::move(other);
    return true;
  };

  // Connect (or reuse), send the request, read the response head. What a failure leads to is
  // gw::UpstreamFailureAction: a fresh connection to the same instance (a pooled one went stale),
  // another instance (this one refused or reset before it could see the request), or an error.
  for (int attempt = 0;; ++attempt) {
    const gw::EndpointState& ep = *guard.lease.ep;
    bool reused = false;
    up = attempt < 2 ? TakeIdle(w, ep.pool_key) : nullptr;
    if (up) {
      reused = true;
    } else {
      up = std::make_unique<gw::UpConn>(w);
      error_code ec;
      auto addr = asio::ip::make_address(ep.ep.host, ec);
      up->c.ExpiresAfter(timeout);
      if (!ec) {
        auto [cec] = co_await up->c.sock.async_connect(tcp::endpoint(addr, ep.ep.port), kTuple);
        ec = up->c.Check(cec);
      } else {
        asio::ip::basic_resolver<tcp, gw::Executor> resolver(co_await asio::this_coro::executor);
        auto [rec, results] =
            co_await resolver.async_resolve(ep.ep.host, std::to_string(ep.ep.port), kTuple);
        ec = rec;
        if (!ec) {
          auto [cec, cep] = co_await asio::async_connect(up->c.sock, results, kTuple);
          ec = up->c.Check(cec);
        }
      }
      if (ec) {
        if (gw::UpstreamFailureAction(gw::UpstreamStep::kConnect, ec, false, false, false) ==
                gw::OnFailure::kOtherInstance &&
            other_instance()) {
          attempt = -1;
          continue;
        }
        if (ec == beast::error::timeout)
          co_return co_await fail(504, "Timeout",
                                  "could not connect to an instance of " + r.workload + " within " +
                                      std::to_string(r.timeout_s) + "s");
        co_return co_await fail(502, "BadGateway",
                                "cannot connect to instance " + ep.ep.instance_id + " of " +
                                    r.workload + ": " + ec.message());
      }
      up->c.sock.set_option(tcp::no_delay(true), ec);
    }
    up->c.ExpiresAfter(timeout);
    {
      auto [wec, n] = co_await asio::async_write(up->c.sock, asio::buffer(head), kTuple);
      const error_code ec = up->c.Check(wec);
      if (ec) {
        auto action = gw::UpstreamFailureAction(gw::UpstreamStep::kWriteHead, ec, reused,
                                                n >= head.size(), false);
        if (action == gw::OnFailure::kFreshConnection) continue;
        if (action == gw::OnFailure::kOtherInstance && other_instance()) {
          attempt = -1;
          continue;
        }
        co_return co_await fail(502, "BadGateway",
                                "instance " + ep.ep.instance_id + " of " + r.workload +
                                    " failed while receiving the request: " + ec.message());
      }
    }
    // Stream the request body: first what was read before the slot was taken, then the rest.
    for (bool first = r.has_body; first || !r.parser.is_done(); first = false) {
      char* b = relay.get();
      size_t got = 0;
      if (first) {
        got = r.pre_len;
      } else {
        req.body().data = b;
        req.body().size = gw::kRelayBufferBytes;
        error_code ec = co_await ReadBodySome(r);
        body_started = true;
        if (ec == beast::error::timeout) {
          co_return co_await fail(408, "RequestTimeout",
                                  SlowBodyMessage(opts_.body_timeout_ms, opts_.body_min_rate));
        }
        if (ec == http::error::body_limit) {
          co_return co_await fail(
              413, "PayloadTooLarge",
              "request body exceeds " + std::to_string(opts_.max_body_bytes) + " bytes");
        }
        if (ec) co_return false;  // the client went away or sent garbage
        got = gw::kRelayBufferBytes - req.body().size;
      }
      const bool last = r.parser.is_done();
      std::array<asio::const_buffer, 4> out;
      size_t nb = 0;
      if (req_chunked) {
        if (got > 0) {
          out[nb++] = asio::buffer(chunk_head, gw::ChunkHeader(got, chunk_head));
          out[nb++] = asio::buffer(b, got);
          out[nb++] = asio::buffer(kCrlf);
        }
        if (last) out[nb++] = asio::buffer(kLastChunk);
      } else if (got > 0) {
        out[nb++] = asio::buffer(b, got);
      }
      if (nb == 0) continue;
      body_started = true;
      up->c.ExpiresAfter(timeout);
      auto [wec, wn] = co_await asio::async_write(
          up->c.sock, std::span<const asio::const_buffer>(out.data(), nb), kTuple);
      if (wec) {
        co_return co_await fail(502, "BadGateway",
                                "instance " + ep.ep.instance_id + " of " + r.workload +
                                    " failed while receiving the request: " + wec.message());
      }
    }
    // Response head (skipping interim 1xx answers).
    up->buf.reserve(gw::kUpstreamReadBytes);
    error_code hec;
    for (;;) {
      rp.emplace();
      rp->header_limit(static_cast<uint32_t>(std::min<size_t>(opts_.max_header_bytes, 1u << 30)));
      rp->body_limit(boost::none);
      if (is_head) rp->skip(true);
      up->c.ExpiresAfter(timeout);
      auto [ec, n] = co_await http::async_read_header(up->c.sock, up->buf, *rp, kTuple);
      hec = up->c.Check(ec);
      if (hec) break;
      unsigned st = rp->get().result_int();
      if (st < 100 || st >= 200 || st == 101) break;
    }
    if (hec && !body_started &&
        gw::UpstreamFailureAction(gw::UpstreamStep::kReadHead, hec, reused, true,
                                  idempotent_without_body) == gw::OnFailure::kFreshConnection)
      continue;
    if (hec == beast::error::timeout) {
      co_return co_await fail(504, "Timeout",
                              "instance " + ep.ep.instance_id + " of " + r.workload +
                                  " did not answer within " + std::to_string(r.timeout_s) + "s");
    }
    if (hec) {
      co_return co_await fail(502, "BadGateway",
                              "instance " + ep.ep.instance_id + " of " + r.workload +
                                  " closed the connection before answering: " + hec.message());
    }
    break;
  }
  if (cold) table_.NoteColdFirstByte(r.workload, r.arrival_ms);

  const gw::EndpointState& ep = *guard.lease.ep;
  auto& res = rp->get();
  const unsigned status = res.result_int();
  const bool upstream_keep = rp->keep_alive();
  const bool up_chunked = rp->chunked();
  const bool framed = rp->is_done() || up_chunked || rp->content_length().has_value();
  gw::StripHopByHop(res);
  if (res.find("X-Request-Id") == res.end()) res.set("X-Request-Id", request_id);
  if (cold) res.set("X-Tide-Cold-Start", "true");
  if (guard.lease.thawed) res.set("X-Tide-Warm-Start", "thawed");
  res.version(r.version);
  bool keep = r.client_keep;
  bool out_chunked = up_chunked;
  if (!framed) {
    // Body runs until the instance closes: re-frame as chunked for HTTP/1.1 clients.
    if (r.version >= 11) {
      res.chunked(true);
      out_chunked = true;
    } else {
      keep = false;
    }
  } else if (r.version < 11 && up_chunked) {
    res.chunked(false);
    out_chunked = false;
    keep = false;
  }
  res.keep_alive(keep);
  head.clear();
  gw::AppendResponseHead(res, head);

  // Stream the response body; the head goes out with the first piece of it.
  bool upstream_ok = true;
  bool client_ok = true;
  bool head_sent = false;
  for (;;) {
    char* b = nullptr;
    size_t got = 0;
    bool last = rp->is_done();
    if (!last) {
      b = relay.get();
      res.body().data = b;
      res.body().size = gw::kRelayBufferBytes;
      up->c.ExpiresAfter(timeout);
      auto [ec, n] = co_await http::async_read_some(up->c.sock, up->buf, *rp, kTuple);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        upstream_ok = false;
        break;
      }
      got = gw::kRelayBufferBytes - res.body().size;
      last = rp->is_done();
    }
    std::array<asio::const_buffer, 5> out;
    size_t nb = 0;
    if (!head_sent) out[nb++] = asio::buffer(head);
    if (out_chunked) {
      if (got > 0) {
        out[nb++] = asio::buffer(chunk_head, gw::ChunkHeader(got, chunk_head));
        out[nb++] = asio::buffer(b, got);
        out[nb++] = asio::buffer(kCrlf);
      }
      if (last && !is_head) out[nb++] = asio::buffer(kLastChunk);
    } else if (got > 0) {
      out[nb++] = asio::buffer(b, got);
    }
    if (nb > 0) {
      r.client.ExpiresAfter(timeout);
      auto [ec, n] = co_await asio::async_write(
          r.client.sock, std::span<const asio::const_buffer>(out.data(), nb), kTuple);
      if (ec) {
        client_ok = false;
        break;
      }
      head_sent = true;
    }
    if (last) break;
  }
  const double seconds = static_cast<double>(clock_.NowMs() - r.arrival_ms) / 1000.0;
  if (upstream_ok && client_ok && upstream_keep && rp->is_done() && framed)
    Park(w, ep.pool_key, std::move(up));
  // Slot back and response counted under one lock (ep is not used after this).
  table_.Release(&guard.lease, static_cast<int>(status), seconds);
  co_return upstream_ok&& client_ok&& keep&& r.parser.is_done();
}

}  // namespace tide
