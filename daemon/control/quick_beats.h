// QuickBeats: the heartbeats that change nothing, taken without the control plane's lock.
//
// 1,000 agents send a heartbeat a second each. Almost all of them are report deltas that say the
// node is alive and runs what it ran, at most with new samples (CPU, memory) of its instances
// (api/agent_delta.h). Such a beat moves the node's last-heard time and acknowledged report seq
// and refreshes numbers, so it must not queue behind a reconcile pass that holds
// ControlPlane::mu_ over every instance of the cluster. The control plane says
// which nodes may beat here (Allow: Ready, its last report applied, nothing waiting to be swept)
// and which must come through the full path again (Forbid: registration, NotReady or Lost,
// an instance removed from it); it collects the beats taken here whenever it reads a node's
// liveness (Collect), so the node table stays the one truth.
//
// Thread-safe: one mutex of its own, held for a map lookup. Lock order: ControlPlane::mu_ may be
// held when calling any method; this class never calls out.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "api/model.h"

namespace tide {

// Whether two statuses of an instance differ at most in their samples (cpu, cpu_seconds_total,
// memory_bytes): nothing a controller, a route or a watcher acts on.
bool SameButSamples(const InstanceStatus& a, const InstanceStatus& b);

class QuickBeats {
 public:
  struct Beat {
    int64_t at_ms = 0;    // steady clock of the last beat taken here
    int64_t wall_ms = 0;  // its wall time (shown to users)
    int64_t seq = -1;     // the report seq it acknowledged
  };

  // The node's next delta report on `seq` may be taken here, when the statuses it carries differ
  // from `held` (the node's instances as tided holds them, by id) only in their samples.
  void Allow(const std::string& node, int64_t seq, std::map<std::string, InstanceStatus> held);
  // The node's next report takes the full path (whatever it carries).
  void Forbid(const std::string& node);
  // A report of `node` that is a delta on `base` with no gone id and these statuses. True when it
  // was taken here (the node is allowed, `base` is the seq last acknowledged, `seq` > `base`,
  // every status is of a held instance and SameButSamples): `seq` is acknowledged and the
  // statuses kept for Collect. False: nothing changed, send it through the full path.
  bool Take(const std::string& node, int64_t seq, int64_t base,
            const std::vector<InstanceStatus>& statuses, int64_t now_ms, int64_t wall_ms);
  // The newest beat taken here for `node` since the last Collect, if any, and the newest status
  // of each instance those beats carried (then forgotten).
  bool Collect(const std::string& node, Beat* out, std::vector<InstanceStatus>* samples);
  // A report of `node` arrived now (any report, quick or not, from a sender allowed to act as
  // the node): kept until CollectHeard, so that a report waiting for the control plane's lock
  // still counts for the node's liveness. One entry per node that reported (bounded by the
  // nodes that hold credentials).
  void Heard(const std::string& node, int64_t now_ms, int64_t wall_ms);
  // The newest arrival since the last CollectHeard (seq unused), if any (then forgotten).
  bool CollectHeard(const std::string& node, Beat* out);
  size_t allowed() const;

 private:
  struct Entry {
    int64_t seq = -1;
    bool fresh = false;  // a beat was taken since the last Collect
    Beat beat;
    std::map<std::string, InstanceStatus> held;     // as tided holds them (Allow)
    std::map<std::string, InstanceStatus> samples;  // newest taken since the last Collect
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> nodes_;  // allowed nodes only
  std::map<std::string, Beat, std::less<>> heard_;   // arrivals not collected yet
};

}  // namespace tide
