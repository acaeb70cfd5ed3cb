#include "daemon/front_door.h"

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <thread>

#include "api/address.h"
#include "daemon/api_server.h"
#include "daemon/gateway_http.h"  // ErrorBody: the one-line JSON error the API answers too

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
  explicit Impl(FrontDoorOptions o) : opts(std::move(o)), acceptor(ctx) {}

  asio::awaitable<void> Refuse(beast::tcp_stream& client, http::status status, const char* code,
                               const std::string& message) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(false);
    res.body() = gw::ErrorBody(code, message);
    res.prepare_payload();
    client.expires_after(std::chrono::seconds(5));
    auto [werr, wn] = co_await http::async_write(client, res, kUse);
    if (werr) co_return;
    // Lingering close: a client still sending the refused body would get a reset (and never
    // read the answer) if we closed now. Read and drop what it sends, within bounds.
    beast::error_code ignored;
    client.socket().shutdown(tcp::socket::shutdown_send, ignored);
    client.expires_after(std::chrono::milliseconds(kLingerMs));
    std::unique_ptr<char[]> sink(new char[kCopyBufferBytes]);
    for (size_t drained = 0; drained < kLingerMaxBytes;) {
      auto [rerr, n] =
          co_await client.async_read_some(asio::buffer(sink.get(), kCopyBufferBytes), kUse);
      if (rerr) break;
      drained += n;
    }
  }

  asio::awaitable<void> Serve(tcp::socket socket) {
    beast::tcp_stream client(std::move(socket));
    beast::flat_buffer buffer;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
    parser.body_limit(opts.max_body_bytes);

    client.expires_after(std::chrono::milliseconds(opts.header_timeout_ms));
    auto [herr, hn] = co_await http::async_read_header(client, buffer, parser, kUse);
    if (herr == http::error::body_limit ||
        (!herr && parser.content_length() && *parser.content_length() > opts.max_body_bytes)) {
      // Beast checks a declared Content-Length against the limit with the head.
      co_await Refuse(client, http::status::payload_too_large, "PayloadTooLarge",
                      "request body over " + std::to_string(opts.max_body_bytes) + " bytes");
      co_return;
    }
    if (herr == http::error::header_limit) {
      co_await Refuse(client, http::status::request_header_fields_too_large,
                      "RequestHeaderFieldsTooLarge",
                      "request head over " + std::to_string(opts.max_header_bytes) + " bytes");
      co_return;
    }
    if (herr) co_return;  // too slow, gone, or not HTTP: close without an answer
    client.expires_after(std::chrono::milliseconds(opts.body_timeout_ms));
    auto [berr, bn] = co_await http::async_read(client, buffer, parser, kUse);
    if (berr == http::error::body_limit) {
      co_await Refuse(client, http::status::payload_too_large, "PayloadTooLarge",
                      "request body over " + std::to_string(opts.max_body_bytes) + " bytes");
      co_return;
    }
    if (berr) co_return;
    http::request<http::string_body> req = parser.release();
    req.keep_alive(false);

    beast::tcp_stream backend(client.get_executor());
    backend.expires_after(std::chrono::seconds(5));
    auto [cerr] = co_await backend.async_connect(
        tcp::endpoint(asio::ip::address_v4::loopback(),
                      static_cast<unsigned short>(opts.backend_port)),
        kUse);
    if (!cerr) {
      auto [werr, wn] = co_await http::async_write(backend, req, kUse);
      cerr = werr;
    }
    if (cerr) {
      co_await Refuse(client, http::status::service_unavailable, "Unavailable",
                      "the API server is not answering");
      co_return;
    }
    // The answer, byte for byte, for as long as the backend sends it (long-polls and followed
    // logs have no fixed end). A client that goes away ends the copy and closes the backend.
    backend.expires_never();
    client.expires_never();
    std::unique_ptr<char[]> data(new char[kCopyBufferBytes]);
    for (;;) {
      auto [rerr, n] =
          co_await backend.async_read_some(asio::buffer(data.get(), kCopyBufferBytes), kUse);
      if (n > 0) {
        auto [werr, wn] = co_await asio::async_write(client, asio::buffer(data.get(), n), kUse);
        if (werr) break;
      }
      if (rerr) break;
    }
    beast::error_code ignored;
    client.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      auto [err, socket] = co_await acceptor.async_accept(kUse);
      if (err) {
        if (err == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        continue;  // e.g. EMFILE: keep serving the connections we have
      }
      if (open.load() >= opts.max_connections) {
        beast::error_code ignored;
        socket.close(ignored);
        continue;
      }
      socket.set_option(tcp::no_delay(true));
      ++open;
      asio::co_spawn(ctx, Serve(std::move(socket)), [this](std::exception_ptr) { --open; });
    }
  }

  FrontDoorOptions opts;
  asio::io_context ctx{1};
  tcp::acceptor acceptor;
  std::atomic<int> open{0};
  std::thread thread;
  int port = 0;
};

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

}  // namespace tide
