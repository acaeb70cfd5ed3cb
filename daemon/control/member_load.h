// Member load: what other tided members' gateways see of each workload, merged for the leader
// (docs/ha.md "Load seen by every gateway"). With several members a request may enter through
// any member's gateway, while only the leader autoscales, holds a Function's idle timeout and
// activates workloads at zero. So each member that does not lead publishes its gateway's load
// through the store (ObjectStore::PublishLoad, every ControlPlaneOptions::load_share_ms) and the
// leader merges what is fresh into its own samples. Pure: no clock (the caller passes now),
// store or threads.
//
// RemoteLoad::Update takes every published record and keeps, per workload:
//   - inflight and queued: the sums over the records published less than fresh_ms ago (a
//     member that died or stopped publishing stops counting after fresh_ms);
//   - requests_total: a counter that only grows, by what each member's own counter grew since
//     the last update (a member that restarts, or is seen for the first time, adds nothing for
//     its past; a member that goes stale adds nothing), so the leader's rps stays right;
//   - active: whether anything happened there since the last update (requests admitted,
//     in flight or waiting): the leader then counts it as a request for the idle timeout.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "daemon/store/object_store.h"  // MemberLoad, PublishedLoad

namespace tide {

struct MergedLoad {
  int inflight = 0;
  int queued = 0;
  uint64_t requests_total = 0;  // monotonic (above)
  bool active = false;
};

class RemoteLoad {
 public:
  explicit RemoteLoad(int64_t fresh_ms) : fresh_ms_(fresh_ms) {}
  // Every record read from the store (the caller's own is skipped by name), at wall time now.
  void Update(const std::string& self, const std::vector<PublishedLoad>& records, int64_t now_ms);
  // What the other members see of `workload` (zero when nothing).
  MergedLoad Of(const std::string& workload) const;
  // The workloads with anything in flight or waiting elsewhere, or active since the last update.
  std::vector<std::string> Busy() const;

 private:
  int64_t fresh_ms_;
  std::map<std::string, std::map<std::string, uint64_t>> last_total_;  // member -> workload
  std::map<std::string, MergedLoad> merged_;
};

}  // namespace tide
