#include "daemon/control/keepalive_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

namespace tide {

namespace {

constexpr int64_t kFineMs = 1000;
constexpr int64_t kCoarseMs = 60'000;

// 12345 -> "12.3s", 755500 -> "756s"
std::string Secs(int64_t ms) {
  char buf[32];
  const double s = static_cast<double>(ms) / 1000.0;
  std::snprintf(buf, sizeof buf, s < 100 ? "%.1fs" : "%.0fs", s);
  return buf;
}

}  // namespace

int IdleHistogram::BucketOf(int64_t gap_ms) {
  gap_ms = std::max<int64_t>(0, gap_ms);
  if (gap_ms >= kRangeMs) return -1;
  if (gap_ms < kFineBuckets * kFineMs) return static_cast<int>(gap_ms / kFineMs);
  return kFineBuckets + static_cast<int>(gap_ms / kCoarseMs) - 1;
}

int64_t IdleHistogram::LowerMs(int bucket) {
  if (bucket < kFineBuckets) return bucket * kFineMs;
  return (bucket - kFineBuckets + 1) * kCoarseMs;
}

int64_t IdleHistogram::UpperMs(int bucket) {
  if (bucket < kFineBuckets) return (bucket + 1) * kFineMs;
  return (bucket - kFineBuckets + 2) * kCoarseMs;
}

void IdleHistogram::Record(int64_t gap_ms, int age_after) {
  int b = BucketOf(gap_ms);
  if (b < 0) {
    ++out_of_range_;
  } else {
    uint32_t& c = counts_[static_cast<size_t>(b)];
    sum_sq_ += 2 * static_cast<double>(c) + 1;  // (c + 1)^2 - c^2
    ++c;
    ++in_range_;
  }
  if (age_after > 0 && Samples() >= age_after) {
    in_range_ = 0;
    sum_sq_ = 0;
    for (auto& c : counts_) {
      c /= 2;
      in_range_ += c;
      sum_sq_ += static_cast<double>(c) * c;
    }
    out_of_range_ /= 2;
  }
}

double IdleHistogram::BucketCv() const {
  if (in_range_ == 0) return 0;
  const double n = kBuckets;
  const double mean = static_cast<double>(in_range_) / n;
  // Population variance from the running sum of squared counts (no pass over the buckets).
  return std::sqrt(std::max(0.0, sum_sq_ / n - mean * mean)) / mean;
}

int IdleHistogram::BucketAtPercentile(double p) const {
  if (in_range_ == 0) return -1;
  // The smallest bucket whose cumulative count reaches p% of the in-range gaps (at least one).
  const double want =
      std::max(1.0, std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(in_range_)));
  double seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += counts_[static_cast<size_t>(b)];
    if (seen >= want) return b;
  }
  return kBuckets - 1;
}

int64_t IdleHistogram::PercentileLowerMs(double p) const {
  int b = BucketAtPercentile(p);
  return b < 0 ? 0 : LowerMs(b);
}

int64_t IdleHistogram::PercentileUpperMs(double p) const {
  int b = BucketAtPercentile(p);
  return b < 0 ? 0 : UpperMs(b);
}

namespace {

// The plan's window for one tail percentile, as offsets from the start of the idle period.
KeepAlivePlan WindowFor(const IdleHistogram& h, const KeepAliveOptions& o, double tail_p) {
  KeepAlivePlan w;
  w.adaptive = true;
  const int64_t head =
      std::llround(static_cast<double>(h.PercentileLowerMs(o.head_percentile)) * (1 - o.margin));
  const int64_t tail =
      std::llround(static_cast<double>(h.PercentileUpperMs(tail_p)) * (1 + o.margin));
  const int64_t prewarm = std::max<int64_t>(0, head - o.slack_ms);
  w.stop_at_ms = tail + o.slack_ms;
  if (prewarm < o.min_unload_ms || prewarm >= w.stop_at_ms) {
    w.unload_at_ms = w.stop_at_ms;
  } else {
    w.unload_at_ms = 0;
    w.prewarm_at_ms = prewarm;
  }
  return w;
}

// What a window (offsets from 0) would have cost over the gaps the histogram holds, per idle
// period: memory-time (ms) and the share of calls that would have been cold. A gap counts as its
// bucket's middle; one beyond the range as longer than any window.
struct Cost {
  double mem_ms = 0, cold = 0;
};
Cost Expected(const IdleHistogram& h, const KeepAlivePlan& w) {
  Cost c;
  if (h.Samples() == 0) return c;
  for (int b = 0; b < IdleHistogram::kBuckets; ++b) {
    const uint32_t n = h.Count(b);
    if (n == 0) continue;
    const int64_t gap = (IdleHistogram::LowerMs(b) + IdleHistogram::UpperMs(b)) / 2;
    c.mem_ms += static_cast<double>(n) * static_cast<double>(LoadedMs(w, 0, gap));
    c.cold += WantLoaded(w, gap) ? 0 : n;
  }
  const auto beyond = static_cast<double>(h.OutOfRange());
  c.mem_ms += beyond * static_cast<double>(LoadedMs(w, 0, INT64_MAX / 2));
  c.cold += beyond;
  c.mem_ms /= static_cast<double>(h.Samples());
  c.cold /= static_cast<double>(h.Samples());
  return c;
}

// The tail percentiles tried, widest first, up to KeepAliveOptions::tail_percentile.
constexpr double kTails[] = {99, 98, 95, 90, 80, 70, 60, 50};

}  // namespace

KeepAlivePlan PlanKeepAlive(const IdleHistogram& h, const KeepAliveOptions& o,
                            int64_t idle_since_ms) {
  const int64_t n = h.Samples();
  KeepAlivePlan fixed;
  fixed.unload_at_ms = fixed.stop_at_ms = o.fallback_ms;
  std::string fallback_why;
  if (n < o.min_samples) {
    fallback_why = std::to_string(n) + " of " + std::to_string(o.min_samples) + " idle gaps seen";
  } else if (static_cast<double>(h.OutOfRange()) > o.max_out_of_range * static_cast<double>(n)) {
    fallback_why =
        std::to_string(h.OutOfRange()) + " of " + std::to_string(n) + " idle gaps longer than 4h";
  } else if (double cv = h.BucketCv(); cv < o.min_cv) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "idle gaps spread out (bucket CV %.2f < %.2f)", cv, o.min_cv);
    fallback_why = buf;
  } else {
    // The widest window that, over the gaps seen, would have cost no more memory than the fixed
    // timeout and no more cold starts, and less of one of them.
    const Cost budget = Expected(h, fixed);
    for (double tail_p : kTails) {
      if (tail_p > o.tail_percentile) continue;
      KeepAlivePlan w = WindowFor(h, o, tail_p);
      const Cost c = Expected(h, w);
      if (c.mem_ms > budget.mem_ms || c.cold > budget.cold) continue;
      if (c.mem_ms == budget.mem_ms && c.cold == budget.cold) continue;
      w.idle_since_ms = idle_since_ms;
      w.unload_at_ms += idle_since_ms;
      w.stop_at_ms += idle_since_ms;
      char pct[16];
      std::snprintf(pct, sizeof pct, "%g", tail_p);
      const std::string from =
          " (adaptive: " + std::to_string(n) + " idle gaps, " + pct + "th percentile)";
      if (w.prewarm_at_ms) {
        *w.prewarm_at_ms += idle_since_ms;
        w.why = "unload now, pre-warm in " + Secs(*w.prewarm_at_ms - idle_since_ms) +
                ", keep until " + Secs(w.stop_at_ms - idle_since_ms) + from;
      } else {
        w.why = "keep " + Secs(w.stop_at_ms - idle_since_ms) + from;
      }
      return w;
    }
    fallback_why = "no window of the idle gaps beats it";
  }
  fixed.idle_since_ms = idle_since_ms;
  fixed.unload_at_ms += idle_since_ms;
  fixed.stop_at_ms += idle_since_ms;
  fixed.why = "keep " + Secs(o.fallback_ms) + ", the fixed fallback: " + fallback_why;
  return fixed;
}

bool WantLoaded(const KeepAlivePlan& p, int64_t now_ms) {
  if (now_ms < p.unload_at_ms) return true;
  return p.prewarm_at_ms && now_ms >= *p.prewarm_at_ms && now_ms < p.stop_at_ms;
}

int64_t IdleDeadline(const KeepAlivePlan& p, int64_t now_ms) {
  if (p.prewarm_at_ms && now_ms >= *p.prewarm_at_ms) return p.stop_at_ms;
  return p.unload_at_ms;
}

int64_t LoadedMs(const KeepAlivePlan& p, int64_t from_ms, int64_t to_ms) {
  auto overlap = [&](int64_t a, int64_t b) {
    return std::max<int64_t>(0, std::min(b, to_ms) - std::max(a, from_ms));
  };
  int64_t ms = overlap(p.idle_since_ms, p.unload_at_ms);
  if (p.prewarm_at_ms) ms += overlap(std::max(*p.prewarm_at_ms, p.unload_at_ms), p.stop_at_ms);
  return ms;
}

bool PrewarmDue(const KeepAlivePlan& p, int64_t now_ms) {
  return p.prewarm_at_ms && now_ms >= *p.prewarm_at_ms && now_ms < p.stop_at_ms;
}

void KeepAliveTracker::Busy(int64_t now_ms, const KeepAliveOptions& o) {
  if (idle_since_ms_) hist_.Record(now_ms - *idle_since_ms_, o.age_after);
  idle_since_ms_.reset();
  plan_.reset();
}

void KeepAliveTracker::Idle(int64_t now_ms, const KeepAliveOptions& o) {
  idle_since_ms_ = now_ms;
  plan_ = PlanKeepAlive(hist_, o, now_ms);
}

void KeepAliveInput(const KeepAliveTracker* t, const KeepAliveOptions& o, ScaleInput* in) {
  if (t && t->plan()) {
    const KeepAlivePlan* p = &*t->plan();
    in->idle_deadline_ms = IdleDeadline(*p, in->now_ms);
    in->idle_why = p->why;
  } else {
    in->idle_deadline_ms = in->last_request_ms + o.fallback_ms;
    in->idle_why = "no request for " + Secs(o.fallback_ms) + ", the fixed fallback";
  }
}

std::optional<ScaleChange> PrewarmChange(const KeepAlivePlan& p, const Autoscale& a, int desired,
                                         int64_t now_ms) {
  if (desired > 0 || !PrewarmDue(p, now_ms)) return std::nullopt;
  ScaleChange c;
  c.desired = std::max(1, a.min_replicas);
  c.up = true;
  c.reason = "desired 0 -> " + std::to_string(c.desired) +
             ": pre-warm, next call expected within " + Secs(p.stop_at_ms - now_ms) +
             " (idleTimeoutSeconds: auto)";
  return c;
}

}  // namespace tide
