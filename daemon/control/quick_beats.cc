#include "daemon/control/quick_beats.h"

#include <algorithm>

namespace tide {

// A field added to InstanceStatus changes its size: compare it below (or list it as a sample).
static_assert(sizeof(InstanceStatus) == 304, "InstanceStatus changed: update SameButSamples");

bool SameButSamples(const InstanceStatus& a, const InstanceStatus& b) {
  return a.id == b.id && a.workload == b.workload && a.node == b.node &&
         a.generation == b.generation && a.pid == b.pid && a.port == b.port && a.state == b.state &&
         a.restarts == b.restarts && a.started_at_ms == b.started_at_ms &&
         a.ready_at_ms == b.ready_at_ms && a.last_exit_code == b.last_exit_code &&
         a.last_signal == b.last_signal && a.reason == b.reason && a.message == b.message &&
         a.limit_enforcer == b.limit_enforcer && a.pids_enforcer == b.pids_enforcer &&
         a.frozen == b.frozen;
}

void QuickBeats::Allow(const std::string& node, int64_t seq,
                       std::map<std::string, InstanceStatus> held) {
  std::lock_guard<std::mutex> lk(mu_);
  Entry& e = nodes_[node];
  e.seq = seq;
  e.fresh = false;
  e.held = std::move(held);
  e.samples.clear();
}

void QuickBeats::Forbid(const std::string& node) {
  std::lock_guard<std::mutex> lk(mu_);
  nodes_.erase(node);
}

bool QuickBeats::Take(const std::string& node, int64_t seq, int64_t base,
                      const std::vector<InstanceStatus>& statuses, int64_t now_ms,
                      int64_t wall_ms) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end() || base < 0 || base != it->second.seq || seq <= base) return false;
  Entry& e = it->second;
  for (const auto& st : statuses) {
    auto h = e.held.find(st.id);
    if (h == e.held.end() || !SameButSamples(h->second, st)) return false;
  }
  for (const auto& st : statuses) e.samples[st.id] = st;
  e.seq = seq;
  e.fresh = true;
  e.beat = Beat{now_ms, wall_ms, seq};
  return true;
}

bool QuickBeats::Collect(const std::string& node, Beat* out, std::vector<InstanceStatus>* samples) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end() || !it->second.fresh) return false;
  Entry& e = it->second;
  e.fresh = false;
  *out = e.beat;
  for (auto& [id, st] : e.samples) samples->push_back(std::move(st));
  e.samples.clear();
  return true;
}

void QuickBeats::Heard(const std::string& node, int64_t now_ms, int64_t wall_ms) {
  std::lock_guard<std::mutex> lk(mu_);
  Beat& b = heard_[node];
  b.at_ms = std::max(b.at_ms, now_ms);
  b.wall_ms = std::max(b.wall_ms, wall_ms);
}

bool QuickBeats::CollectHeard(const std::string& node, Beat* out) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = heard_.find(node);
  if (it == heard_.end()) return false;
  *out = it->second;
  heard_.erase(it);
  return true;
}

size_t QuickBeats::allowed() const {
  std::lock_guard<std::mutex> lk(mu_);
  return nodes_.size();
}

}  // namespace tide
