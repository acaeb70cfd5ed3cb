// Network addresses as flags and configuration give them: HOST:PORT, and the URL a client on
// this host uses to reach a server listening on such an address. The one parser of every
// listen flag (tided --api-listen and --gateway-listen, tide-agent --listen) and of upstream
// addresses.
//
// Accepted HOST:PORT forms (at most kMaxAddressBytes):
//   name:80 | 10.0.0.5:80 | [::1]:80 | [fe80::1%eth0]:80
// HOST is a DNS name (letters, digits, '-', '.', '_') or an IPv4 address, or an IPv6 address in
// square brackets (hex digits, ':', '.', and a '%zone'); an IPv6 address without brackets is
// refused, since its last ':' cannot be told from the port's. HOST may not be empty: use 0.0.0.0
// (or [::]) for every interface. PORT is decimal digits only, 1..65535; a listen address may
// also say 0, for any free port. Errors are Status::Invalid naming what is wrong, e.g.
// "'127.0.0.1' has no port (want HOST:PORT)".
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "api/status.h"

namespace tide {

inline constexpr size_t kMaxAddressBytes = 300;  // a 253-byte DNS name, brackets, ':', port

struct HostPort {
  std::string host;  // without brackets: "::1", "10.0.0.5", "tide.example"
  int port = 0;
};

enum class PortUse {
  kDial,    // an address to connect to: port 1..65535
  kListen,  // an address to listen on: port 0..65535, 0 = any free port
};

Status ParseHostPort(std::string_view text, PortUse use, HostPort* out);

// True for hosts that mean "every interface": 0.0.0.0, :: and "".
bool IsWildcardHost(std::string_view host);

// "http://HOST:PORT" for a client on this host: a wildcard host becomes 127.0.0.1, an IPv6 host
// is bracketed. `port` > 0 replaces addr.port (the port bound when the address asked for 0).
std::string LocalUrl(const HostPort& addr, int port = 0);

// HOST:PORT as ParseHostPort reads it back (IPv6 hosts bracketed).
std::string FormatHostPort(const HostPort& addr);

}  // namespace tide
