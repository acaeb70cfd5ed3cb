// Supervisor: the state machines of every instance placed on this node.
//
// The caller hands it the node's full desired set (SetDesired, level-triggered) and calls Tick
// again within NextTickDelayMs(). Each Tick, without ever blocking on a probe or a process:
//  - starts what is desired and not running: a port from the node's range ($PORT), the env and
//    argv from agent/instance_env.h, and every launch due in the Tick in one
//    ProcessLauncher::LaunchMany call. A launch error is state Failed
//    (reason CommandNotFound | LaunchFailed | NoPortAvailable | InvalidCommand), retried with
//    backoff unless restartPolicy is Never.
//  - Starting -> Ready on the readiness probe (default TCP on $PORT), probed every ~1 ms from
//    initialDelaySeconds after the start until ready (a TCP probe every 100 us for the first
//    20 ms, when at most 4 processes start at once: FastProbing), then every periodSeconds;
//    failureThreshold failures in a row while Ready -> back to Starting (reason ProbeFailed).
//  - liveness probe (when set), every periodSeconds after initialDelaySeconds: failureThreshold
//    failures in a row -> SIGTERM, grace, SIGKILL, then a restart (reason LivenessFailed).
//  - reaps exits (TryReap) and applies restartPolicy: Always restarts; OnFailure restarts unless
//    the exit was clean (code 0); Never leaves Exited (clean) or Failed. Restarts wait for
//    agent/backoff.h delays; the state is Pending during the first wait and CrashLoopBackOff from
//    the second crash in a row. Reasons: Completed, Error, OOMKilled, LivenessFailed.
//  - stops what is no longer desired: Terminating, SIGTERM to the process group, SIGKILL after
//    terminationGracePeriodSeconds; once reaped the instance is dropped from Statuses, its
//    port released and launcher.Cleanup called.
//  - once a second, one sampling round for every running instance: CPU/RSS from ONE
//    ProcessLauncher::Sample call (one pass over /proc, whatever the instance count), and
//    LogFiles::RotateIfNeeded. Never on a cold start's path: not in a Tick that launched or
//    changed a reported status, nor within kQuietAfterChangeMs after one (the agent reports
//    that change once the Tick returns), nor while a process started less than a period ago
//    waits for its first ready probe; a round held back this way runs at most
//    kHousekeepingIntervalMs late. The lazy save of
//    status-only changes waits the same way.
// A changed generation for a running instance id is recorded, never acted on (rollouts are the
// control plane's job: it sends new instance ids).
//
// Persistence: the instance records go to a StateStore (agent/state_store.h; by default a
// FileStateStore on DATA_DIR/instances.json, written atomically and fsynced) in the same Tick as
// any change to what re-adoption needs (phase, pid, start time, port, restarts, removal, the
// assignment), and at most once a second for other status changes (readiness, messages), which
// Restore() re-learns by probing anyway. Restore() after an agent restart re-adopts processes that
// are still alive (pid + start time) without restarting them, and treats dead ones as exits
// (restart policy applies). Children are never killed by destroying the Supervisor.
//
// Thread-safety: none; the caller serializes every call. Clock, launcher, prober and log files
// are borrowed and must outlive the Supervisor.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/backoff.h"
#include "agent/launcher.h"
#include "agent/log_files.h"
#include "agent/port_allocator.h"
#include "agent/prober.h"
#include "agent/state_store.h"
#include "api/clock.h"
#include "api/model.h"
#include "api/status.h"

namespace tide {

class InstanceFreezer;

struct SupervisorOptions {
  std::string node;
  std::string data_dir;         // holds instances.json; "" = nothing persisted (unless `store`)
  StateStore* store = nullptr;  // borrowed; when set, used instead of DATA_DIR/instances.json
  int port_lo = 20000;
  int port_hi = 29999;
  std::optional<StringMap> agent_env;     // base of child envs; nullopt = this process's environ
  std::function<bool(int)> port_is_free;  // nullptr = PortAllocator::PortIsFreeOnHost
  // Borrowed; when set, a frozen instance (agent/freezer.h) is not probed, and one that stops
  // or exits is thawed first.
  InstanceFreezer* freezer = nullptr;
};

class Supervisor {
 public:
  Supervisor(SupervisorOptions options, Clock& clock, ProcessLauncher& launcher, Prober& prober,
             LogFiles& logs);
  ~Supervisor();  // cancels probes in flight; leaves every process running
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // The node's complete desired set. Missing instances are started and extra ones stopped by the
  // following Ticks.
  void SetDesired(const std::vector<InstanceAssignment>& desired);
  // Advances every state machine. True when any instance's reported status changed (state, pid,
  // port, restarts, readiness, exit, reason, generation) or an instance appeared or went away.
  bool Tick();
  // How soon Tick must run again, in ms: 0 when something is due, ~1 while an instance is
  // starting (or a probe is in flight), at most 500 while there are instances; with none (and
  // nothing left to save) kIdleTickDelayMs: an idle node costs nothing (issue 13).
  int64_t NextTickDelayMs() const;
  // No instance and nothing left to save: Tick has nothing to do until SetDesired.
  bool Idle() const { return instances_.empty() && !dirty_ && !stale_; }
  // How much longer (ms) a report may wait for the readiness of a process started less than
  // kReportHoldMs ago that has not been ready yet; 0 when none is. A report sent meanwhile
  // (saying Starting) would hold up the one saying Ready by its round trip to tided.
  int64_t ReportHoldMs() const;
  // A fresh start's readiness seen sooner than the millisecond tick allows: true when a process
  // started less than kFastProbeWindowMs ago awaits its first ready on a TCP probe already in
  // its startup cadence, and no more than kFastProbeMax do (a burst of launches keeps the 1 ms
  // cadence). The caller may then call DueFastProbes every kFastProbeIntervalUs, each followed
  // by a Tick: a bare client sees a small server listening within 100 us, the 1 ms cadence
  // added 0.5 ms to an average cold start.
  bool FastProbing() const;
  // Makes the readiness probe of each instance FastProbing counts due now (the next Tick runs
  // it, whatever the millisecond clock says). Returns FastProbing(), from the same scan.
  bool DueFastProbes();
  // Every instance, ordered by id, except a process whose (pid, start time) the state store does
  // not hold yet (a failing save: full disk, unwritable dir): the agent never reports a process
  // it could not record, so what tided knows of always survives an agent restart.
  std::vector<InstanceStatus> Statuses() const;
  // Re-adopts the instances recorded in the state store. Call once, before SetDesired.
  // Until the first SetDesired, restored instances count as desired. Nothing saved yet is OK;
  // saved state that cannot be read is an error (and nothing is restored).
  Status Restore();
  // DATA_DIR/instances.json ("" without a data dir).
  std::string StatePath() const;

  // Tunables (ms).
  static constexpr int64_t kStartupProbeIntervalMs = 1;
  static constexpr int64_t kHousekeepingIntervalMs = 1000;
  static constexpr int64_t kMaxTickDelayMs = 500;
  static constexpr int64_t kIdleTickDelayMs = 60000;
  static constexpr int64_t kStoppingPollMs = 5;
  // After a Tick that launched or changed a reported status, sampling and lazy saves wait this
  // long, so the report of the change does not wait behind them for the caller's lock.
  static constexpr int64_t kQuietAfterChangeMs = 50;
  static constexpr int64_t kReportHoldMs = 20;
  static constexpr int64_t kFastProbeWindowMs = 20;
  static constexpr int kFastProbeMax = 4;
  static constexpr int kFastProbeIntervalUs = 100;
  // Launches due in one Tick go to the launcher in batches of this many; between batches the
  // instances already started are probed, so readiness follows the launches instead of waiting
  // for the whole burst (200 launches take about 100 ms).
  static constexpr size_t kLaunchBatch = 32;

 private:
  using Phase = InstancePhase;  // waiting to (re)start / has a process / final
  struct ProbeState {
    Prober::Ticket ticket = 0;
    int64_t next_ms = 0;
    int successes = 0;
    int failures = 0;
  };
  // What of an instance's status the report carries, as last reported. Compared in place on
  // every Tick (every 100 us while a start is looked for), copied only when it changed.
  struct Signature {
    InstanceState state;
    int pid, port, restarts;
    int64_t started_at_ms, ready_at_ms, generation;
    int last_exit_code, last_signal;
    std::string reason, message, limit_enforcer;
    static Signature Of(const InstanceStatus& s) {
      return {s.state,         s.pid,         s.port,       s.restarts,
              s.started_at_ms, s.ready_at_ms, s.generation, s.last_exit_code,
              s.last_signal,   s.reason,      s.message,    s.limit_enforcer};
    }
    bool Matches(const InstanceStatus& s) const {
      return state == s.state && pid == s.pid && port == s.port && restarts == s.restarts &&
             started_at_ms == s.started_at_ms && ready_at_ms == s.ready_at_ms &&
             generation == s.generation && last_exit_code == s.last_exit_code &&
             last_signal == s.last_signal && reason == s.reason && message == s.message &&
             limit_enforcer == s.limit_enforcer;
    }
  };
  // The fields of an SavedInstance that Restore() needs to re-adopt an instance; a change to
  // any of them is persisted in the same Tick.
  struct Durable {
    Phase phase;
    int pid;
    uint64_t start_time;
    int port;
    bool removing, relaunch_counts;
    int restarts;
    int64_t generation;
    bool operator==(const Durable&) const = default;
  };
  struct Instance {
    InstanceAssignment assignment;
    InstanceStatus status;
    Phase phase = Phase::kWaiting;
    bool removing = false;         // no longer desired
    bool relaunch_counts = false;  // the next successful launch is a restart
    int64_t restart_at_ms = 0;     // kWaiting: launch at (steady)
    uint64_t start_time = 0;       // with status.pid, identifies the process
    int64_t started_ms = 0;        // steady time of the last start (or adoption)
    bool stopping = false;         // SIGTERM sent, SIGKILL at kill_at_ms
    bool killed = false;
    int64_t kill_at_ms = 0;
    std::string stop_reason;  // reason to report for the exit that follows (LivenessFailed)
    bool was_ready = false;   // ready at least once since this process started
    ProbeState readiness;
    ProbeState liveness;
    CrashBackoff backoff;
    double cpu_base = 0;         // cpu seconds of earlier processes of this instance
    double last_cpu_total = -1;  // last sample of this process; -1 = none yet
    int64_t last_sample_ms = 0;
    StringMap env;  // the running process's env, kept only when it has an exec probe
    // What the last report said of it and what the last save holds: kept here, not in maps of
    // their own keyed by id (two map nodes and two copies of the id per instance).
    std::optional<Signature> reported;
    std::optional<Durable> persisted;
  };
  Instance NewInstance(const InstanceAssignment& a) const;
  // Launching is split so one Tick hands every due launch to ProcessLauncher::LaunchMany.
  // PrepareLaunch: false when the launch already failed (state set); else *ls is ready.
  bool PrepareLaunch(Instance& inst, int64_t now, LaunchSpec* ls);
  void FinishLaunch(Instance& inst, int64_t now, int64_t started_wall_ms, const Status& s,
                    const LaunchResult& r, LaunchSpec& ls);
  void LaunchFailed(Instance& inst, int64_t now, const std::string& reason,
                    const std::string& message);
  void OnExit(Instance& inst, const ExitInfo& exit, int64_t now, const std::string& note = "");
  void BeginStop(Instance& inst, int64_t now, const std::string& stop_reason);
  void StepRunning(Instance& inst, int64_t now);
  void StepReadiness(Instance& inst, int64_t now);
  void StepLiveness(Instance& inst, int64_t now);
  void SampleRound(int64_t now);
  // When the sampling round and the lazy save may run (see the header comment).
  int64_t HousekeepingAt() const;
  // Has a process (not stopping, not frozen) that has not been ready since it started.
  // The instances FastProbing counts (at most kFastProbeMax + 1 are collected).
  std::vector<std::string> FastProbed() const;
  bool AwaitsFirstReady(const std::string& id, const Instance& inst) const;
  void CancelProbes(Instance& inst);
  void Remove(Instance& inst);
  ProbeTarget TargetFor(const Instance& inst, const Probe& probe) const;
  bool Frozen(const std::string& id) const;
  // Brings each instance's `reported` up to date; whether anything changed.
  bool UpdateReported();
  static Durable DurableOf(const Instance& inst);
  // Whether a durable field of any instance, or the set of instances, differs from the last save.
  bool DurableChanged() const;
  bool Recorded(const Instance& inst) const;  // see Statuses()
  Status Persist();

  SupervisorOptions options_;
  std::unique_ptr<StateStore> own_store_;  // the FileStateStore on data_dir, when used
  StateStore* store_ = nullptr;            // nullptr: nothing persisted
  Clock& clock_;
  ProcessLauncher& launcher_;
  Prober& prober_;
  LogFiles& logs_;
  PortAllocator ports_;
  StringMap agent_env_;
  std::map<std::string, Instance> instances_;
  std::map<std::string, InstanceAssignment> desired_;
  bool desired_known_ = false;
  bool dirty_ = false;         // records changed in a way DurableChanged() does not see, or unsaved
  bool stale_ = false;         // a status change not yet persisted (saved within a second)
  int64_t next_round_ms_ = 0;  // next sampling round (steady)
  int64_t next_lazy_save_ms_ = 0;   // earliest save for a stale_-only change
  int64_t quiet_until_ms_ = 0;      // no sampling round or lazy save before (steady)
  bool erased_unsaved_ = false;     // an instance was erased since the last save
  bool erased_unreported_ = false;  // ... since the last UpdateReported
  int64_t persist_retry_at_ms_ = 0;
  bool persist_failing_ = false;
};

}  // namespace tide
