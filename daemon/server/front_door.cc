#include "daemon/server/front_door.h"

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cmath>
#include <list>
#include <map>
#include <thread>

#include "api/address.h"
#include "api/tls.h"
#include "daemon/gateway/gateway_http.h"  // ErrorBody: the one-line JSON error the API answers too
#include "daemon/server/api_server.h"

namespace tide {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);
constexpr size_t kCopyBufferBytes = 16 << 10;
constexpr int64_t kLingerMs = 5000;              // after a refusal, drop what the client sends
constexpr size_t kLingerMaxBytes = 64ull << 20;  // for at most this long / this much

}  // namespace

struct FrontDoor::Impl {
  explicit Impl(FrontDoorOptions o) : opts(std::move(o)), acceptor(ctx) {
    if (opts.lanes.empty()) {
      FrontDoorLane only;
      only.backend_port = opts.backend_port;
      opts.lanes.push_back(std::move(only));
    }
    if (opts.max_pending <= 0) opts.max_pending = opts.max_connections;
    lane_inflight.assign(opts.lanes.size(), 0);
    lane_principal.resize(opts.lanes.size());
  }

  // A connection whose head has not arrived yet; the oldest is evicted when too many wait.
  struct Pending {
    beast::tcp_stream* stream = nullptr;
    bool evicted = false;
  };

  // Counters one admitted request holds until its answer is done (all on the io thread).
  struct Hold {
    Impl* impl = nullptr;
    int lane = -1;
    bool agent = false;
    std::string principal, peer;
    Hold() = default;
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold() {
      if (!impl) return;
      (agent ? impl->agent_open : impl->client_open) -= 1;
      if (lane < 0) return;
      impl->lane_inflight[lane] -= 1;
      if (!principal.empty()) {
        auto& m = impl->lane_principal[lane];
        if (auto it = m.find(principal); it != m.end() && --it->second <= 0) m.erase(it);
      }
      if (!agent && !peer.empty()) {
        if (auto it = impl->per_peer.find(peer); it != impl->per_peer.end() && --it->second <= 0)
          impl->per_peer.erase(it);
      }
    }
  };

  // Token bucket per principal; false (and *retry_s) when over the rate.
  bool TakeToken(const std::string& principal, int* retry_s) {
    if (opts.rate_per_principal <= 0 || principal.empty()) return true;
    const double now =
        std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    const double burst = std::max(1.0, 2 * opts.rate_per_principal);
    if (buckets.size() > 4096) buckets.clear();  // bounded whatever the principals
    auto [it, fresh] = buckets.try_emplace(principal, Bucket{burst, now});
    Bucket& b = it->second;
    if (!fresh) b.tokens = std::min(burst, b.tokens + (now - b.at) * opts.rate_per_principal);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    *retry_s = std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / opts.rate_per_principal)));
    return false;
  }

  // The TCP layer of a plain or TLS stream: timeouts and socket calls go there.
  template <class Stream>
  static beast::tcp_stream& Tcp(Stream& s) {
    return beast::get_lowest_layer(s);
  }

  // Registers a connection waiting for its head (or TLS handshake); evicts the oldest waiting
  // one when too many wait.
  std::list<Pending*>::iterator AddPending(Pending* me) {
    if (static_cast<int>(pending.size()) >= opts.max_pending) {
      Pending* oldest = pending.front();
      pending.pop_front();
      oldest->evicted = true;
      beast::error_code ignored;
      oldest->stream->socket().close(ignored);
      ++evictions;
    }
    return pending.insert(pending.end(), me);
  }

  template <class Stream>
  asio::awaitable<void> Refuse(Stream& client, http::status status, const char* code,
                               const std::string& message, int retry_after_s = 0) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, "application/json");
    if (retry_after_s > 0) res.set(http::field::retry_after, std::to_string(retry_after_s));
    res.keep_alive(false);
    res.body() = gw::ErrorBody(code, message);
    res.prepare_payload();
    Tcp(client).expires_after(std::chrono::seconds(5));
    auto [werr, wn] = co_await http::async_write(client, res, kUse);
    if (werr) co_return;
    // Lingering close: a client still sending the refused body would get a reset (and never
    // read the answer) if we closed now. Read and drop what it sends, within bounds.
    beast::error_code ignored;
    Tcp(client).socket().shutdown(tcp::socket::shutdown_send, ignored);
    Tcp(client).expires_after(std::chrono::milliseconds(kLingerMs));
    std::unique_ptr<char[]> sink(new char[kCopyBufferBytes]);
    for (size_t drained = 0; drained < kLingerMaxBytes;) {
      auto [rerr, n] =
          co_await client.async_read_some(asio::buffer(sink.get(), kCopyBufferBytes), kUse);
      if (rerr) break;
      drained += n;
    }
  }

  // A lane answered by its handler: no backend, no thread while the handler waits. True when
  // the answer was written and the connection stays open for another request.
  static FrontDoorCall MakeCall(http::request<http::string_body> req, std::string principal,
                                std::string peer) {
    FrontDoorCall call;
    call.method = std::string(req.method_string());
    call.target = std::string(req.target());
    call.body = std::move(req.body());
    call.peer = std::move(peer);
    call.principal = std::move(principal);
    for (const auto& f : req)
      call.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    return call;
  }

  template <class Stream>
  asio::awaitable<bool> ServeInProcess(Stream& client, const FrontDoorLane& lane,
                                       http::request<http::string_body> req, std::string principal,
                                       std::string peer, bool keep_alive) {
    FrontDoorAnswer ans;
    try {
      ans = co_await lane.serve(MakeCall(std::move(req), std::move(principal), std::move(peer)));
    } catch (const std::exception& e) {
      ans = FrontDoorAnswer{500, "application/json", gw::ErrorBody("Internal", e.what()), {}};
    }
    co_return co_await WriteAnswer(client, std::move(ans), keep_alive);
  }

  // A lane with `route`: relayed to where the router says (an agent's followed log), the answer
  // streamed back by Relay; no thread waits while it lasts. True when the connection stays open.
  template <class Stream>
  asio::awaitable<bool> RouteElsewhere(Stream& client, const FrontDoorLane& lane,
                                       http::request<http::string_body> req, std::string principal,
                                       std::string peer, bool keep_alive, bool head) {
    FrontDoorRoute r;
    try {
      r = co_await lane.route(MakeCall(std::move(req), std::move(principal), std::move(peer)));
    } catch (const std::exception& e) {
      r.answer = FrontDoorAnswer{500, "application/json", gw::ErrorBody("Internal", e.what()), {}};
    }
    if (r.answer) co_return co_await WriteAnswer(client, std::move(*r.answer), keep_alive);
    const auto ex = Tcp(client).get_executor();
    tcp::resolver resolver(ex);
    auto [rerr, found] = co_await resolver.async_resolve(r.host, std::to_string(r.port), kUse);
    beast::tcp_stream backend(ex);
    beast::error_code cerr = rerr;
    if (!cerr) {
      backend.expires_after(std::chrono::seconds(5));
      auto [err, ep] = co_await backend.async_connect(found, kUse);
      cerr = err;
    }
    if (!cerr) {
      http::request<http::empty_body> out{http::verb::get, r.target, 11};
      out.set(http::field::host, r.host + ":" + std::to_string(r.port));
      for (const auto& [k, v] : r.headers) out.set(k, v);
      out.keep_alive(false);
      auto [werr, wn] = co_await http::async_write(backend, out, kUse);
      cerr = werr;
    }
    if (cerr) {
      co_await Refuse(
          client, http::status::service_unavailable, "Unavailable",
          "the agent at " + r.host + ":" + std::to_string(r.port) + " is not answering");
      co_return false;
    }
    backend.expires_never();
    Tcp(client).expires_never();
    co_return co_await Relay(backend, client, keep_alive, head);
  }

  template <class Stream>
  asio::awaitable<bool> WriteAnswer(Stream& client, FrontDoorAnswer ans, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(ans.status), 11};
    if (!ans.body.empty() || ans.status != 304)
      res.set(http::field::content_type, ans.content_type);
    for (const auto& [k, v] : ans.headers) res.set(k, v);
    res.keep_alive(keep_alive);
    res.body() = std::move(ans.body);
    res.prepare_payload();
    Tcp(client).expires_after(std::chrono::seconds(30));
    auto [werr, wn] = co_await http::async_write(client, res, kUse);
    co_return !werr && keep_alive;
  }

  asio::awaitable<void> Serve(tcp::socket socket, std::string peer) {
    beast::flat_buffer buffer;
    if (!tls) {
      beast::tcp_stream client(std::move(socket));
      bool agent = false;
      while (co_await ServeOne(client, buffer, peer, &agent)) {
      }
      beast::error_code ignored;
      client.socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    // TLS: the handshake is part of waiting for the head (pending, the header timeout).
    beast::ssl_stream<beast::tcp_stream> client(std::move(socket), *tls);
    Pending me{&Tcp(client), false};
    auto slot = AddPending(&me);
    Tcp(client).expires_after(std::chrono::milliseconds(opts.header_timeout_ms));
    auto [rerr, n] = co_await Tcp(client).async_read_some(buffer.prepare(4096), kUse);
    buffer.commit(n);
    if (me.evicted) co_return;
    if (rerr || n == 0) {
      pending.erase(slot);
      co_return;
    }
    if (static_cast<const unsigned char*>(buffer.data().data())[0] != 0x16) {
      // Not a TLS handshake record: most likely plain HTTP. Say so in plain HTTP.
      pending.erase(slot);
      co_await Refuse(Tcp(client), http::status::bad_request, "NotTls",
                      "this port speaks TLS only: use https://");
      co_return;
    }
    auto [herr, used] =
        co_await client.async_handshake(asio::ssl::stream_base::server, buffer.data(), kUse);
    if (me.evicted) co_return;
    pending.erase(slot);
    if (herr) co_return;  // not our CA, wrong version, too slow: nothing to answer
    ++handshakes;
    buffer.consume(used);
    bool agent = false;
    while (co_await ServeOne(client, buffer, peer, &agent)) {
    }
    beast::error_code ignored;
    Tcp(client).socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  // One request of a connection; true when the connection may carry the next one. *agent: the
  // connection has carried an admitted agent-lane request; while it waits for its next head it
  // is not pending (a flood of half-sent requests cannot evict it) but counts against
  // max_agent_connections.
  template <class Stream>
  asio::awaitable<bool> ServeOne(Stream& client, beast::flat_buffer& buffer,
                                 const std::string& peer, bool* agent) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
    parser.body_limit(opts.max_body_bytes);

    Pending me{&Tcp(client), false};
    const bool idle_agent = *agent && agent_idle < opts.max_agent_connections;
    std::list<Pending*>::iterator slot;
    if (idle_agent) {
      ++agent_idle;
    } else {
      slot = AddPending(&me);
    }
    Tcp(client).expires_after(std::chrono::milliseconds(opts.header_timeout_ms));
    auto [herr, hn] = co_await http::async_read_header(client, buffer, parser, kUse);
    if (idle_agent) {
      --agent_idle;
    } else {
      if (me.evicted) co_return false;
      pending.erase(slot);
    }
    if (herr == http::error::body_limit ||
        (!herr && parser.content_length() && *parser.content_length() > opts.max_body_bytes)) {
      // Beast checks a declared Content-Length against the limit with the head.
      co_await Refuse(client, http::status::payload_too_large, "PayloadTooLarge",
                      "request body over " + std::to_string(opts.max_body_bytes) + " bytes");
      co_return false;
    }
    if (herr == http::error::header_limit) {
      co_await Refuse(client, http::status::request_header_fields_too_large,
                      "RequestHeaderFieldsTooLarge",
                      "request head over " + std::to_string(opts.max_header_bytes) + " bytes");
      co_return false;
    }
    if (herr) co_return false;  // too slow, gone, or not HTTP: close without an answer

    const auto head_at = std::chrono::steady_clock::now();
    // Admission: who is it, which lane, within which limits. Nothing is read past the head and
    // no backend is touched for a refusal.
    FrontDoorAdmission adm;
    if (opts.admit) {
      const auto& h = parser.get();
      FrontDoorRequest fr{std::string(h.method_string()), std::string(h.target()),
                          std::string(h[http::field::authorization]), peer};
      adm = opts.admit(fr);
    }
    if (adm.status != 0) {
      co_await Refuse(client, static_cast<http::status>(adm.status), adm.code.c_str(), adm.message);
      co_return false;
    }
    if (adm.lane < 0 || adm.lane >= static_cast<int>(opts.lanes.size())) adm.lane = 0;
    const FrontDoorLane& lane = opts.lanes[adm.lane];
    Hold hold;
    hold.agent = lane.agent;
    int& open_count = lane.agent ? agent_open : client_open;
    const int budget = lane.agent ? opts.max_agent_connections : opts.max_connections;
    if (open_count >= budget) {
      ++limited_count;
      co_await Refuse(client, http::status::service_unavailable, "Busy",
                      std::string(lane.agent ? "agent" : "client") + " connection budget (" +
                          std::to_string(budget) + ") is full",
                      1);
      co_return false;
    }
    ++open_count;
    hold.impl = this;
    if (!lane.agent) {
      const char* why = nullptr;
      int retry_s = 1;
      auto& by_principal = lane_principal[adm.lane];
      if (opts.max_per_peer > 0 && per_peer.count(peer) && per_peer[peer] >= opts.max_per_peer) {
        why = "too many requests in flight from this address";
      } else if (lane.max_inflight > 0 && lane_inflight[adm.lane] >= lane.max_inflight) {
        why = "too many requests of this kind in flight";
      } else if (lane.max_per_principal > 0 && !adm.principal.empty() &&
                 by_principal.count(adm.principal) &&
                 by_principal[adm.principal] >= lane.max_per_principal) {
        why = "too many requests of this kind in flight for this token";
      } else if (!TakeToken(adm.principal, &retry_s)) {
        why = "request rate over the limit for this token";
      }
      if (why) {
        ++limited_count;
        co_await Refuse(client, http::status::too_many_requests, "TooManyRequests", why, retry_s);
        co_return false;
      }
      ++per_peer[peer];
      hold.peer = peer;
    }
    ++lane_inflight[adm.lane];
    hold.lane = adm.lane;
    if (lane.agent) *agent = true;
    if (!adm.principal.empty()) {
      ++lane_principal[adm.lane][adm.principal];
      hold.principal = adm.principal;
    }

    Tcp(client).expires_after(std::chrono::milliseconds(opts.body_timeout_ms));
    auto [berr, bn] = co_await http::async_read(client, buffer, parser, kUse);
    if (berr == http::error::body_limit) {
      co_await Refuse(client, http::status::payload_too_large, "PayloadTooLarge",
                      "request body over " + std::to_string(opts.max_body_bytes) + " bytes");
      co_return false;
    }
    if (berr) co_return false;
    http::request<http::string_body> req = parser.release();
    const bool keep_alive = req.keep_alive();
    const bool head = req.method() == http::verb::head;
    req.keep_alive(false);
    if (lane.route) {
      co_return co_await RouteElsewhere(client, lane, std::move(req), adm.principal, peer,
                                        keep_alive, head);
    }
    if (lane.serve) {
      const bool kept =
          co_await ServeInProcess(client, lane, std::move(req), adm.principal, peer, keep_alive);
      if (adm.timed && opts.on_timed) {
        opts.on_timed(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - head_at).count());
      }
      co_return kept;
    }

    beast::tcp_stream backend(Tcp(client).get_executor());
    backend.expires_after(std::chrono::seconds(5));
    auto [cerr] = co_await backend.async_connect(
        tcp::endpoint(asio::ip::address_v4::loopback(),
                      static_cast<unsigned short>(lane.backend_port)),
        kUse);
    if (!cerr) {
      auto [werr, wn] = co_await http::async_write(backend, req, kUse);
      cerr = werr;
    }
    if (cerr) {
      co_await Refuse(client, http::status::service_unavailable, "Unavailable",
                      "the API server is not answering");
      co_return false;
    }
    backend.expires_never();
    Tcp(client).expires_never();
    const bool kept = co_await Relay(backend, client, keep_alive, head);
    if (adm.timed && opts.on_timed) {
      opts.on_timed(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - head_at).count());
    }
    co_return kept;
  }

  // The backend's answer to the client as it arrives, for as long as the backend sends it
  // (long-polls and followed logs have no fixed end), framed as the backend framed it. True
  // when it was complete and the client's connection stays open for another request.
  template <class Stream>
  asio::awaitable<bool> Relay(beast::tcp_stream& backend, Stream& client, bool keep_alive,
                              bool head) {
    beast::flat_buffer buf;
    http::response_parser<http::buffer_body> p;
    p.body_limit(boost::none);
    p.skip(head);
    auto [herr, hn] = co_await http::async_read_header(backend, buf, p, kUse);
    if (herr) co_return false;
    auto& res = p.get();
    // An answer that ends only when the backend closes cannot share the connection.
    if (!p.is_done() && !p.chunked() && !p.content_length()) keep_alive = false;
    res.keep_alive(keep_alive);
    http::response_serializer<http::buffer_body> sr{res};
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = !p.is_done();
    {  // the head at once: a followed log shows its status before its first line
      auto [werr, wn] = co_await http::async_write_header(client, sr, kUse);
      if (werr) co_return false;
    }
    std::unique_ptr<char[]> data(new char[kCopyBufferBytes]);
    do {
      if (!p.is_done()) {
        res.body().data = data.get();
        res.body().size = kCopyBufferBytes;
        auto [rerr, n] = co_await http::async_read_some(backend, buf, p, kUse);
        if (rerr == http::error::need_buffer) rerr = {};
        if (rerr) co_return false;
        res.body().size = kCopyBufferBytes - res.body().size;
        // Nothing parsed into the body yet (e.g. only a chunk's size line): an empty piece
        // would go out as a zero-size chunk, which ends a chunked body. Read on instead.
        if (res.body().size == 0 && !p.is_done()) continue;
        res.body().data = res.body().size == 0 ? nullptr : data.get();
        res.body().more = !p.is_done();
      } else {
        res.body().data = nullptr;
        res.body().size = 0;
        res.body().more = false;
      }
      auto [werr, wn] = co_await http::async_write(client, sr, kUse);
      if (werr == http::error::need_buffer) werr = {};
      if (werr) co_return false;
    } while (!p.is_done() && !sr.is_done());
    co_return keep_alive;
  }

  asio::awaitable<void> Accept() {
    // Every socket the front door may hold: pending heads, client and agent budgets. Beyond,
    // new connections are closed on accept (the budgets answer long before this).
    const int hard_cap = opts.max_pending + opts.max_connections + opts.max_agent_connections;
    for (;;) {
      auto [err, socket] = co_await acceptor.async_accept(kUse);
      if (err) {
        if (err == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        continue;  // e.g. EMFILE: keep serving the connections we have
      }
      if (open.load() >= hard_cap) {
        beast::error_code ignored;
        socket.close(ignored);
        continue;
      }
      beast::error_code ec;
      auto remote = socket.remote_endpoint(ec);
      std::string peer = ec ? std::string() : remote.address().to_string();
      socket.set_option(tcp::no_delay(true));
      ++open;
      asio::co_spawn(ctx, Serve(std::move(socket), std::move(peer)),
                     [this](std::exception_ptr) { --open; });
    }
  }

  struct Bucket {
    double tokens = 0;
    double at = 0;  // steady seconds of the last refill
  };

  FrontDoorOptions opts;
  std::atomic<int> open{0};
  std::atomic<int64_t> evictions{0}, limited_count{0}, handshakes{0};
  // Io thread only. Declared before ctx: coroutines still suspended when ctx is destroyed
  // release their Holds into these.
  std::list<Pending*> pending;
  int client_open = 0, agent_open = 0;
  int agent_idle = 0;  // kept agent connections waiting for their next head
  std::vector<int> lane_inflight;
  std::vector<std::map<std::string, int>> lane_principal;
  std::map<std::string, int> per_peer;
  std::map<std::string, Bucket> buckets;
  asio::io_context ctx{1};
  std::unique_ptr<asio::ssl::context> tls;  // set when the listener speaks TLS
  tcp::acceptor acceptor;
  std::thread thread;
  int port = 0;
};

std::string FrontDoorCall::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return v;
  }
  return "";
}

FrontDoor::FrontDoor(FrontDoorOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
FrontDoor::~FrontDoor() { Stop(); }

Status FrontDoor::Start() {
  HostPort listen;
  if (Status st = ParseHostPort(impl_->opts.listen, PortUse::kListen, &listen); !st.ok())
    return Status::Invalid("--api-listen: " + st.message());
  beast::error_code ec;
  auto addr = asio::ip::make_address(listen.host == "localhost" ? "127.0.0.1" : listen.host, ec);
  if (ec) return Status::Invalid("--api-listen: '" + listen.host + "' is not an IP address");
  tcp::endpoint ep(addr, static_cast<unsigned short>(listen.port));
  const auto& o = impl_->opts;
  if (!o.tls_cert_file.empty() || !o.tls_key_file.empty()) {
    if (o.tls_cert_file.empty() || o.tls_key_file.empty())
      return Status::Invalid("TLS needs both --tls-cert and --tls-key");
    impl_->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    if (Status st =
            ConfigureServerTls(impl_->tls->native_handle(), o.tls_cert_file, o.tls_key_file);
        !st.ok())
      return Status::Invalid("TLS: " + st.message());
  }
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::Unavailable("cannot listen on " + impl_->opts.listen + ": " + ec.message());
  impl_->port = a.local_endpoint().port();
  asio::co_spawn(impl_->ctx, impl_->Accept(), asio::detached);
  impl_->thread = std::thread([this] { impl_->ctx.run(); });
  return Status::Ok();
}

void FrontDoor::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->ctx.stop();
  impl_->thread.join();
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
}

int FrontDoor::port() const { return impl_->port; }
int FrontDoor::open_connections() const { return impl_->open.load(); }
int64_t FrontDoor::evicted() const { return impl_->evictions.load(); }
int64_t FrontDoor::limited() const { return impl_->limited_count.load(); }
int64_t FrontDoor::tls_handshakes() const { return impl_->handshakes.load(); }

}  // namespace tide
