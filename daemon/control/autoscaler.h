// Autoscaler: metric-driven replica decisions (Knative-like), pure logic. No threads, no I/O,
// no metrics or events: the control loop feeds load samples, asks for a decision, and itself
// applies it, counts tide_autoscaler_scale_events_total and records the event using `reason`.
// The algorithm and every parameter are documented in docs/autoscaling.md.
//
// Load, per workload, as the control loop must report it (one number for the whole workload):
//   concurrency: total in-flight + queued requests in the gateway;
//   rps:         requests per second arriving at the gateway;
//   cpu:         sum over instances of (cpu cores used / cpu cores requested x 100), e.g. four
//                instances each using their full request = 400. `target` is then "% of the
//                requested cpu per instance" (70 = 70%).
// Samples are meant to come every ~100 ms and decisions every ~100-200 ms. Windows work on
// timestamps: for concurrency and rps a gap in the samples is zero load; for cpu it is no news
// (with no cpu sample in the stable window the decision keeps the current count).
//
// `current_replicas` passed to Decide is the number of instances that exist now (starting or
// ready); the decision's `desired` is what the control loop should run. Rules, in order:
//   1. stable = mean load over stableWindowSeconds; panic = max(mean over panicWindowSeconds,
//      mean over the short burst window, 1 s by default), so a step is seen within a second.
//   2. Panic mode starts when panic >= panicThreshold x current x target (at 0 replicas: any
//      load, which is activation) and ends after a full stable window without that condition.
//      In panic: desired = max(current, ceil(panic / target)); never a scale-down.
//   3. Otherwise desired = ceil(stable / target), except that when that is a scale-up and the
//      panic-window mean is above the stable mean (the stable mean lags a load that rose within
//      the window), desired = ceil(panic-window mean / target), remembered as the
//      recommendation. A scale-down goes no lower than the highest recommendation over the last
//      stable window (no flapping on dips), nor below ceil(panic / target): the counts panic
//      mode chose are never in that history, and a scale-down the short-window load would
//      undo at once is a flap (a ramp still rising when panic mode ends).
//   4. Tolerance: no change while |load / (current x target) - 1| <= tolerance.
//   5. Scale-up at most to ceil(maxScaleUpRate x max(current, 1)) per decision.
//   6. With minReplicas 0, zero only after a full stable window without load (IdleFor), and
//      then at once. Finally clamp to [minReplicas, maxReplicas].
//
// Thread-safety: WorkloadAutoscaler and LoadSeries are not thread-safe. Autoscaler (the manager
// keyed by workload name) is: every method takes an internal mutex, so a sampling thread may
// Record while the control loop calls Decide.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/clock.h"
#include "api/model.h"
#include "api/status.h"
#include "daemon/control/autoscaler_window.h"

namespace tide {

struct AutoscalerOptions {
  int64_t sample_hold_ms = 1000;   // a sample stands for at most this long; later is a gap
  int64_t burst_window_ms = 1000;  // short window that lets panic mode see a step at once
};

struct ScaleDecision {
  int desired = 0;     // replicas to run
  bool panic = false;  // in panic mode after this decision
  double load = 0;     // the load figure the decision rests on (panic or stable mean)
  std::string reason;  // one line for the event, e.g. "scaled up from 1 to 8: concurrency 38.5
                       // over 6s panic window, target 5"; also filled when nothing changes
};

// Decision state of one workload.
class WorkloadAutoscaler {
 public:
  using Decision = ScaleDecision;

  // The clock stamps creation: a workload with no load yet counts as idle from then on.
  WorkloadAutoscaler(const Autoscale& config, const Clock& clock, AutoscalerOptions options = {});

  // New parameters apply from the next decision; samples and mode are kept unless the metric
  // changes (then the samples, in other units, are dropped).
  void SetConfig(const Autoscale& config);
  const Autoscale& config() const { return config_; }

  // One load sample (see the header comment for what `value` is per metric).
  void Record(int64_t now_ms, double value);

  Decision Decide(int64_t now_ms, int current_replicas);

  // True when the last non-zero sample (or creation, if none) is at least idle_ms old.
  bool IdleFor(int64_t now_ms, int64_t idle_ms) const;

  bool in_panic() const { return panic_; }

 private:
  struct Rec {
    int64_t t;
    int replicas;
  };
  void Remember(int64_t now_ms, int recommendation, int64_t window_ms);

  Autoscale config_;
  AutoscalerOptions options_;
  LoadSeries series_;
  int64_t idle_since_ms_;  // creation, then the newest non-zero sample
  bool panic_ = false;
  int64_t last_panic_condition_ms_ = 0;
  std::deque<Rec> history_;  // stable recommendations, decreasing: front is the window's max
};

// Per-workload autoscalers keyed by workload name. Times come from the clock. Thread-safe.
class Autoscaler {
 public:
  using Decision = ScaleDecision;

  explicit Autoscaler(const Clock& clock, AutoscalerOptions options = {});

  // Adds the workload, or updates its parameters (see WorkloadAutoscaler::SetConfig).
  void Upsert(const std::string& workload, const Autoscale& config);
  void Remove(const std::string& workload);
  bool Has(const std::string& workload) const;
  std::vector<std::string> Workloads() const;

  // NotFound for a workload never added (or removed).
  Status Record(const std::string& workload, double value);
  // nullopt for an unknown workload.
  std::optional<Decision> Decide(const std::string& workload, int current_replicas);
  // False for an unknown workload.
  bool IdleFor(const std::string& workload, int64_t idle_ms) const;

 private:
  const Clock& clock_;
  AutoscalerOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<WorkloadAutoscaler>> workloads_;
};

}  // namespace tide
