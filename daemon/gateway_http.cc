#include "daemon/gateway_http.h"

#include <atomic>
#include <boost/beast/http/rfc7230.hpp>
#include <random>
#include <vector>

namespace tide::gw {

namespace http = boost::beast::http;

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
    const bool need_slash = rest.empty() || rest.front() == '?';
    t.rest.reserve(rest.size() + 1);
    if (need_slash) t.rest.push_back('/');
    t.rest.append(rest.data(), rest.size());
    return t;
  }
  return t;
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
