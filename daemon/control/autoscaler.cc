#include "daemon/control/autoscaler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tide {
namespace {

constexpr int kMaxRecommendation = 1'000'000;  // bounds the arithmetic; clamped to max later

int64_t WindowMs(double seconds) {
  if (!(seconds > 0)) return 100;  // NaN or non-positive: the shortest useful window
  return std::max<int64_t>(100, std::llround(std::min(seconds, 1e7) * 1000));
}

// Instances needed for `load` at `target` per instance; exact multiples do not round up.
int Recommend(double load, double target) {
  if (!(load > 0)) return 0;
  const double n = std::ceil(load / target - 1e-9);
  return n >= kMaxRecommendation ? kMaxRecommendation : std::max(0, static_cast<int>(n));
}

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string Seconds(int64_t ms) { return Fmt("%gs", static_cast<double>(ms) / 1000); }

std::string LoadText(const Autoscale& c, double load) {
  if (c.metric == "cpu") return "cpu " + Fmt("%.1f", load) + "%";
  return c.metric + " " + Fmt("%.1f", load);
}

std::string TargetText(const Autoscale& c) {
  return "target " + Fmt("%g", c.target) + (c.metric == "cpu" ? "%" : "");
}

}  // namespace

WorkloadAutoscaler::WorkloadAutoscaler(const Autoscale& config, const Clock& clock,
                                       AutoscalerOptions options)
    : config_(config),
      options_(options),
      series_(options.sample_hold_ms),
      idle_since_ms_(clock.NowMs()) {}

void WorkloadAutoscaler::SetConfig(const Autoscale& config) {
  if (config.metric != config_.metric) {
    series_.Clear();
    history_.clear();
    panic_ = false;
  }
  config_ = config;
}

void WorkloadAutoscaler::Record(int64_t now_ms, double value) {
  if (!std::isfinite(value) || value < 0) value = 0;
  series_.Add(now_ms, value);
  if (value > 0) idle_since_ms_ = std::max(idle_since_ms_, now_ms);
}

bool WorkloadAutoscaler::IdleFor(int64_t now_ms, int64_t idle_ms) const {
  return now_ms - idle_since_ms_ >= idle_ms;
}

void WorkloadAutoscaler::Remember(int64_t now_ms, int recommendation, int64_t window_ms) {
  // Monotonic queue: the front is the highest recommendation within the window.
  while (!history_.empty() && history_.back().replicas <= recommendation) history_.pop_back();
  history_.push_back({now_ms, recommendation});
  while (history_.front().t < now_ms - window_ms) history_.pop_front();
}

ScaleDecision WorkloadAutoscaler::Decide(int64_t now, int current) {
  const Autoscale& c = config_;
  const int lo = std::max(0, c.min_replicas);
  const int hi = std::max(lo, c.max_replicas);
  current = std::max(0, current);
  const double target = c.target > 0 ? c.target : 1;
  const int64_t stable_ms = WindowMs(c.stable_window_seconds);
  const int64_t panic_ms = WindowMs(c.panic_window_seconds);
  const int64_t burst_ms = std::clamp<int64_t>(options_.burst_window_ms, 1, panic_ms);
  const bool cpu = c.metric == "cpu";
  const GapPolicy gaps = cpu ? GapPolicy::kSkip : GapPolicy::kZero;
  series_.Forget(now - std::max(stable_ms, panic_ms));

  ScaleDecision d;
  int want = current;
  std::string basis;               // what the load figure is, e.g. "over 60s stable window"
  std::vector<std::string> notes;  // adjustments, appended to the reason
  const WindowMean stable = series_.Mean(now, stable_ms, gaps);
  if (cpu && !stable.has_data) {
    basis = "no cpu samples in " + Seconds(stable_ms) + " stable window";
  } else {
    const WindowMean panic_mean = series_.Mean(now, panic_ms, gaps);
    const WindowMean burst_mean = series_.Mean(now, burst_ms, gaps);
    double panic_load = std::max(panic_mean.value, burst_mean.value);
    std::string panic_basis = burst_mean.value > panic_mean.value
                                  ? "over last " + Seconds(burst_ms) + " (panic)"
                                  : "over " + Seconds(panic_ms) + " panic window";
    if (current == 0 && series_.Latest(now) > panic_load) {  // activation: the newest word
      panic_load = series_.Latest(now);
      panic_basis = "in latest sample (activation)";
    }
    const double capacity = current * target;
    const bool condition =
        current == 0 ? panic_load > 0 : panic_load >= c.panic_threshold * capacity;
    if (condition) {
      panic_ = true;
      last_panic_condition_ms_ = now;
    } else if (panic_ && now - last_panic_condition_ms_ >= stable_ms) {
      panic_ = false;
    }

    const int stable_rec = Recommend(stable.value, target);
    // In stable mode, once the stable mean says "more", size on the panic window's mean when
    // that is higher: the stable mean lags a load that rose within the window (a ramp that just
    // levelled off) by up to half a window. Remembered, so it holds like a stable recommendation.
    const int recent_rec = Recommend(panic_mean.value, target);
    const bool recent_up = !panic_ && stable_rec > current && panic_mean.value > stable.value;
    Remember(now, recent_up ? recent_rec : stable_rec, stable_ms);
    if (panic_) {
      d.load = panic_load;
      basis = panic_basis;
      want = std::max(current, Recommend(panic_load, target));
    } else {
      d.load = stable.value;
      basis = "over " + Seconds(stable_ms) + " stable window";
      want = stable_rec;
      if (recent_up) {
        d.load = panic_mean.value;
        basis = "over " + Seconds(panic_ms) + " panic window (stable window " +
                LoadText(c, stable.value) + ")";
        want = recent_rec;
      }
      const int window_max = history_.front().replicas;
      // What the short-window load needs now: panic mode may have sized the workload on it
      // (and the stable history never saw those counts), and on a load that is still rising
      // the stable mean lags by half a window. Going below it would be undone at once.
      const int short_rec = Recommend(panic_load, target);
      if (want < current && std::max(window_max, short_rec) > want) {
        want = std::min(current, std::max(window_max, short_rec));
        if (want > lo && window_max >= short_rec) {
          notes.push_back("held by the highest recommendation (" + std::to_string(window_max) +
                          ") in the stable window");
        } else if (want > lo) {
          notes.push_back("held by " + LoadText(c, panic_load) + " " + panic_basis + " (" +
                          std::to_string(short_rec) + " needed)");
        }
      }
    }

    // |load / capacity - 1| <= tolerance, multiplied out: 110 / 100 - 1 is 0.10000000000000009 in
    // doubles, which would put a load exactly 10% over capacity outside a 10% tolerance.
    if (want != current && current > 0 && std::fabs(d.load - capacity) <= c.tolerance * capacity) {
      want = current;
      notes.push_back("within " + Fmt("%g", c.tolerance * 100) + "% tolerance");
    }
    if (want > current) {
      const double rate = std::max(1.0, c.max_scale_up_rate);
      const double limit = std::max(std::ceil(rate * std::max(current, 1)), current + 1.0);
      if (want > limit) {
        want = static_cast<int>(std::min<double>(limit, kMaxRecommendation));
        notes.push_back("limited by maxScaleUpRate " + Fmt("%g", rate));
      }
    }
    if (lo == 0 && current > 0) {
      if (!panic_ && IdleFor(now, stable_ms)) {
        want = 0;
        basis = "no load for " + Seconds(stable_ms);
        notes.clear();
      } else if (want == 0) {
        want = 1;
        notes.push_back("zero only after " + Seconds(stable_ms) + " without load");
      }
    }
  }

  if (want > hi) {
    want = hi;
    notes.push_back("capped at maxReplicas " + std::to_string(hi));
  } else if (want < lo) {
    want = lo;
    notes.push_back("raised to minReplicas " + std::to_string(lo));
  }
  d.desired = want;
  d.panic = panic_;

  std::string head;
  if (want > current) {
    head = "scaled up from " + std::to_string(current) + " to " + std::to_string(want);
  } else if (want < current) {
    head = "scaled down from " + std::to_string(current) + " to " + std::to_string(want);
  } else {
    head = "kept " + std::to_string(current);
  }
  if (cpu && !stable.has_data) {
    d.reason = head + ": " + basis;
  } else if (basis.rfind("no load", 0) == 0) {
    d.reason = head + ": " + basis;
  } else {
    d.reason = head + ": " + LoadText(c, d.load) + " " + basis + ", " + TargetText(c);
  }
  for (const std::string& n : notes) d.reason += "; " + n;
  return d;
}

// ---- Autoscaler -------------------------------------------------------------------------------

Autoscaler::Autoscaler(const Clock& clock, AutoscalerOptions options)
    : clock_(clock), options_(options) {}

void Autoscaler::Upsert(const std::string& workload, const Autoscale& config) {
  std::lock_guard lock(mu_);
  auto it = workloads_.find(workload);
  if (it == workloads_.end()) {
    workloads_.emplace(workload, std::make_unique<WorkloadAutoscaler>(config, clock_, options_));
  } else {
    it->second->SetConfig(config);
  }
}

void Autoscaler::Remove(const std::string& workload) {
  std::lock_guard lock(mu_);
  workloads_.erase(workload);
}

bool Autoscaler::Has(const std::string& workload) const {
  std::lock_guard lock(mu_);
  return workloads_.count(workload) > 0;
}

std::vector<std::string> Autoscaler::Workloads() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, unused] : workloads_) names.push_back(name);
  return names;
}

Status Autoscaler::Record(const std::string& workload, double value) {
  std::lock_guard lock(mu_);
  auto it = workloads_.find(workload);
  if (it == workloads_.end()) return Status::NotFound("no autoscaler for workload " + workload);
  it->second->Record(clock_.NowMs(), value);
  return Status::Ok();
}

std::optional<ScaleDecision> Autoscaler::Decide(const std::string& workload, int current_replicas) {
  std::lock_guard lock(mu_);
  auto it = workloads_.find(workload);
  if (it == workloads_.end()) return std::nullopt;
  return it->second->Decide(clock_.NowMs(), current_replicas);
}

bool Autoscaler::IdleFor(const std::string& workload, int64_t idle_ms) const {
  std::lock_guard lock(mu_);
  auto it = workloads_.find(workload);
  return it != workloads_.end() && it->second->IdleFor(clock_.NowMs(), idle_ms);
}

}  // namespace tide
