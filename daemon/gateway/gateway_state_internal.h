// Internal to the route table (gateway_state.cc, gateway_freeze.cc): one workload's state and
// the work collected under the table's lock. Not for other units.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/gateway/gateway_state.h"

namespace tide::gw {

// Metric handles of one workload, resolved once (Family::Add hashes labels under a lock).
struct WorkloadMetrics {
  prometheus::Gauge* inflight = nullptr;
  prometheus::Gauge* queued = nullptr;
  prometheus::Histogram* duration = nullptr;
  prometheus::Counter* cold_starts = nullptr;
  prometheus::Histogram* cold_duration = nullptr;
  std::map<int, prometheus::Counter*> by_code;
  std::map<std::string, prometheus::Histogram*> by_phase;
  prometheus::Counter* thaws = nullptr;
  prometheus::Histogram* thaw_duration = nullptr;
};

struct WorkloadState {
  std::string name;
  int concurrency = 0;
  std::vector<std::shared_ptr<EndpointState>> ready;
  std::deque<std::shared_ptr<Waiter>> queue;
  int inflight = 0;
  uint64_t requests_total = 0;
  bool removed = false;
  // Load signal delivery (see RouteTable::DeliverLoad).
  bool load_dirty = false;
  bool load_delivering = false;
  bool load_deferred = false;  // a change waits for FlushLoads (in-flight only, rate-limited)
  int sent_queued = 0;         // queued count of the last delivered signal
  int64_t sent_ms = -1;        // when the last signal was taken for delivery
  // The current cold-start episode: arrival of the request that found zero endpoints, or -1.
  int64_t cold_episode_ms = -1;
  unsigned phases_noted = 0;    // bit per phase already observed in this episode
  int64_t last_phase_ms = 0;    // stamp of the latest phase observed in this episode
  int64_t freeze_after_ms = 0;  // spec.keepAlive.freezeAfterSeconds (from the route); 0 = never
  WorkloadMetrics m;
};

// Work collected under the lock and done after it is released.
struct RouteTable::Wakeups {
  std::vector<std::shared_ptr<Waiter>> waiters;
  std::vector<std::shared_ptr<WorkloadState>> loads;
  bool schedule_flush = false;
  int64_t freeze_due = -1;  // an endpoint may come due for freezing then (steady)
};

}  // namespace tide::gw
