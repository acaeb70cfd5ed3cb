// PortAllocator: hands out the ports given to instances as $PORT, from a fixed range LO-HI.
// Allocation walks the range round-robin from just after the last port handed out (so a port that
// was just released is not reused at once), skipping ports held by this allocator and ports that
// something else on the host is using (a test bind on 0.0.0.0 fails). It prefers ports that any
// program can listen on (PortIsFreeOnHost), and only when none is left takes one that lingering
// TIME_WAIT connections leave usable for SO_REUSEADDR listeners (PortIsUsableOnHost). Release
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
  // is_free and is_usable are the two checks (tests inject them); without is_free:
  // PortIsFreeOnHost and PortIsUsableOnHost. A port that is neither is skipped.
  PortAllocator(int lo, int hi, std::function<bool(int)> is_free = nullptr,
                std::function<bool(int)> is_usable = nullptr);

  // A free port, now held; Unavailable when every port in the range is held or in use.
  Status Allocate(int* port);
  // Holds `port` (which may lie outside the range: re-adopted instances keep theirs). False when
  // it was already held.
  bool MarkTaken(int port);
  // Gives the port back; unknown ports are ignored.
  void Release(int port);
  bool IsTaken(int port) const;
  // True when another process holds `port` on the host now (a listener; not a TIME_WAIT
  // leftover): a restart on it would fail to bind for good.
  bool InUseByAnother(int port) const;
  int lo() const { return lo_; }
  int hi() const { return hi_; }

  // True when a plain TCP bind of 0.0.0.0:port succeeds: no listener on any address and no
  // TIME_WAIT leftover, so a server binds it whatever its socket options. (A TIME_WAIT left by
  // an SO_REUSEADDR server stops one that sets only SO_REUSEPORT, as cpp-httplib does, and the
  // other way round: such a workload would fail on every restart on that port.)
  static bool PortIsFreeOnHost(int port);
  // True when a bind with SO_REUSEADDR succeeds: no listener, TIME_WAIT leftovers ignored.
  static bool PortIsUsableOnHost(int port);
  // Parses "LO-HI" (1 <= LO <= HI <= 65535).
  static Status ParseRange(const std::string& text, int* lo, int* hi);

 private:
  const int lo_;
  const int hi_;
  std::function<bool(int)> is_free_;
  std::function<bool(int)> is_usable_;

 public:
  // How many ports past the first merely usable one are tried for a free one.
  static constexpr int kFallbackLookahead = 16;  // the second pass; empty with an injected is_free
  mutable std::mutex mu_;
  std::set<int> taken_;
  int next_;
};

}  // namespace tide
