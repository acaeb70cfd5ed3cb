// ServiceNotify: systemd's service notification protocol (sd_notify(3)) for tided and
// tide-agent, so their units can be Type=notify with a watchdog (deploy/systemd,
// docs/operations.md "systemd units"). The protocol is spoken here, not through libsystemd:
// it is one datagram to the AF_UNIX socket NOTIFY_SOCKET names (a path, or "@" for an abstract
// name), an interface systemd documents as stable for exactly this use, and libsystemd
// brought six more libraries (libgcrypt, libgpg-error, liblzma, libzstd, liblz4, libcap) into
// both daemons: 0.8 MiB of each one's resident memory for three messages (issue 13).
//
//   READY=1     once the daemon serves (tided: API, gateway and local agent started;
//               tide-agent: its API listens and its loops run), with a STATUS= line.
//   WATCHDOG=1  from the main thread, every half WatchdogSec (WaitForStopSignal), and only while
//               the daemon's own liveness check passes: a hung daemon stops pinging and systemd
//               restarts it.
//   STOPPING=1  when a stop signal arrived, before shutting down.
// Everything is a no-op when NOTIFY_SOCKET is unset (not started by systemd, or Type=simple).
// The watchdog is on only when WATCHDOG_USEC is set (and WATCHDOG_PID, when set, is this
// process), as sd_watchdog_enabled(3) decides. The variables are left in the environment:
// instances never see them, the agent gives each child an exact environment of its own.
//
// Thread-safety: the notify calls may be made from any thread; WaitForStopSignal from one.
#pragma once

#include <signal.h>

#include <chrono>
#include <functional>
#include <string>

namespace tide {

class ServiceNotify {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID now.
  ServiceNotify();

  bool enabled() const { return enabled_; }
  // How often to send WATCHDOG=1: half of WATCHDOG_USEC; zero when no watchdog was asked for.
  std::chrono::microseconds watchdog_interval() const { return watchdog_interval_; }

  // Each returns whether the message was sent (false when disabled or sending failed).
  bool Ready(const std::string& status);
  bool Watchdog();
  bool Stopping(const std::string& status);

 private:
  bool Send(const std::string& message);

  bool enabled_ = false;
  std::string socket_;  // NOTIFY_SOCKET
  std::chrono::microseconds watchdog_interval_{0};
};

// Blocks the calling thread until one of the signals in `set` arrives (they must be blocked
// in every thread, as both daemons do before starting threads) and returns it. Meanwhile, when
// notify has a watchdog, sends WATCHDOG=1 every watchdog_interval() for which `alive` (when
// given) returns true; `alive` may block, which withholds the ping.
int WaitForStopSignal(const sigset_t& set, ServiceNotify& notify,
                      const std::function<bool()>& alive = {});

}  // namespace tide
