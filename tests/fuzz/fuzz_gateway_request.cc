// libFuzzer target: the gateway's request parsing (daemon/gateway/gateway_session.cc,
// gateway_http.h) without sockets. The input is the bytes a client sends. They go through a Beast
// request_parser<buffer_body> with the gateway's default limits (head 64 KiB, body 1 GiB), fed
// the way async_read_header/async_read_some feed it (arriving in pieces, parsed from a contiguous
// buffer; the first input byte picks the piece size), the body relayed through a small buffer as
// the proxy does. A complete head then goes through what Gateway::Impl::Handle/Proxy do with it:
// gw::ParseTarget, gw::StripHopByHop, gw::AppendForwardedFor, keep_alive/chunked/content_length.
// Checks the route split's invariants: the name is non-empty and holds no '/' or '?'; an
// accepted upstream target starts with '/', holds no dot segment (also percent-encoded) and is
// a fixed point of normalisation; without dots or escapes, prefix + name + rest gives back the
// original target. gw::FramingError runs on every head.
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/gateway/gateway_http.h"

namespace {

namespace http = boost::beast::http;
namespace net = boost::asio;
using tide::gw::Target;

constexpr uint32_t kHeaderLimit = 64 * 1024;  // GatewayOptions::max_header_bytes default
constexpr uint64_t kBodyLimit = 1ull << 30;   // GatewayOptions::max_body_bytes default

[[noreturn]] void Fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz_gateway_request: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// True when a path segment is "." or ".." once "%2e"/"%2E" are decoded.
bool IsDotSegment(std::string_view seg) {
  std::string d;
  for (size_t i = 0; i < seg.size(); ++i) {
    if (seg[i] == '%' && i + 2 < seg.size() && seg[i + 1] == '2' &&
        (seg[i + 2] == 'e' || seg[i + 2] == 'E')) {
      d.push_back('.');
      i += 2;
    } else {
      d.push_back(seg[i]);
    }
  }
  return d == "." || d == "..";
}

void CheckTarget(std::string_view target) {
  Target t = tide::gw::ParseTarget(target);
  if (t.prefix == Target::Prefix::kNone) {
    if (!t.name.empty() || !t.rest.empty() || !t.error.empty())
      Fail("no route but a name, rest or error", target);
    return;
  }
  if (t.name.empty() || t.name.find_first_of("/?") != std::string::npos)
    Fail("bad workload name", target);
  if (!t.error.empty()) return;  // refused with 400
  if (t.rest.empty() || t.rest.front() != '/') Fail("upstream target without '/'", target);
  std::string prefix = t.prefix == Target::Prefix::kFunction  ? "/function/"
                       : t.prefix == Target::Prefix::kService ? "/service/"
                                                              : "/async-function/";
  // No dot segment survives, and normalising the result again changes nothing.
  std::string_view path = std::string_view(t.rest).substr(0, t.rest.find('?'));
  for (size_t pos = 1; pos <= path.size();) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (IsDotSegment(path.substr(pos, end - pos))) Fail("a dot segment was forwarded", target);
    pos = end + 1;
  }
  Target again = tide::gw::ParseTarget(prefix + t.name + t.rest);
  if (!again.error.empty() || again.rest != t.rest || again.name != t.name)
    Fail("normalisation is not idempotent", target);
  // Without '.', '%' or '\\' after the name the route split is the original text.
  std::string_view after(target);
  after.remove_prefix(prefix.size() + t.name.size());
  if (after.substr(0, after.find('?')).find_first_of(".%\\") != std::string_view::npos) return;
    // GCC 12 at -O3 reports a bogus -Wrestrict inside "/" + std::string(...): GCC bug 105651.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
  std::string expect_rest =
      (after.empty() || after.front() == '?') ? "/" + std::string(after) : std::string(after);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  if (target.substr(0, prefix.size()) != prefix ||
      target.substr(prefix.size(), t.name.size()) != t.name || t.rest != expect_rest)
    Fail("route split does not add up", target);
}

// What Handle/Proxy do with a parsed head.
void HandleHead(http::request_parser<http::buffer_body>& p) {
  auto& req = p.get();
  (void)req.version();
  (void)req.keep_alive();
  (void)p.chunked();
  (void)p.content_length();
  // Ambiguous framing is answered 400 and the connection closed; the check must not throw.
  (void)tide::gw::FramingError(req);
  const auto target = req.target();
  CheckTarget(std::string_view(target.data(), target.size()));
  tide::gw::StripHopByHop(req);
  if (req.find(http::field::connection) != req.end() ||
      req.find(http::field::upgrade) != req.end() || req.find(http::field::te) != req.end())
    Fail("hop-by-hop header survived", "");
  tide::gw::AppendForwardedFor(req, "203.0.113.7");
  const auto xff = req.find("X-Forwarded-For");
  if (xff == req.end()) Fail("no X-Forwarded-For", "");
  const auto v = xff->value();
  if (v.size() < 11 || std::string_view(v.data() + v.size() - 11, 11) != "203.0.113.7")
    Fail("X-Forwarded-For does not end with the client", std::string_view(v.data(), v.size()));
  req.version(11);
  req.keep_alive(true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;  // bytes per simulated read_some; 64 = all at once
  const bool whole = data[0] % 64 == 63;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  // Requests on one keep-alive connection, one after the other, as the session loop does.
  std::string buf;  // received, not yet consumed (the session's flat_buffer)
  size_t fed = 0;
  auto receive = [&]() {
    if (fed >= input.size()) return false;
    const size_t n = whole ? input.size() - fed : std::min(piece, input.size() - fed);
    buf.append(input.substr(fed, n));
    fed += n;
    return true;
  };
  char relay[512];
  for (int request = 0; request < 16; ++request) {
    if (buf.empty() && !receive()) return 0;
    http::request_parser<http::buffer_body> p;
    p.header_limit(kHeaderLimit);
    p.body_limit(kBodyLimit);
    boost::beast::error_code ec;
    // Head (async_read_header).
    while (!p.is_header_done()) {
      const size_t used = p.put(net::buffer(buf.data(), buf.size()), ec);
      buf.erase(0, used);
      if (ec == http::error::need_more) {
        if (!receive()) return 0;  // the client went quiet: the header timeout ends it
        continue;
      }
      if (ec) return 0;  // 400/413/431 and close
    }
    const bool keep = p.get().keep_alive();
    HandleHead(p);
    // Body, relayed in small pieces (Proxy's async_read_some loop with a buffer_body).
    while (!p.is_done()) {
      p.get().body().data = relay;
      p.get().body().size = sizeof relay;
      const size_t used = p.put(net::buffer(buf.data(), buf.size()), ec);
      buf.erase(0, used);
      if (ec == http::error::need_buffer) continue;  // relay full: sent upstream
      if (ec == http::error::need_more || (!ec && used == 0)) {
        if (!receive()) {
          p.put_eof(ec);  // client closed mid-body
          return 0;
        }
        continue;
      }
      if (ec) return 0;
    }
    if (!keep) return 0;
  }
  return 0;
}
