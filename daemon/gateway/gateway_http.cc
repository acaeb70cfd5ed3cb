#include "daemon/gateway/gateway_http.h"

#include <atomic>
#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <random>
#include <vector>

namespace tide::gw {

namespace http = boost::beast::http;

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 1 for ".", 2 for "..", 0 otherwise; "%2e"/"%2E" count as a dot.
int DotSegment(std::string_view seg) {
  int dots = 0;
  for (size_t i = 0; i < seg.size();) {
    if (seg[i] == '.') {
      ++i;
    } else if (seg[i] == '%' && i + 2 < seg.size() && seg[i + 1] == '2' &&
               (seg[i + 2] == 'e' || seg[i + 2] == 'E')) {
      i += 3;
    } else {
      return 0;
    }
    if (++dots > 2) return 0;
  }
  return dots;
}

// Why a path (no query) is refused before any dot handling: a malformed escape, or a segment
// that decodes to several pieces (an encoded '/' or a '\\') one of which is "..".
std::string SegmentError(std::string_view seg) {
  std::string decoded;
  bool separator = false;
  for (size_t i = 0; i < seg.size(); ++i) {
    char c = seg[i];
    if (c == '%') {
      if (i + 2 >= seg.size() || HexValue(seg[i + 1]) < 0 || HexValue(seg[i + 2]) < 0)
        return "malformed percent-encoding in the path";
      c = static_cast<char>(HexValue(seg[i + 1]) * 16 + HexValue(seg[i + 2]));
      i += 2;
    }
    if (c == '/' || c == '\\') {
      separator = true;
      c = '/';
    }
    decoded.push_back(c);
  }
  if (!separator) return {};
  size_t start = 0;
  for (;;) {
    size_t end = decoded.find('/', start);
    if (decoded.substr(start, end == std::string::npos ? end : end - start) == "..")
      return "a path segment hides '..' behind an encoded or literal separator";
    if (end == std::string::npos) return {};
    start = end + 1;
  }
}

}  // namespace

Target ParseTarget(std::string_view target) {
  Target t;
  struct P {
    std::string_view text;
    Target::Prefix prefix;
  };
  static constexpr P kPrefixes[] = {{"/function/", Target::Prefix::kFunction},
                                    {"/service/", Target::Prefix::kService},
                                    {"/async-function/", Target::Prefix::kAsyncFunction}};
  for (const auto& p : kPrefixes) {
    if (target.substr(0, p.text.size()) != p.text) continue;
    std::string_view tail = target.substr(p.text.size());
    size_t end = tail.find_first_of("/?");
    std::string_view name = tail.substr(0, end);
    if (name.empty()) return t;
    t.prefix = p.prefix;
    t.name = std::string(name);
    std::string_view rest = end == std::string_view::npos ? std::string_view() : tail.substr(end);
    const size_t q = rest.find('?');
    std::string_view path = rest.substr(0, q);
    std::string_view query = q == std::string_view::npos ? std::string_view() : rest.substr(q);
    if (DotSegment(name) != 0 || !SegmentError(name).empty()) {
      t.error = "the workload name in the path is a dot segment or malformed";
      return t;
    }
    if (path.find_first_of(".%\\") == std::string_view::npos) {
      const bool need_slash = path.empty();
      t.rest.reserve(rest.size() + 1);
      if (need_slash) t.rest.push_back('/');
      t.rest.append(rest.data(), rest.size());
      return t;
    }
    // path is "" or "/s1/s2/...": resolve dot segments with /{prefix}/{name} as the floor.
    std::vector<std::string_view> out;
    size_t pos = 1;
    while (!path.empty()) {
      size_t slash = path.find('/', pos);
      std::string_view seg =
          path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
      const bool last = slash == std::string_view::npos;
      if (std::string why = SegmentError(seg); !why.empty()) {
        t.error = why;
        return t;
      }
      int dots = DotSegment(seg);
      if (dots == 2) {
        if (out.empty()) {
          t.error = "'..' climbs out of " + std::string(p.text) + t.name;
          return t;
        }
        out.pop_back();
      }
      if (dots == 0)
        out.push_back(seg);
      else if (last)
        out.push_back(std::string_view());
      if (last) break;
      pos = slash + 1;
    }
    t.rest.reserve(rest.size() + 1);
    for (auto seg : out) t.rest.append("/").append(seg.data(), seg.size());
    if (t.rest.empty()) t.rest.push_back('/');
    t.rest.append(query.data(), query.size());
    return t;
  }
  return t;
}

std::string FramingError(const http::request_header<>& h) {
  int te_fields = 0, cl_fields = 0;
  std::string_view te;
  for (const auto& f : h) {
    if (f.name() == http::field::transfer_encoding) {
      ++te_fields;
      te = std::string_view(f.value().data(), f.value().size());
    } else if (f.name() == http::field::content_length) {
      ++cl_fields;
      if (f.value().find(',') != boost::beast::string_view::npos)
        return "Content-Length with more than one value";
    }
  }
  if (cl_fields > 1) return "more than one Content-Length header";
  if (te_fields == 0) return {};
  if (cl_fields > 0) return "both Transfer-Encoding and Content-Length";
  if (te_fields > 1) return "more than one Transfer-Encoding header";
  if (h.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request";
  size_t b = te.find_first_not_of(" \t");
  size_t e = te.find_last_not_of(" \t");
  std::string_view v = b == std::string_view::npos ? std::string_view() : te.substr(b, e - b + 1);
  if (!boost::beast::iequals(v, "chunked"))
    return "unsupported Transfer-Encoding '" + std::string(te) + "' (only 'chunked' is accepted)";
  return {};
}

OnFailure UpstreamFailureAction(UpstreamStep step, const boost::system::error_code& ec, bool pooled,
                                bool head_complete, bool idempotent_without_body) {
  namespace asio = boost::asio;
  if (!ec) return OnFailure::kFail;
  const bool reset = ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                     ec == asio::error::connection_aborted;
  switch (step) {
    case UpstreamStep::kConnect:
      if (reset || ec == asio::error::connection_refused || ec == asio::error::host_unreachable ||
          ec == asio::error::network_unreachable)
        return OnFailure::kOtherInstance;
      return OnFailure::kFail;
    case UpstreamStep::kWriteHead:
      if (head_complete) return OnFailure::kFail;
      if (pooled) return OnFailure::kFreshConnection;
      return reset ? OnFailure::kOtherInstance : OnFailure::kFail;
    case UpstreamStep::kReadHead:
      if (pooled && idempotent_without_body &&
          (reset || ec == asio::error::eof || ec == http::error::end_of_stream))
        return OnFailure::kFreshConnection;
      return OnFailure::kFail;
  }
  return OnFailure::kFail;
}

bool IdempotentMethod(http::verb v) {
  return v == http::verb::get || v == http::verb::head || v == http::verb::options ||
         v == http::verb::trace || v == http::verb::put || v == http::verb::delete_;
}

std::string ErrorBody(std::string_view code, std::string_view message) {
  std::string out = R"({"error":{"code":")";
  auto append = [&out](std::string_view s) {
    for (char c : s) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            static const char kHex[] = "0123456789abcdef";
            out += "\\u00";
            out += kHex[(c >> 4) & 0xf];
            out += kHex[c & 0xf];
          } else {
            out += c;
          }
      }
    }
  };
  append(code);
  out += R"(","message":")";
  append(message);
  out += "\"}}\n";
  return out;
}

void NewRequestId(char (&id)[32]) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  thread_local uint64_t prefix = rng();
  thread_local uint64_t counter = rng();
  uint64_t a = prefix, b = rng() ^ ++counter;
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(a >> (60 - 4 * i)) & 0xf];
    id[16 + i] = kHex[(b >> (60 - 4 * i)) & 0xf];
  }
}

std::string NewRequestId() {
  char id[32];
  NewRequestId(id);
  return std::string(id, sizeof id);
}

void StripHopByHop(http::fields& f) {
  auto conn = f.find(http::field::connection);
  if (conn != f.end()) {
    std::vector<std::string> named;
    for (auto token : http::token_list(conn->value()))
      named.emplace_back(token.data(), token.size());
    for (const auto& n : named) {
      // Never let Connection strip the framing headers the serializer relies on.
      if (boost::beast::iequals(n, "transfer-encoding") ||
          boost::beast::iequals(n, "content-length"))
        continue;
      f.erase(n);
    }
    f.erase(http::field::connection);
  }
  f.erase(http::field::keep_alive);
  f.erase(http::field::proxy_connection);
  f.erase(http::field::te);
  f.erase(http::field::trailer);
  f.erase(http::field::upgrade);
  f.erase(http::field::proxy_authorization);
  f.erase(http::field::proxy_authenticate);
}

namespace {

void AppendFields(const http::fields& f, std::string& out) {
  for (const auto& field : f) {
    auto n = field.name_string();
    auto v = field.value();
    out.append(n.data(), n.size()).append(": ", 2).append(v.data(), v.size()).append("\r\n", 2);
  }
  out.append("\r\n", 2);
}

void AppendVersion(unsigned version, std::string& out) {
  out.append("HTTP/", 5);
  out.push_back(static_cast<char>('0' + version / 10));
  out.push_back('.');
  out.push_back(static_cast<char>('0' + version % 10));
}

}  // namespace

void AppendRequestHead(const http::request_header<>& h, std::string& out) {
  auto m = h.method_string();
  auto t = h.target();
  out.append(m.data(), m.size()).push_back(' ');
  out.append(t.data(), t.size()).push_back(' ');
  AppendVersion(h.version(), out);
  out.append("\r\n", 2);
  AppendFields(h, out);
}

void AppendResponseHead(const http::response_header<>& h, std::string& out) {
  AppendVersion(h.version(), out);
  unsigned code = h.result_int();
  char digits[3] = {static_cast<char>('0' + code / 100 % 10),
                    static_cast<char>('0' + code / 10 % 10), static_cast<char>('0' + code % 10)};
  out.push_back(' ');
  out.append(digits, 3).push_back(' ');
  auto reason = h.reason();
  if (reason.empty()) reason = http::obsolete_reason(h.result());
  out.append(reason.data(), reason.size()).append("\r\n", 2);
  AppendFields(h, out);
}

size_t ChunkHeader(size_t n, char (&buf)[24]) {
  static const char kHex[] = "0123456789abcdef";
  char tmp[16];
  size_t len = 0;
  do {
    tmp[len++] = kHex[n & 0xf];
    n >>= 4;
  } while (n != 0);
  size_t i = 0;
  while (len > 0) buf[i++] = tmp[--len];
  buf[i++] = '\r';
  buf[i++] = '\n';
  return i;
}

void AppendForwardedFor(http::fields& f, std::string_view client_ip) {
  auto it = f.find("X-Forwarded-For");
  if (it == f.end()) {
    f.set("X-Forwarded-For", client_ip);
    return;
  }
  auto prev = it->value();
  std::string v;
  v.reserve(prev.size() + 2 + client_ip.size());
  v.append(prev.data(), prev.size()).append(", ", 2).append(client_ip.data(), client_ip.size());
  f.set("X-Forwarded-For", v);
}

}  // namespace tide::gw
