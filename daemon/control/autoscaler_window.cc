#include "daemon/control/autoscaler_window.h"

#include <algorithm>

namespace tide {

LoadSeries::LoadSeries(int64_t hold_ms) : hold_ms_(std::max<int64_t>(1, hold_ms)) {}

void LoadSeries::Add(int64_t t_ms, double value) {
  if (!first_ms_) first_ms_ = t_ms;
  if (!samples_.empty() && t_ms <= samples_.back().t) {
    samples_.back().v = value;  // same (or out-of-order) instant: the newest word wins
    return;
  }
  samples_.push_back({t_ms, value});
}

WindowMean LoadSeries::Mean(int64_t now_ms, int64_t window_ms, GapPolicy gaps) const {
  if (!first_ms_) return {};
  const int64_t start = now_ms - std::max<int64_t>(0, window_ms);
  double sum = 0;
  int64_t covered = 0;
  for (size_t i = 0; i < samples_.size(); ++i) {
    const Sample& s = samples_[i];
    if (s.t >= now_ms) break;
    int64_t end = s.t + hold_ms_;
    if (i + 1 < samples_.size()) end = std::min(end, samples_[i + 1].t);
    end = std::min(end, now_ms);
    const int64_t begin = std::max(s.t, start);
    if (end > begin) {
      sum += s.v * static_cast<double>(end - begin);
      covered += end - begin;
    }
  }
  // A sample stamped exactly now stands alone when nothing else covers the span.
  const bool fresh = !samples_.empty() && samples_.back().t == now_ms;
  if (gaps == GapPolicy::kSkip) {
    if (covered > 0) return {sum / static_cast<double>(covered), true};
    if (fresh) return {samples_.back().v, true};
    return {};
  }
  const int64_t span = now_ms - std::max(start, *first_ms_);
  if (span <= 0) return {fresh ? samples_.back().v : 0.0, now_ms >= *first_ms_};
  return {sum / static_cast<double>(span), true};
}

double LoadSeries::Latest(int64_t now_ms) const {
  if (samples_.empty()) return 0;
  const Sample& s = samples_.back();
  if (s.t > now_ms || now_ms - s.t > hold_ms_) return 0;
  return s.v;
}

void LoadSeries::Forget(int64_t from_ms) {
  // Sample 0 can matter only until the next one starts.
  while (samples_.size() > 1 && samples_[1].t <= from_ms) samples_.pop_front();
}

void LoadSeries::Clear() {
  samples_.clear();
  first_ms_.reset();
}

}  // namespace tide
