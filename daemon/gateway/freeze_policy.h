// Freeze policy: which endpoints of a workload with spec.keepAlive the gateway freezes now, and
// when to look again. Pure: time is passed in (steady ms), no locks, no I/O.
//
// An endpoint is frozen once it has had no request in flight for freeze_after_ms (counted from
// when its last request ended, or from when the gateway first listed it). One with a request in
// flight, or already frozen, is left alone. Stopping is not decided here: stopAfterSeconds is the
// Function's idle timeout (daemon/control/scale_policy.h).
//
// Why the gateway decides: it is the one place that sees every request, so a freeze never
// catches a request in flight, and the thaw is on the request's own path (the gateway thaws the
// endpoint it picked before sending the request), with no round trip through the control
// loop or the agent protocol.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tide::gw {

struct FreezeCandidate {
  std::string instance_id;
  int inflight = 0;
  int64_t idle_since_ms = 0;  // steady: when its last request ended
  bool frozen = false;
};

struct FreezePlan {
  std::vector<std::string> freeze;  // instance ids, in the order given
  int64_t next_ms = -1;             // steady: the next time one comes due; -1 = none
};

// freeze_after_ms <= 0: nothing is ever frozen.
FreezePlan PlanFreezes(const std::vector<FreezeCandidate>& endpoints, int64_t freeze_after_ms,
                       int64_t now_ms);

// Seconds to milliseconds, rounded up so a freeze never comes early (negative: 0).
int64_t FreezeAfterMs(double seconds);

}  // namespace tide::gw
