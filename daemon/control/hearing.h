// HearingWindow: since when tided has been able to hear its agents. A node's silence is only
// held against it for the time tided itself was running: a heartbeat tided could not read
// because it was paused (SIGSTOP, a VM freeze), starved of CPU or just started says nothing
// about the node.
//
// The control loop calls Observe(now) once per pass. Passes come at least every
// reconcile period; a gap between two passes longer than `stall_ms` means tided was not
// running its loop (nor, most likely, reading heartbeats): the window restarts at the end of
// the gap, so every node's silence is counted from then. At construction the window starts at
// `start_ms` (a start is a stall of unknown length). A gap of exactly stall_ms is not a stall.
// A stall restarts the window at most once per `min_reset_interval_ms` (ControlPlane: twice
// the node grace): a tided whose loop is slower than the bound pass after pass still declares
// a node that really died Lost, within about twice the grace, instead of never.
//
// Pure: no clock, no locks; the caller serialises calls (ControlPlane holds its mutex).
#pragma once

#include <cstdint>

namespace tide {

class HearingWindow {
 public:
  HearingWindow(int64_t start_ms, int64_t stall_ms, int64_t min_reset_interval_ms = 0);

  // One pass of the control loop at steady time `now_ms`. True when the gap since the
  // previous pass (or construction) exceeded stall_ms and the last stall reset is at least
  // min_reset_interval_ms old: heard_since() is now `now_ms`.
  bool Observe(int64_t now_ms);
  // Steady ms from which silence counts (the start, or the end of the last stall).
  int64_t heard_since() const { return heard_since_ms_; }
  // Length of the gap that Observe last reported as a stall (0: none yet).
  int64_t last_stall_ms() const { return last_stall_ms_; }

  // The silence of a node last heard at `last_heartbeat_ms`, as tided can vouch for it.
  int64_t SilenceOf(int64_t last_heartbeat_ms, int64_t now_ms) const;

 private:
  int64_t stall_ms_;
  int64_t min_reset_interval_ms_;
  int64_t heard_since_ms_;
  bool reset_before_ = false;  // a stall (not the start) has restarted the window
  int64_t last_pass_ms_;
  int64_t last_stall_ms_ = 0;
};

// The stall bound for a node grace and reconcile period: well below half the grace (so a stall
// long enough to make a node NotReady is always seen) and above a few periods (so a slow pass
// is not taken for a pause).
int64_t StallBoundMs(int64_t node_grace_ms, int64_t reconcile_period_ms);

}  // namespace tide
