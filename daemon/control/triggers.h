// Schedule triggers of Functions (`spec.triggers: [{schedule: "*/5 * * * *"}]`): which are due.
//
// TriggerSchedule remembers, per trigger, the next wall time it fires. Due() is given every
// trigger of every workload as they are now and the wall time, and returns those whose time
// has come. Pure: no clock, threads or I/O (the caller passes the time and fires what is due).
// Rules:
//   - a trigger seen for the first time is armed for the first matching minute strictly after
//     now; it does not fire at once (applying a Function is not a tick of its schedule);
//   - a trigger fires once when now reaches its time, and is then armed for the next match
//     after now: several ticks missed between two evaluations fire once, not once each (and
//     ticks that fell while tided was down not at all: a new TriggerSchedule arms afresh);
//   - a trigger identifies as (workload, index, schedule): editing a schedule re-arms it;
//     triggers no longer listed are forgotten;
//   - an invalid schedule (cannot pass manifest validation) or one that never matches never
//     fires.
// Not thread-safe: the owner (ControlPlane) calls it under its mutex.
//
// Firing goes through the Invoker (daemon/gateway/invoker.h) as an async invocation, so it is
// stored before it is sent, survives a tided restart and is retried like any other:
// TriggerInvocation is the request it enqueues.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "api/cron.h"
#include "daemon/gateway/gateway.h"

namespace tide {

struct TriggerRef {
  std::string workload;
  size_t index = 0;  // position in spec.triggers
  std::string schedule;
};

class TriggerSchedule {
 public:
  // The triggers due at `now_wall_ms` (Unix ms), in the order given.
  std::vector<TriggerRef> Due(const std::vector<TriggerRef>& triggers, int64_t now_wall_ms);

  // When `t` fires next (Unix ms): -1 when it never will, 0 when not armed yet.
  int64_t NextFire(const TriggerRef& t) const;

 private:
  struct Armed {
    CronSchedule cron;    // parsed once, when first seen
    int64_t next_ms = 0;  // wall ms; -1: never
  };
  static std::string Key(const TriggerRef& t);
  std::map<std::string, Armed> armed_;  // by Key
};

// The invocation a due trigger enqueues for its workload (Invoker::Enqueue): it is sent as
// `POST /function/{workload}/` with `X-Tide-Trigger: schedule` and an empty body.
AsyncInvocation TriggerInvocation();

}  // namespace tide
