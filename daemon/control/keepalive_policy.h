// Adaptive keep-alive (`idleTimeoutSeconds: auto` on a Function): how long to keep the last
// instance after an invocation, and when to start one again before the next expected call.
// Pure: no clock, threads or I/O; every time is passed in (steady milliseconds). Applied by the
// control plane (ControlPlane::OnLoad records busy/idle edges, ControlPlane::AutoscaleLoop
// stops and pre-warms) and replayed on synthetic traces by bench/keepalive_bench.cc.
//
// The policy is the hybrid histogram policy of Shahrad et al. (ATC'20, "Serverless in the
// Wild"), per Function:
//   - An idle gap is the time from the end of the Function's last running invocation to the
//     start of the next one (no request in flight or waiting in between). Gaps go into a
//     histogram of bounded size: 1-second buckets up to 1 minute, then 1-minute buckets up to
//     4 hours, plus a count of gaps beyond that range. Counts are halved when the histogram
//     holds `age_after` samples, so old patterns fade.
//   - When the histogram is representative (at least `min_samples` gaps, at most
//     `max_out_of_range` of them beyond the range, and the coefficient of variation of its
//     bucket counts at least `min_cv`: the gaps have a clear peak, they are not spread evenly),
//     the head (the `head_percentile` of in-range gaps, lower bucket edge) and tail
//     (`tail_percentile`, upper edge) give the windows, each widened by `margin` and `slack_ms`:
//       pre-warm at  idle_since + head * (1 - margin) - slack
//       stop at     idle_since + tail * (1 + margin) + slack
//     When the pre-warm would come less than `min_unload_ms` after idle_since, unloading is not
//     worth it and the instance is simply kept until the stop time. Otherwise the instance is
//     stopped at once and one is started again at the pre-warm time.
//   - A memory budget (this is not in the paper): the window is used only when, replayed over
//     the gaps the histogram holds, it would have cost no more memory-time and no more cold
//     starts than the fixed fallback, and less of one of them. Otherwise narrower tails are tried
//     (98th down to the 50th percentile); when none qualifies the fallback stands. So a
//     Function whose gaps are memoryless or bimodal (Poisson, bursts) keeps the fixed timeout,
//     and one whose gaps are regular (timers) is unloaded between calls and pre-warmed.
//   - Otherwise the fixed `fallback_ms` applies: keep until idle_since + fallback, no pre-warm.
// The instance is loaded while WantLoaded() says so; a call that comes while it is not is a
// cold start, and after the stop time nothing is pre-warmed until the next call.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "api/model.h"
#include "daemon/control/scale_policy.h"

namespace tide {

struct KeepAliveOptions {
  int min_samples = 5;             // gaps needed before the histogram decides
  double head_percentile = 5;      // pre-warm window
  double tail_percentile = 99;     // keep-alive window
  double margin = 0.1;             // pre-warm 10% earlier, stop 10% later
  int64_t slack_ms = 500;          // and this much more on both sides (a cold start's time)
  double min_cv = 2;               // below: the gaps are spread out, the histogram says nothing
  double max_out_of_range = 0.5;   // above this share of gaps beyond 4 h: not representative
  int64_t fallback_ms = 600'000;   // the fixed keep-alive while not representative (10 min)
  int64_t min_unload_ms = 60'000;  // shorter unloaded windows keep the instance instead
  int age_after = 1000;            // samples; then every count is halved
};

// The bounded histogram of one Function's idle gaps.
class IdleHistogram {
 public:
  static constexpr int kFineBuckets = 60;     // [i s, i+1 s), i < 60
  static constexpr int kCoarseBuckets = 239;  // [i min, i+1 min), 1 <= i < 240
  static constexpr int kBuckets = kFineBuckets + kCoarseBuckets;
  static constexpr int64_t kRangeMs = 4 * 3600 * 1000;  // gaps from here on are out of range

  // Adds one gap (negative counts as 0); halves every count when `age_after` samples are held.
  void Record(int64_t gap_ms, int age_after = 1000);
  int64_t Samples() const { return in_range_ + out_of_range_; }
  int64_t InRange() const { return in_range_; }
  int64_t OutOfRange() const { return out_of_range_; }
  uint32_t Count(int bucket) const { return counts_[static_cast<size_t>(bucket)]; }
  // Coefficient of variation of the bucket counts (0 when empty).
  double BucketCv() const;
  // The lower / upper edge (ms) of the bucket holding the p-th percentile of in-range gaps;
  // 0 when no gap is in range.
  int64_t PercentileLowerMs(double p) const;
  int64_t PercentileUpperMs(double p) const;

  static int BucketOf(int64_t gap_ms);  // -1 when out of range
  static int64_t LowerMs(int bucket);
  static int64_t UpperMs(int bucket);

 private:
  int BucketAtPercentile(double p) const;

  std::array<uint32_t, kBuckets> counts_{};
  int64_t in_range_ = 0, out_of_range_ = 0;
  double sum_sq_ = 0;  // sum of the squared counts, for BucketCv
};

// What to do after an invocation ended at idle_since_ms, until the next one starts.
struct KeepAlivePlan {
  bool adaptive = false;                 // the histogram decided (false: the fixed fallback)
  int64_t idle_since_ms = 0;             // when the last invocation ended
  int64_t unload_at_ms = 0;              // the last instance may stop from here ...
  std::optional<int64_t> prewarm_at_ms;  // ... one is started again here (if pre-warming) ...
  int64_t stop_at_ms = 0;                // ... and stopped here, for good until the next call
  std::string why;                       // for events: "keep 63s (fixed fallback: 3 gaps)", ...
};

// The plan for one idle period from the histogram as it stands.
KeepAlivePlan PlanKeepAlive(const IdleHistogram& h, const KeepAliveOptions& o,
                            int64_t idle_since_ms);

// Whether the plan wants an instance loaded at now_ms.
bool WantLoaded(const KeepAlivePlan& p, int64_t now_ms);
// When an idle Function loaded at now_ms may stop its last instance (may be <= now_ms: now).
int64_t IdleDeadline(const KeepAlivePlan& p, int64_t now_ms);
// How long, within [from_ms, to_ms), the plan keeps an instance loaded (memory-time).
int64_t LoadedMs(const KeepAlivePlan& p, int64_t from_ms, int64_t to_ms);
// Whether an instance should be started now (the pre-warm window is open).
bool PrewarmDue(const KeepAlivePlan& p, int64_t now_ms);

// One Function's keep-alive state: the histogram and the plan of the current idle period.
class KeepAliveTracker {
 public:
  // The Function went from idle to busy (a request arrived while none ran or waited): records
  // the gap since the last invocation ended, and drops the plan.
  void Busy(int64_t now_ms, const KeepAliveOptions& o);
  // The last running invocation ended: plans the idle period from now.
  void Idle(int64_t now_ms, const KeepAliveOptions& o);

  const std::optional<KeepAlivePlan>& plan() const { return plan_; }
  const IdleHistogram& histogram() const { return hist_; }

 private:
  IdleHistogram hist_;
  std::optional<int64_t> idle_since_ms_;
  std::optional<KeepAlivePlan> plan_;
};

// For the autoscale loop's DecideScale: sets in->idle_deadline_ms and in->idle_why from the
// tracker's plan at in->now_ms; with no tracker or no plan (no request ended since tided
// started, or one is running) the fixed fallback from in->last_request_ms.
void KeepAliveInput(const KeepAliveTracker* t, const KeepAliveOptions& o, ScaleInput* in);

// The autoscale loop's pre-warm: desired 0 -> max(1, minReplicas) while the plan's pre-warm
// window is open. nullopt otherwise.
std::optional<ScaleChange> PrewarmChange(const KeepAlivePlan& p, const Autoscale& a, int desired,
                                         int64_t now_ms);

}  // namespace tide
