// HTTP helpers of the gateway, free of sockets: route parsing of request targets, header
// rewriting for proxying (hop-by-hop removal, X-Forwarded-For, X-Request-Id), request ids and
// the one-line JSON error bodies. Pure functions; thread-safe.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <cstddef>
#include <string>
#include <string_view>

namespace tide::gw {

struct Target {
  enum class Prefix { kNone, kFunction, kService, kAsyncFunction };
  Prefix prefix = Prefix::kNone;
  std::string name;  // workload name
  std::string rest;  // upstream target: "/" + rest of the path, plus "?query" if any
};
// Splits "/function/{name}[/{rest}][?query]" (and /service/, /async-function/).
Target ParseTarget(std::string_view target);

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
