// LoadSeries: the time-stamped load samples of one workload and their time-weighted means over
// trailing windows; the input of the autoscaler (daemon/control/autoscaler.h).
//
// A sample's value holds from its timestamp until the next sample, but for at most `hold_ms`;
// time not covered by any sample is a gap. Windows are measured on timestamps, never on sample
// counts, so irregular, late or missing samples are handled. The caller chooses what a gap means:
// GapPolicy::kZero (request metrics: nobody reported, so nothing happened) counts it as zero
// load; GapPolicy::kSkip (cpu: no news is not zero usage) leaves it out of the mean.
// With kZero a mean covers the window, or the time since the first sample ever if that is
// shorter, so a brand-new series is not diluted by the time before anything was recorded.
//
// Pure value type: no clock, no I/O. Not thread-safe; the owner serialises access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

namespace tide {

enum class GapPolicy { kZero, kSkip };

struct WindowMean {
  double value = 0;       // time-weighted mean; 0 when !has_data
  bool has_data = false;  // kZero: something was ever recorded; kSkip: a sample covers the window
};

class LoadSeries {
 public:
  explicit LoadSeries(int64_t hold_ms = 1000);

  // Appends a sample. Samples stay ordered: a timestamp older than the newest is taken as the
  // newest; a sample at the newest timestamp replaces its value.
  void Add(int64_t t_ms, double value);

  // Time-weighted mean over [now_ms - window_ms, now_ms]. A sample stamped exactly now_ms has
  // not lasted yet; it counts only when nothing else covers the span (a series just started).
  WindowMean Mean(int64_t now_ms, int64_t window_ms, GapPolicy gaps) const;

  // The newest sample's value if it is at most hold_ms old at now_ms, else 0.
  double Latest(int64_t now_ms) const;

  // Drops samples that cannot affect any window starting at or after from_ms.
  void Forget(int64_t from_ms);

  void Clear();
  size_t size() const { return samples_.size(); }
  int64_t hold_ms() const { return hold_ms_; }

 private:
  struct Sample {
    int64_t t;
    double v;
  };
  int64_t hold_ms_;
  std::deque<Sample> samples_;
  std::optional<int64_t> first_ms_;  // survives Forget(): kZero spans start here at the earliest
};

}  // namespace tide
