// ControlPlane: the heart of tided. Owns the in-memory cluster state (nodes, instances), runs the
// level-triggered reconcile loop (desired replicas from the store and the autoscaler vs the
// instances agents report), speaks the agent protocol, and feeds the gateway its routing table.
//
// It keeps the locking, the threads and the I/O; the decisions are pure units in daemon/control/
// that it calls under its mutex and whose answers it applies:
//   rollout.h        what to create and drain for a workload (scaling, rolling updates, failed
//                    rollouts restoring the last complete generation), with events and conditions;
//   scale_policy.h   the desired count of autoscaled workloads (autoscaler, idle hold, activation);
//   node_liveness.h  Ready -> NotReady -> Lost of silent nodes;
//   triggers.h       which schedule triggers are due; they fire through the Invoker (durable,
//                    retried), enqueued outside the mutex.
// Only Ready instances are ever routed, and not those of a failed rollout's generation while
// older instances serve.
//
// Source files: control_plane.cc (lifecycle, events, agent protocol, the reconcile pass),
// control_plane_instances.cc (create, place, drain, assignments, gateway routing),
// control_plane_scaling.cc (autoscale loop, gateway load callback, triggers),
// control_plane_status.cc (queries, metrics).
//
// Threading: one mutex guards all state. Every public method may be called from any thread (API
// handlers, gateway I/O threads, the reconcile thread). Calls into the gateway are made after the
// mutex is released, so the gateway may call back (Route, OnLoad) at any time.
// The store, clock, metrics, gateway and invoker must outlive the ControlPlane.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/clock.h"
#include "api/model.h"
#include "api/status.h"
#include "daemon/control/autoscaler.h"
#include "daemon/control/cluster_state.h"
#include "daemon/control/hearing.h"
#include "daemon/control/keepalive_policy.h"
#include "daemon/control/loop_wake.h"
#include "daemon/control/member_load.h"
#include "daemon/control/quick_beats.h"
#include "daemon/control/rollout.h"
#include "daemon/control/scheduler.h"
#include "daemon/control/triggers.h"
#include "daemon/gateway/gateway.h"
#include "daemon/metrics.h"
#include "daemon/store/object_store.h"

namespace tide {

class Invoker;

struct ControlPlaneOptions {
  int64_t node_grace_ms = 10000;  // silent this long: Lost (NotReady at half of it)
  // The reconcile loop wakes this often while work is in progress, else at the nearest deadline;
  // a full pass (every workload) runs only when kicked, while work is in progress, or every
  // resync_period_ms (daemon/control/loop_wake.h).
  int64_t reconcile_period_ms = 200;
  int64_t resync_period_ms = 30000;   // level-triggered safety net of an idle cluster
  int64_t autoscale_period_ms = 100;  // load sampling and scaling decisions (active workloads)
  // After a start, agents re-register with what they run; instance counts are not changed
  // (no creations, no drains) for this long, so a restart does not churn instances.
  int64_t startup_settle_ms = 2000;
  Invoker* invoker = nullptr;  // where schedule triggers are enqueued; none: they only log
  // Whether this member may change anything (place, create, drain, scale, fire triggers). Unset:
  // always. On etcd, whether it leads (docs/ha.md); on becoming leader it first settles for
  // startup_settle_ms, adopting what agents report, as after a start.
  std::function<bool()> may_act;
  // Several members (may_act set): this member's --name, and how its gateway's load reaches
  // the leader (daemon/control/member_load.h): a follower publishes it through the store every
  // load_share_ms when it changed (and while requests are in flight, at least every
  // load_fresh_ms / 2); the leader reads the records that are fresher than load_fresh_ms.
  std::string member_name;
  int64_t load_share_ms = 500;
  int64_t load_fresh_ms = 3000;
  KeepAliveOptions keepalive;  // Functions with idleTimeoutSeconds: auto
};

class ControlPlane : public GatewayBackend {
 public:
  ControlPlane(ControlPlaneOptions opts, ObjectStore& store, Clock& clock, Metrics& metrics,
               Gateway* gateway);
  ~ControlPlane() override;

  void Start();  // starts the reconcile and autoscale threads
  void Stop();

  // ---- agent protocol ----
  // Registers (or re-registers) a node with the instances it runs now. Instances tided knows on
  // this node are updated. Unknown ones are adopted only at the node's first registration since
  // tided started (tided restarted and forgot what it had assigned) and only when may_adopt
  // (false for a node that just joined: nothing was ever assigned to it). Callers check the
  // node's identity first (daemon/server/node_identity.h).
  Status RegisterNode(const NodeInfo& info, const std::vector<InstanceStatus>& running,
                      bool may_adopt = true);
  // Heartbeat plus observed instance states. NotFound when the node is not registered (the
  // agent then registers again: that is how it re-syncs after a tided restart). Status of an
  // instance not assigned to this node is ignored (a Warning event, once per node and id).
  Status Report(const NodeReport& report);
  // The same with report deltas (api/agent_delta.h): `seq` (-1: none) acknowledges it; with
  // base >= 0, report.instances are only the changed statuses and `gone` the ids no longer run,
  // applied only when base is the seq last applied, else *resync (the heartbeat and the listed
  // statuses still count; the agent sends a complete report next).
  Status Report(const NodeReport& report, int64_t seq, int64_t base,
                const std::vector<std::string>& gone, bool* resync);
  // A heartbeat that is a report delta with no gone id and statuses that carry at most new
  // samples (CPU, memory), taken without mu_ when the node may (daemon/control/quick_beats.h):
  // true when taken (`seq` acknowledged; the samples are applied at the next pass); false: call
  // Report. Never waits for a reconcile pass.
  bool QuickReport(const std::string& node, int64_t seq, int64_t base,
                   const std::vector<InstanceStatus>& samples);
  // A report of `node` arrived (its sender proved it may act as the node): the node is heard
  // now, whether the report is taken by QuickReport or waits for Report behind a pass. Liveness
  // counts from arrival, so a report queued behind this lock never makes its node NotReady.
  // Never waits for mu_.
  void HeardFrom(const std::string& node);
  // Long-poll: the node's full desired set once its version is > after, or after wait_ms.
  Status WaitAssignments(const std::string& node, int64_t after, int64_t wait_ms,
                         AssignmentSet* out);
  // Whether this member leads (ControlPlaneOptions::may_act; always with one tided). Only the
  // leader hands out assignments: the API answers a long-poll on another member 503 NotLeader.
  bool Leads() const { return !opts_.may_act || opts_.may_act(); }
  // The version of a node's assignment set; -1 when the node is not registered.
  int64_t AssignmentVersion(const std::string& node);
  // Called (outside the mutex, from any thread) whenever assignments or what the API shows may
  // have changed: the API's asynchronous waiters re-check (daemon/server/api_waits.h).
  void SetChangeListener(std::function<void()> listener);

  // ---- queries for the API ----
  // A counter that grows whenever what the API shows may have changed (an agent's report, a
  // registration, a reconcile pass). WaitStatusChange blocks until it is greater than seen, the
  // deadline passes or the control plane stops, and returns it: API watches wait on it instead
  // of polling.
  int64_t StatusRevision();
  int64_t WaitStatusChange(int64_t seen, std::chrono::steady_clock::time_point deadline);
  // A workload's status. A status computed at the same status revision for the same generation
  // and scale is answered again (nothing it shows has changed since: 200 reads a second of a
  // 10,000-instance workload cost a map lookup each, not a walk over its instances), and so is
  // one less than kStatusReuseMs old while a reconcile pass holds the lock (a read never waits
  // for a pass in progress).
  WorkloadStatus StatusOf(const StoredObject& obj);
  static constexpr int64_t kStatusReuseMs = 1000;
  // A report that changes a workload's ready set routes it at once when it has fewer endpoints
  // than this (or requests wait for it); bigger ones are routed by the pass the report kicks.
  static constexpr size_t kRouteAtOnceBelow = 16;
  std::vector<InstanceStatus> Instances(const std::string& workload, const std::string& node);
  struct NodeView {
    NodeEntry entry;
    NodeResources allocated;
    int instances = 0;
  };
  std::vector<NodeView> Nodes();
  // The agent API URL of the node running instance `id` ("" when unknown).
  std::string AgentUrlOf(const std::string& instance_id);

  // Wakes the reconcile loop (after applies, deletes, scale).
  void Kick();
  // Records an event (also logged).
  void Emit(const std::string& type, const std::string& reason, const std::string& object,
            const std::string& workload, const std::string& message);

  // ---- GatewayBackend ----
  std::optional<RouteInfo> Route(const std::string& workload) override;
  void OnLoad(const std::string& workload, int inflight, int queued) override;

 private:
  struct WorkloadRuntime {
    StoredObject obj;
    int desired = 0;  // current desired replicas
    bool autoscaled = false;
    int64_t last_request_ms = 0;   // steady; for idle scale-to-zero
    int inflight = 0, queued = 0;  // latest from the gateway
    std::string last_pending_reason;
    std::string last_route_key;  // endpoints last pushed to the gateway
    size_t routed = 0;           // how many endpoints were last pushed
    RolloutState rollout;        // the planner's memory; started again on every spec change
    // The newest generation whose rollout completed (every live instance ran it); what a failed
    // rollout restores. Unknown after a tided restart until a rollout completes.
    std::optional<StoredObject> serving;
    double instance_seconds = 0;
    uint64_t rps_last_total = 0;  // gateway request counter at the last autoscale sample
    int64_t rps_last_ms = 0;
    // idleTimeoutSeconds: auto (about 1.2 KB, made at the first load signal); fed by OnLoad's
    // busy/idle edges.
    std::unique_ptr<KeepAliveTracker> keepalive;
    bool settled = false;  // the last full pass left nothing to follow (loop_wake.h)
    SharedSpec spec;       // the spec last handed to an instance's assignment, to share
  };
  struct GatewayUpdate {
    std::string workload;
    std::vector<Endpoint> endpoints;
    bool remove = false;
    uint64_t seq = 0;
  };

  void ReconcileLoop();
  void AutoscaleLoop();
  // Enqueues the schedule triggers that are due with the invoker (called by the autoscale loop).
  // Returns when the next one fires (Unix ms; <= 0: none armed).
  int64_t FireDueTriggers();
  // The light pass of an idle wake-up: hearing and node liveness, instance-seconds. True when a
  // node changed state (a full pass follows).
  bool LightPassLocked(int64_t now);
  // How long the reconcile loop sleeps unless kicked (loop_wake.h ReconcileSleepMs).
  int64_t SleepMsLocked(int64_t now, const LoopTiming& timing) const;
  // Instance-seconds and memory of the workloads with running instances (per instance, so
  // nothing is done for idle workloads).
  void AccrueLocked(int64_t now);
  // Several members: a follower publishes its gateway's load, the leader reads the others' and
  // counts them as requests (control_plane_scaling.cc). Called by the autoscale loop.
  void ShareLoad();
  void ReconcileOnce();
  // All under mu_:
  void RefreshWorkloadsLocked();
  void UpdateNodeStatesLocked(int64_t now);
  // Folds the heartbeats QuickReport took for `name` into its entry (liveness, report seq).
  void CollectBeatLocked(const std::string& name, NodeEntry& n);
  void ReconcileWorkloadLocked(WorkloadRuntime& wr, int64_t now);
  // Places the workload's pending instances; FailedScheduling once per new reason.
  void PlacePendingLocked(WorkloadRuntime& wr, const std::vector<InstanceRecord*>& recs);
  // Creates and places a new instance of `obj` (the current or the serving generation).
  void CreateLocked(WorkloadRuntime& wr, const StoredObject& obj);
  void ReapDeletedLocked(int64_t now);
  bool PlaceLocked(InstanceRecord& rec, std::string* reason);
  void BuildPlacementCacheLocked();
  void DrainLocked(InstanceRecord& rec, int64_t now, const std::string& why);
  void FinishDrainsLocked(int64_t now);
  // The gateway updates of every workload whose endpoints changed (only those named by `only`).
  void RoutesLocked(std::vector<GatewayUpdate>* out, const std::set<std::string>* only = nullptr);
  void MetricsLocked();
  WorkloadStatus StatusLocked(const StoredObject& obj);
  // What an agent is told to run for instance `id` of workload `o` (layers and secret env
  // resolved; secret values live in tided's memory and the agent's, daemon/control/secret_env.h).
  // Instances of one spec share it (SharedSpec in api/model.h): one copy per workload and
  // generation in tided's cluster state, not one per instance.
  InstanceAssignment AssignmentLocked(const Object& o, const std::string& id, int64_t generation);
  // A new instance of `obj` (its generation and spec), not yet placed.
  InstanceRecord NewInstanceLocked(const StoredObject& obj);
  // True when instance `r` of `wr` must get no traffic (a failed rollout's generation).
  static bool HiddenLocked(const WorkloadRuntime& wr, const InstanceRecord& r);
  // Whether reports of instances this member does not know are adopted: on etcd, while it does
  // not lead (its records mirror what agents report, so its gateway routes and, once it leads,
  // it restarts nothing) and while a new leader settles. Never with one tided (SQLite).
  bool MirroringLocked(int64_t now) const;
  // Records instance `st` that `node` runs (its workload exists) as assigned to it.
  void AdoptLocked(const std::string& node, const InstanceStatus& st, int64_t now);
  // True when the report changed what tided acts on or a watcher sees (new samples alone do not).
  bool ApplyObservedLocked(const std::string& node, const InstanceStatus& st, int64_t now);
  void NotifyListener();
  // A node reported instance `id` that is not assigned to it: ignored; evented once per pair.
  void NoteUnassignedLocked(const std::string& node, const std::string& id, const std::string& why);
  void FlushGateway(std::vector<GatewayUpdate> updates);
  void EmitLocked(const std::string& type, const std::string& reason, const std::string& object,
                  const std::string& workload, const std::string& message);

  ControlPlaneOptions opts_;
  ObjectStore& store_;
  Clock& clock_;
  Metrics& metrics_;
  Gateway* gateway_;

  std::mutex mu_;
  std::condition_variable kick_cv_;          // reconcile loop
  std::condition_variable assignments_cv_;   // long-polls
  std::condition_variable status_cv_;        // API watches (status_revision_)
  std::atomic<int64_t> status_revision_{0};  // written under mu_; StatusOf reads it without
  std::condition_variable autoscale_cv_;     // stopping, an activation, an active workload
  int64_t last_metrics_ms_ = 0;
  int64_t started_ms_ = 0;
  bool acting_ = true;           // guarded by mu_; may_act at the last reconcile pass
  HearingWindow hearing_{0, 0};  // since when tided could hear agents (reset in Start)
  // Routing pushes carry a per-workload sequence; a stale one (computed earlier, flushed later
  // by another thread) is dropped, so the gateway always ends with the newest endpoint set.
  std::mutex flush_mu_;
  uint64_t route_seq_ = 0;                        // guarded by mu_
  std::map<std::string, uint64_t> flushed_seq_;   // guarded by flush_mu_
  std::map<std::string, int> inflight_snapshot_;  // instance id -> gateway in-flight, per pass
  bool kicked_ = false;
  bool stopping_ = false;
  bool busy_ = true;          // the last full pass left work in progress (loop_wake.h)
  int64_t last_full_ms_ = 0;  // steady; the last full reconcile pass
  // The last heap trim (loop_wake.h TrimDueMs); the reconcile thread's only.
  int64_t last_trim_ms_ = 0;
  // Autoscaled workloads with desired > 0 or instances: the only ones the autoscale loop
  // samples. Recomputed by every full pass; an activation from zero adds one at once.
  std::set<std::string> active_autoscaled_;
  bool autoscale_wake_ = false;
  std::vector<TriggerRef> trigger_refs_;  // every workload's schedule triggers (store refresh)
  // The nodes as the scheduler sees them (allocations, instances per workload), kept while a
  // reconcile pass places instances (in_pass_); rebuilt by the next pass.
  struct PlacementCache {
    std::vector<SchedNode> nodes;
    std::map<std::string, size_t> index;                        // node name -> nodes[i]
    std::map<std::string, std::map<size_t, int>> per_workload;  // workload -> node -> count
    std::string workload;  // whose counts nodes[].workload_instances hold now
  };
  std::optional<PlacementCache> placement_cache_;
  bool in_pass_ = false;
  int64_t store_revision_seen_ = -1;
  ClusterState state_;
  prometheus::Histogram* pass_duration_ = nullptr;  // tide_reconcile_duration_seconds
  struct RecentStatus {
    int64_t revision = -1;  // status_revision_ it was computed at
    int64_t generation = 0;
    std::optional<int> scale;
    int64_t at_ms = 0;
    WorkloadStatus status;
  };
  std::mutex recent_mu_;
  std::map<std::string, RecentStatus> recent_status_;  // recent_mu_; by workload (StatusOf)
  QuickBeats beats_;  // own lock; which nodes' empty heartbeats skip mu_ (see QuickReport)
  std::map<std::string, WorkloadRuntime> workloads_;
  std::map<std::string, std::string> layer_paths_;
  std::map<std::string, StringMap> secret_values_;  // name -> data in clear, from the store
  Autoscaler autoscaler_;
  std::vector<Event> pending_events_;
  std::set<std::string> noted_unassigned_;  // "node/id" already evented (bounded)
  TriggerSchedule triggers_;
  RemoteLoad remote_load_;                       // guarded by mu_
  int64_t next_share_ms_ = 0;                    // autoscale thread only
  int64_t published_at_ms_ = 0;                  // autoscale thread only
  std::map<std::string, MemberLoad> published_;  // autoscale thread only
  std::thread reconcile_thread_, autoscale_thread_;
  std::mutex listener_mu_;
  std::function<void()> listener_;  // listener_mu_
};

}  // namespace tide
