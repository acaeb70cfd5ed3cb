#include "agent/port_allocator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>

namespace tide {
namespace {

bool CanBind(in_addr_t addr, int port, bool reuse_addr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  if (reuse_addr) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  ::close(fd);
  return ok;
}

bool ParseInt(std::string_view s, int* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

PortAllocator::PortAllocator(int lo, int hi, std::function<bool(int)> is_free,
                             std::function<bool(int)> is_usable)
    : lo_(lo), hi_(hi), is_free_(std::move(is_free)), is_usable_(std::move(is_usable)), next_(lo) {
  if (!is_free_) {
    is_free_ = &PortAllocator::PortIsFreeOnHost;
    is_usable_ = &PortAllocator::PortIsUsableOnHost;
  }
}

bool PortAllocator::InUseByAnother(int port) const {
  return is_usable_ ? !is_usable_(port) : !is_free_(port);
}

Status PortAllocator::Allocate(int* port) {
  std::lock_guard<std::mutex> lock(mu_);
  const int n = hi_ - lo_ + 1;
  // One walk: the first free port wins; the first merely usable one is the fallback, taken when
  // kFallbackLookahead more ports show no free one (bounded work in a range full of TIME_WAIT).
  int chosen = 0, fallback = 0, past_fallback = 0;
  for (int i = 0; i < n; ++i) {
    const int p = lo_ + (next_ - lo_ + i) % n;
    if (fallback != 0 && ++past_fallback > kFallbackLookahead) break;
    if (taken_.count(p)) continue;
    if (is_free_(p)) {
      chosen = p;
      break;
    }
    if (fallback == 0 && is_usable_ && is_usable_(p)) fallback = p;
  }
  if (chosen == 0) chosen = fallback;
  if (chosen != 0) {
    taken_.insert(chosen);
    next_ = chosen == hi_ ? lo_ : chosen + 1;
    *port = chosen;
    return Status::Ok();
  }
  return Status::Unavailable("no free port in range " + std::to_string(lo_) + "-" +
                             std::to_string(hi_));
}

bool PortAllocator::MarkTaken(int port) {
  std::lock_guard<std::mutex> lock(mu_);
  return taken_.insert(port).second;
}

void PortAllocator::Release(int port) {
  std::lock_guard<std::mutex> lock(mu_);
  taken_.erase(port);
}

bool PortAllocator::IsTaken(int port) const {
  std::lock_guard<std::mutex> lock(mu_);
  return taken_.count(port) > 0;
}

bool PortAllocator::PortIsFreeOnHost(int port) {
  // The wildcard overlaps every address, so one bind finds a listener on 127.0.0.1, 0.0.0.0 or
  // any other local address (and a dual-stack [::]); half the cost of checking each.
  return CanBind(htonl(INADDR_ANY), port, /*reuse_addr=*/false);
}

bool PortAllocator::PortIsUsableOnHost(int port) {
  return CanBind(htonl(INADDR_ANY), port, /*reuse_addr=*/true);
}

Status PortAllocator::ParseRange(const std::string& text, int* lo, int* hi) {
  const auto dash = text.find('-');
  int a = 0, b = 0;
  if (dash == std::string::npos || !ParseInt(std::string_view(text).substr(0, dash), &a) ||
      !ParseInt(std::string_view(text).substr(dash + 1), &b)) {
    return Status::Invalid("port range must be LO-HI, got \"" + text + "\"");
  }
  if (a < 1 || b > 65535 || a > b) {
    return Status::Invalid("port range " + text + " must satisfy 1 <= LO <= HI <= 65535");
  }
  *lo = a;
  *hi = b;
  return Status::Ok();
}

}  // namespace tide
