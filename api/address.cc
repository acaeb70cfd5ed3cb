#include "api/address.h"

namespace tide {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool IsIpv6Char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
         c == '.';
}

// Appended piece by piece: `"'" + std::string(s)` trips GCC 12's bogus -Wrestrict at -O3
// (GCC bug 105651).
std::string Quote(std::string_view s) {
  std::string out(1, '\'');
  out.append(s);
  out += '\'';
  return out;
}

}  // namespace

bool IsWildcardHost(std::string_view host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

Status ParseHostPort(std::string_view text, PortUse use, HostPort* out) {
  *out = HostPort{};
  if (text.empty()) return Status::Invalid("empty address (want HOST:PORT)");
  if (text.size() > kMaxAddressBytes) {
    return Status::Invalid("address of " + std::to_string(text.size()) +
                           " bytes is too long (at most " + std::to_string(kMaxAddressBytes) + ")");
  }
  if (text.find("://") != std::string_view::npos) {
    return Status::Invalid(Quote(text) + " is a URL (want HOST:PORT, without a scheme)");
  }
  std::string_view host, port;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Status::Invalid(Quote(text) + ": '[' without ']' (want [IPV6]:PORT)");
    }
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::Invalid(Quote(text) + " has no port (want [IPV6]:PORT)");
    }
    port = text.substr(close + 2);
    if (host.empty()) return Status::Invalid(Quote(text) + ": empty IPv6 address");
    const size_t zone = host.find('%');
    for (size_t i = 0; i < host.size(); ++i) {
      const char c = host[i];
      const bool ok = i < zone ? IsIpv6Char(c) : (i == zone || IsNameChar(c));
      if (!ok) return Status::Invalid(Quote(text) + ": invalid character in IPv6 address");
    }
    if (host.find(':') == std::string_view::npos) {
      return Status::Invalid(Quote(text) + ": brackets are for IPv6 addresses only");
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Status::Invalid(Quote(text) + " has no port (want HOST:PORT)");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return Status::Invalid(Quote(text) + ": an IPv6 address goes in brackets, e.g. [::1]:80");
    }
    if (host.empty()) {
      return Status::Invalid(Quote(text) + " has no host (use 0.0.0.0 for every interface)");
    }
    for (char c : host) {
      if (!IsNameChar(c)) return Status::Invalid(Quote(text) + ": invalid character in host");
    }
  }
  if (port.empty()) return Status::Invalid(Quote(text) + " has no port (want HOST:PORT)");
  if (port.size() > 5) return Status::Invalid(Quote(text) + ": port out of range (1..65535)");
  int n = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return Status::Invalid(Quote(text) + ": port is not a number");
    n = n * 10 + (c - '0');
  }
  const int lo = use == PortUse::kListen ? 0 : 1;
  if (n < lo || n > 65535) {
    return Status::Invalid(Quote(text) + ": port out of range (" + std::to_string(lo) + "..65535)");
  }
  out->host = std::string(host);
  out->port = n;
  return Status::Ok();
}

std::string FormatHostPort(const HostPort& addr) {
  const bool v6 = addr.host.find(':') != std::string::npos;
  std::string out;  // not `"[" + host`: GCC 12's bogus -Wrestrict at -O3 (GCC bug 105651)
  if (v6) out += '[';
  out += addr.host;
  if (v6) out += ']';
  out += ':';
  out += std::to_string(addr.port);
  return out;
}

std::string LocalUrl(const HostPort& addr, int port) {
  HostPort h{IsWildcardHost(addr.host) ? "127.0.0.1" : addr.host, port > 0 ? port : addr.port};
  return "http://" + FormatHostPort(h);
}

}  // namespace tide
