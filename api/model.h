// The typed model shared by tided, tide-agent and tidectl: manifest objects (Service, Function,
// Layer, Secret), the runtime view (instances, nodes, events) and the agent wire types.
// Plain structs with value semantics; JSON conversion lives in api/json.h, YAML parsing and
// validation in api/manifest.h. Defaults here are the documented defaults (docs/manifests.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tide {

enum class Kind { kService, kFunction, kLayer, kSecret };
const char* KindName(Kind k);  // "Service" | "Function" | "Layer" | "Secret"
std::optional<Kind> ParseKind(const std::string& name);  // inverse of KindName

using StringMap = std::map<std::string, std::string>;

struct Metadata {
  std::string name;
  StringMap labels;
};

struct Probe {
  enum class Type { kTcp, kHttp, kExec };
  Type type = Type::kTcp;
  std::string http_path;          // httpGet
  std::vector<std::string> exec;  // exec argv
  int initial_delay_seconds = 0;
  double period_seconds = 5;  // liveness period; readiness probes fast during start-up
  double timeout_seconds = 1;
  int failure_threshold = 3;
  int success_threshold = 1;
  bool operator==(const Probe&) const = default;
};

struct Autoscale {
  int min_replicas = 1;  // Functions default to 0
  int max_replicas = 10;
  std::string metric = "concurrency";  // concurrency | rps | cpu
  double target = 10;                  // per instance
  double stable_window_seconds = 60;
  double panic_window_seconds = 6;
  double panic_threshold = 2.0;
  double max_scale_up_rate = 10;
  double tolerance = 0.1;
  bool operator==(const Autoscale&) const = default;
};

struct Resources {
  double cpu = 0;               // cores requested; 0 = none
  int64_t memory_bytes = 0;     // requested and enforced; 0 = unlimited
  int64_t pids = kDefaultPids;  // most tasks (processes + threads) at once; 0 = unlimited
  static constexpr int64_t kDefaultPids = 1024;
  bool operator==(const Resources&) const = default;
};

struct Rollout {
  int max_surge = 1;
  int max_unavailable = 0;
  // A new instance counts as available (may replace an old one) once Ready this long.
  double min_ready_seconds = 0;
  // A rollout that makes no progress (no new instance becoming available) for this long fails.
  double progress_deadline_seconds = 60;
  bool operator==(const Rollout&) const = default;
};

struct Backoff {  // crash-loop restart backoff
  double initial_seconds = 1;
  double max_seconds = 300;
  double reset_after_seconds = 600;  // healthy this long resets the backoff
  bool operator==(const Backoff&) const = default;
};

struct Trigger {
  std::string schedule;  // cron expression
  bool operator==(const Trigger&) const = default;
};

// An env value taken from a Secret: `{secretRef: {name, key}}` (docs/manifests.md).
struct SecretRef {
  std::string name;  // the Secret
  std::string key;   // a key of its data
  bool operator==(const SecretRef&) const = default;
};

// spec.keepAlive of a Function (docs/manifests.md "keepAlive"): an instance idle this long is
// frozen (no CPU, memory kept, thawed by the next request), and stopped after stop_after_seconds
// of idleness (which is then also the Function's idleTimeoutSeconds).
struct KeepAlive {
  double freeze_after_seconds = 0;
  double stop_after_seconds = 0;
  bool operator==(const KeepAlive&) const = default;
};

struct WorkloadSpec {
  std::vector<std::string> command;  // argv, never through a shell
  std::string working_dir;
  std::string user;  // "" = the node's --default-user (api/user_spec.h grammar)
  StringMap env;
  std::map<std::string, SecretRef> secret_env;  // env name -> secret key; never a value
  int replicas = 1;                             // used when autoscale is absent
  std::optional<Autoscale> autoscale;
  int concurrency = 0;  // 0 = no limit
  double timeout_seconds = 30;
  Resources resources;
  std::optional<Probe> readiness;         // absent: TCP on $PORT
  std::optional<Probe> liveness;          // absent: none
  std::string restart_policy = "Always";  // Always | OnFailure | Never
  double termination_grace_period_seconds = 10;
  StringMap node_selector;
  std::vector<std::string> layers;
  Rollout rollout;
  Backoff backoff;
  double idle_timeout_seconds = 60;  // Functions
  // idleTimeoutSeconds: auto (Functions): adaptive keep-alive, daemon/control/keepalive_policy.h
  bool idle_timeout_auto = false;
  std::vector<Trigger> triggers;  // Functions
  // The agent binds $PORT itself and hands the listening socket over as fd 3 (systemd's
  // LISTEN_FDS protocol), so the kernel queues the first requests while the process starts.
  bool socket_activation = false;
  std::optional<KeepAlive> keep_alive;  // Functions
  bool operator==(const WorkloadSpec&) const = default;
};

struct LayerSpec {
  std::string path;
};

// A Secret's data in clear: only in memory, from the parser to the store (which seals it,
// daemon/store/secret_cipher.h) and from the store to the assignments agents get. api/json.h
// never writes it.
struct SecretSpec {
  StringMap data;
};

// One manifest document after parsing and validation.
struct Object {
  std::string api_version = "tide/v1";
  Kind kind = Kind::kService;
  Metadata metadata;
  WorkloadSpec spec;  // Service / Function
  LayerSpec layer;    // Layer
  SecretSpec secret;  // Secret
};

// ---- runtime view -------------------------------------------------------------------------

// Instance states as shown by the API (docs/api.md).
enum class InstanceState {
  kPending,
  kStarting,
  kReady,
  kTerminating,
  kExited,
  kFailed,
  kCrashLoopBackOff
};
const char* InstanceStateName(InstanceState s);
std::optional<InstanceState> ParseInstanceState(const std::string& s);

// What an agent observes about one instance; also what GET /v1/instances shows.
struct InstanceStatus {
  std::string id;
  std::string workload;
  std::string node;
  int64_t generation = 0;  // spec generation the instance runs
  int pid = 0;
  int port = 0;
  InstanceState state = InstanceState::kPending;
  int restarts = 0;
  int64_t started_at_ms = 0;  // wall ms, 0 = never
  int64_t ready_at_ms = 0;    // wall ms, 0 = not ready
  double cpu = 0;             // cores used, averaged over the last sample interval
  double cpu_seconds_total = 0;
  int64_t memory_bytes = 0;    // RSS
  int last_exit_code = -1;     // -1 = none
  int last_signal = 0;         // 0 = none
  std::string reason;          // e.g. OOMKilled, CommandNotFound, ProbeFailed
  std::string message;         // human text for the reason
  std::string limit_enforcer;  // cgroup2 | cgroup1 | rlimit | none
  std::string pids_enforcer;   // cgroup2 | cgroup1 | rlimit | none (agent/pids_limit.h)
  bool frozen = false;         // frozen by spec.keepAlive (agent/freezer.h); not ready capacity
  bool operator==(const InstanceStatus&) const = default;
};

enum class NodeState { kReady, kNotReady, kLost };
const char* NodeStateName(NodeState s);

struct NodeResources {
  double cpu = 0;
  int64_t memory_bytes = 0;
};

struct NodeInfo {
  std::string name;
  std::string address;    // host the gateway uses to reach instances
  std::string agent_url;  // the agent's own API (logs), e.g. http://127.0.0.1:7401
  NodeResources capacity;
  StringMap labels;
};

struct Event {
  int64_t id = 0;
  int64_t time_ms = 0;  // wall
  std::string type;     // Normal | Warning
  std::string reason;
  std::string object;  // e.g. workload/users, node/a, instance/users-3f2a
  std::string workload;
  std::string message;
};

// The "status" member of a workload in GET /v1/workloads answers (docs/api.md), computed by the
// control plane from the desired state and the agents' reports. Generations start at 1, so 0
// in generation or observed_generation means "not known" (an answer without the field).
struct WorkloadStatus {
  int desired = 0;                  // desiredReplicas
  int ready = 0;                    // readyReplicas: Ready instances that get traffic
  std::string phase;                // Running | Pending | Progressing | Degraded | Idle | Failed
  int64_t generation = 0;           // of the spec in the store
  int64_t observed_generation = 0;  // every live instance runs this generation
  struct Condition {
    std::string type, status, reason, message;  // status: True | False
  };
  std::vector<Condition> conditions;  // Available, Scheduled, Progressing
  double instance_seconds = 0;        // instance-seconds run so far
  std::optional<int> scale_override;  // set by PUT /v1/workloads/NAME/scale
};

// ---- agent wire types ---------------------------------------------------------------------

struct LayerRef {
  std::string name;
  std::string path;
  bool operator==(const LayerRef&) const = default;
};

// What tided wants one node to run: the full desired set is sent every time (level-triggered).
// A WorkloadSpec held once however many instances run it. An assignment is copied per
// instance, and several times (tided's cluster state; the agent's desired set, supervisor and
// saved records): with the spec by value that was 768 bytes plus its strings per copy, the
// bulk of an agent's memory at 1,000 instances. Copies share one immutable spec; reads go
// through `->` and `*`, writes through mut(), which copies first when the spec is shared.
// Thread-safety: as a shared_ptr (distinct SharedSpec objects may be used from any threads).
class SharedSpec {
 public:
  SharedSpec();                   // the empty spec (one shared instance)
  SharedSpec(WorkloadSpec spec);  // NOLINT(google-explicit-constructor): a spec is its value
  const WorkloadSpec& operator*() const { return *p_; }
  const WorkloadSpec* operator->() const { return p_.get(); }
  WorkloadSpec& mut();  // this copy's own spec (copied from the shared one on first write)
  bool SameObject(const SharedSpec& o) const { return p_ == o.p_; }
  bool operator==(const SharedSpec& o) const { return p_ == o.p_ || *p_ == *o.p_; }

 private:
  std::shared_ptr<WorkloadSpec> p_;
};

struct InstanceAssignment {
  std::string id;
  std::string workload;
  Kind kind = Kind::kService;
  int64_t generation = 0;
  SharedSpec spec;
  std::vector<LayerRef> layers;  // resolved from spec.layers
  // spec.secret_env resolved: env name -> value. Sent to the agent in the assignments answer
  // only; the agent keeps it in memory (never in instances.json, api/json.h leaves it out).
  StringMap secret_env;
  bool operator==(const InstanceAssignment&) const = default;
};

struct AssignmentSet {
  int64_t version = 0;  // increases whenever this node's desired set changes
  std::vector<InstanceAssignment> instances;
};

struct NodeReport {  // agent -> tided: heartbeat plus every instance it runs
  std::string node;
  std::vector<InstanceStatus> instances;
};

}  // namespace tide
