#include "api/service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace tide {

namespace {

// A decimal without sign or junk, as systemd writes WATCHDOG_USEC and WATCHDOG_PID.
bool ParseDecimal(const char* s, uint64_t* out) {
  if (s == nullptr) return false;
  const char* end = s + std::strlen(s);
  auto [p, ec] = std::from_chars(s, end, *out);
  return ec == std::errc() && p == end && p != s;
}

}  // namespace

ServiceNotify::ServiceNotify() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  // A path or an abstract name ("@..."); other forms (vsock:, for VMs) are not for us.
  if (socket != nullptr && (socket[0] == '/' || socket[0] == '@') &&
      std::strlen(socket) < sizeof(sockaddr_un::sun_path)) {
    socket_ = socket;
    enabled_ = true;
  }
  // As sd_watchdog_enabled(3): WATCHDOG_USEC > 0, and WATCHDOG_PID, when set, is this process.
  uint64_t usec = 0, pid = 0;
  const char* pid_env = std::getenv("WATCHDOG_PID");
  const bool ours = pid_env == nullptr ||
                    (ParseDecimal(pid_env, &pid) && pid == static_cast<uint64_t>(::getpid()));
  if (enabled_ && ours && ParseDecimal(std::getenv("WATCHDOG_USEC"), &usec) && usec > 0) {
    watchdog_interval_ = std::chrono::microseconds(usec / 2);
  }
}

bool ServiceNotify::Send(const std::string& message) {
  if (!enabled_) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  if (socket_[0] == '@') addr.sun_path[0] = '\0';  // abstract: no terminating NUL counted
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size() +
                                               (socket_[0] == '@' ? 0 : 1));
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t n;
  do {
    n = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&addr), len);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  return n == static_cast<ssize_t>(message.size());
}

bool ServiceNotify::Ready(const std::string& status) { return Send("READY=1\nSTATUS=" + status); }

bool ServiceNotify::Watchdog() { return Send("WATCHDOG=1"); }

bool ServiceNotify::Stopping(const std::string& status) {
  return Send("STOPPING=1\nSTATUS=" + status);
}

int WaitForStopSignal(const sigset_t& set, ServiceNotify& notify,
                      const std::function<bool()>& alive) {
  const auto interval = notify.watchdog_interval();
  if (interval.count() <= 0) {
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    return sig;
  }
  using Clock = std::chrono::steady_clock;
  auto next = Clock::now();
  for (;;) {
    auto now = Clock::now();
    if (now >= next) {
      if (!alive || alive()) notify.Watchdog();
      next = now + interval;
      now = Clock::now();
    }
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(next - now);
    if (left.count() < 0) left = std::chrono::nanoseconds(0);
    timespec ts;
    ts.tv_sec = static_cast<time_t>(left.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(left.count() % 1000000000);
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) return sig;
    // EAGAIN: the interval passed; EINTR: another signal; both go round again.
  }
}

}  // namespace tide
