// HTTP helpers of the gateway, free of sockets: route parsing of request targets, header
// rewriting for proxying (hop-by-hop removal, X-Forwarded-For, X-Request-Id), request ids and
// the one-line JSON error bodies. Pure functions; thread-safe.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <string>
#include <string_view>

namespace tide::gw {

struct Target {
  enum class Prefix { kNone, kFunction, kService, kAsyncFunction };
  Prefix prefix = Prefix::kNone;
  std::string name;   // workload name
  std::string rest;   // upstream target: "/" + rest of the path (normalised), plus "?query" if any
  std::string error;  // non-empty (with a prefix): the path is refused with 400, this says why
};
// Splits "/function/{name}[/{rest}][?query]" (and /service/, /async-function/) and normalises the
// rest of the path (RFC 3986 dot-segment removal) so it can never leave /{prefix}/{name}:
// - "." and ".." segments are resolved, also when percent-encoded ("%2e", ".%2E", "%2e%2e"); a
//   trailing one leaves a trailing "/". Other segments, empty ones and the query are kept as sent.
// - refused (error set): a ".." that would climb above /{prefix}/{name}; a dot segment in place
//   of the name; a segment that hides ".." behind an encoded or literal separator ("..%2f",
//   "%2e%2e%5c", "..\\"); a malformed percent-escape in the path.
// A target without '.', '%' or '\\' after the name is split unchanged (the fast path).
Target ParseTarget(std::string_view target);

// Why a request head's framing is refused (400, then close; RFC 9112 sections 6.1 and 6.3), or
// empty when it is unambiguous: Transfer-Encoding must be a single field naming exactly
// `chunked`, never with Content-Length and never in HTTP/1.0; Content-Length must be a single
// field with a single value.
std::string FramingError(const boost::beast::http::request_header<>& h);

// Retry rules of the proxy after an upstream failure (passive health). A request is sent again
// only when the instance cannot have acted on it:
// - kConnect: refused, reset, aborted or unreachable → kOtherInstance (eject it, retry at once
//   elsewhere); a timeout or anything else → kFail.
// - kWriteHead, the head not completely sent: on a pooled connection → kFreshConnection (it
//   went stale while idle); on a new one, reset/broken pipe → kOtherInstance; else kFail.
// - kReadHead (the whole request was sent): only an idempotent request without a body (RFC 9110
//   section 9.2.2) whose pooled connection was closed or reset before any answer byte →
//   kFreshConnection on the same instance; everything else → kFail (502/504): it may not be
//   idempotent, and the instance may have acted on it.
enum class UpstreamStep { kConnect, kWriteHead, kReadHead };
enum class OnFailure { kFail, kFreshConnection, kOtherInstance };
OnFailure UpstreamFailureAction(UpstreamStep step, const boost::system::error_code& ec, bool pooled,
                                bool head_complete, bool idempotent_without_body);
// GET, HEAD, OPTIONS, TRACE, PUT, DELETE.
bool IdempotentMethod(boost::beast::http::verb v);

// `{"error":{"code":"...","message":"..."}}` plus a newline.
std::string ErrorBody(std::string_view code, std::string_view message);

// 32 lowercase hex digits, random per process and thread, unique per call.
std::string NewRequestId();
void NewRequestId(char (&out)[32]);  // the same, without allocating

// Removes hop-by-hop headers (Connection and every header it names, Keep-Alive,
// Proxy-Connection, TE, Trailer, Upgrade, Proxy-Authorization, Proxy-Authenticate). Keeps
// Transfer-Encoding: the serializer re-frames chunked bodies itself.
void StripHopByHop(boost::beast::http::fields& f);

// Wire form of a message head ("METHOD target HTTP/1.1\r\n" or "HTTP/1.x code reason\r\n",
// then the fields and the empty line), appended to `out`. The gateway frames bodies itself.
void AppendRequestHead(const boost::beast::http::request_header<>& h, std::string& out);
void AppendResponseHead(const boost::beast::http::response_header<>& h, std::string& out);

// "{hex size}\r\n" into `buf`; returns its length.
size_t ChunkHeader(size_t n, char (&buf)[24]);

// Appends `client_ip` to X-Forwarded-For.
void AppendForwardedFor(boost::beast::http::fields& f, std::string_view client_ip);

}  // namespace tide::gw
