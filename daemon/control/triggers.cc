#include "daemon/control/triggers.h"

#include <set>

#include "api/cron.h"

namespace tide {

std::string TriggerSchedule::Key(const TriggerRef& t) {
  return t.workload + "#" + std::to_string(t.index) + "#" + t.schedule;
}

std::vector<TriggerRef> TriggerSchedule::Due(const std::vector<TriggerRef>& triggers,
                                             int64_t now_wall_ms) {
  std::vector<TriggerRef> due;
  std::set<std::string> keys;
  for (const auto& t : triggers) {
    std::string key = Key(t);
    keys.insert(key);
    CronSchedule cron;
    std::string err;
    if (!CronSchedule::Parse(t.schedule, &cron, &err)) continue;
    auto it = next_ms_.find(key);
    if (it == next_ms_.end()) {
      next_ms_[key] = cron.NextAfter(now_wall_ms);
    } else if (it->second >= 0 && now_wall_ms >= it->second) {
      due.push_back(t);
      it->second = cron.NextAfter(now_wall_ms);
    }
  }
  for (auto it = next_ms_.begin(); it != next_ms_.end();) {
    it = keys.count(it->first) ? std::next(it) : next_ms_.erase(it);
  }
  return due;
}

int64_t TriggerSchedule::NextFire(const TriggerRef& t) const {
  auto it = next_ms_.find(Key(t));
  return it == next_ms_.end() ? 0 : it->second;
}

AsyncInvocation TriggerInvocation() {
  AsyncInvocation inv;
  inv.method = "POST";
  inv.target = "/";
  inv.headers = {{"X-Tide-Trigger", "schedule"}};
  return inv;
}

}  // namespace tide
