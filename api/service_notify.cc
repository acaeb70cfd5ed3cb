#include "api/service_notify.h"

#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>

namespace tide {

ServiceNotify::ServiceNotify() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if set) names this process.
  if (enabled_ && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_interval_ = std::chrono::microseconds(usec / 2);
  }
}

bool ServiceNotify::Send(const std::string& message) {
  if (!enabled_) return false;
  return sd_notify(0, message.c_str()) > 0;
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
