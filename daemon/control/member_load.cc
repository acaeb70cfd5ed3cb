#include "daemon/control/member_load.h"

namespace tide {

void RemoteLoad::Update(const std::string& self, const std::vector<PublishedLoad>& records,
                        int64_t now_ms) {
  std::map<std::string, MergedLoad> next;
  for (const auto& [name, m] : merged_) next[name].requests_total = m.requests_total;
  std::map<std::string, std::map<std::string, uint64_t>> totals;
  for (const auto& rec : records) {
    if (rec.member == self || now_ms - rec.at_ms > fresh_ms_) continue;
    auto seen = last_total_.find(rec.member);
    for (const auto& [workload, l] : rec.workloads) {
      MergedLoad& m = next[workload];
      m.inflight += l.inflight;
      m.queued += l.queued;
      totals[rec.member][workload] = l.requests_total;
      uint64_t grew = 0;
      if (seen != last_total_.end()) {
        auto w = seen->second.find(workload);
        // A counter that went back is a restarted member: its past is not counted again.
        if (w != seen->second.end() && l.requests_total > w->second) {
          grew = l.requests_total - w->second;
        } else if (w == seen->second.end()) {
          grew = l.requests_total;  // a workload new in a member already heard
        }
      }
      m.requests_total += grew;
      m.active = m.active || grew > 0 || l.inflight > 0 || l.queued > 0;
    }
  }
  last_total_ = std::move(totals);
  merged_ = std::move(next);
}

MergedLoad RemoteLoad::Of(const std::string& workload) const {
  auto it = merged_.find(workload);
  return it == merged_.end() ? MergedLoad{} : it->second;
}

std::vector<std::string> RemoteLoad::Busy() const {
  std::vector<std::string> out;
  for (const auto& [name, m] : merged_) {
    if (m.active) out.push_back(name);
  }
  return out;
}

}  // namespace tide
