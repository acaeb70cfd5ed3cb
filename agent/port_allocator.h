// PortAllocator: hands out the ports given to instances as $PORT, from a fixed range LO-HI.
// Allocation walks the range round-robin from just after the last port handed out (so a port that
// was just released is not reused at once), skipping ports held by this allocator and ports that
// something else on the host is using (a test bind on 127.0.0.1 and on 0.0.0.0 fails). Release
// returns a port when its instance is removed; MarkTaken records a port an instance already holds
// (re-adoption after an agent restart). Thread-safe (one mutex).
#pragma once

#include <functional>
#include <mutex>
#include <set>
#include <string>

#include "api/status.h"

namespace tide {

class PortAllocator {
 public:
  // is_free decides whether the host is using a port; default: PortIsFreeOnHost.
  PortAllocator(int lo, int hi, std::function<bool(int)> is_free = nullptr);

  // A free port, now held; Unavailable when every port in the range is held or in use.
  Status Allocate(int* port);
  // Holds `port` (which may lie outside the range: re-adopted instances keep theirs). False when
  // it was already held.
  bool MarkTaken(int port);
  // Gives the port back; unknown ports are ignored.
  void Release(int port);
  bool IsTaken(int port) const;
  int lo() const { return lo_; }
  int hi() const { return hi_; }

  // True when TCP binds of `port` on 127.0.0.1 and on 0.0.0.0 both succeed (SO_REUSEADDR, so
  // TIME_WAIT leftovers do not count as in use; a listener does).
  static bool PortIsFreeOnHost(int port);
  // Parses "LO-HI" (1 <= LO <= HI <= 65535).
  static Status ParseRange(const std::string& text, int* lo, int* hi);

 private:
  const int lo_;
  const int hi_;
  std::function<bool(int)> is_free_;
  mutable std::mutex mu_;
  std::set<int> taken_;
  int next_;
};

}  // namespace tide
