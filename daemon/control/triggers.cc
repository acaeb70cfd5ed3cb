#include "daemon/control/triggers.h"

#include <set>

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
    auto it = armed_.find(key);
    if (it == armed_.end()) {
      Armed a;
      std::string err;
      if (!CronSchedule::Parse(t.schedule, &a.cron, &err)) continue;
      a.next_ms = a.cron.NextAfter(now_wall_ms);
      armed_.emplace(key, a);
    } else if (it->second.next_ms >= 0 && now_wall_ms >= it->second.next_ms) {
      due.push_back(t);
      it->second.next_ms = it->second.cron.NextAfter(now_wall_ms);
    }
  }
  for (auto it = armed_.begin(); it != armed_.end();) {
    it = keys.count(it->first) ? std::next(it) : armed_.erase(it);
  }
  return due;
}

int64_t TriggerSchedule::NextFire(const TriggerRef& t) const {
  auto it = armed_.find(Key(t));
  return it == armed_.end() ? 0 : it->second.next_ms;
}

AsyncInvocation TriggerInvocation() {
  AsyncInvocation inv;
  inv.method = "POST";
  inv.target.assign(1, '/');  // not `= "/"`: GCC 12 -O3 -Wrestrict false positive (bug 105329)
  inv.headers = {{"X-Tide-Trigger", "schedule"}};
  return inv;
}

}  // namespace tide
