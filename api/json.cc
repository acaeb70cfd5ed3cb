#include "api/json.h"

#include <cmath>
#include <ctime>
#include <limits>
#include <type_traits>

namespace tide {
namespace {

// Reads an integer field. nlohmann converts a float to an integer with a plain cast, which is
// undefined behaviour when the value does not fit (e.g. 1e300); such values throw instead, as
// a type mismatch does.
template <typename T>
T GetInteger(const json& v) {
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // T holds [lo, hi_excl): both bounds are powers of two (or 0), exact as doubles.
    const double hi_excl = std::ldexp(1.0, std::numeric_limits<T>::digits);
    const double lo = std::is_signed_v<T> ? -hi_excl : 0.0;
    if (!(d >= lo && d < hi_excl))
      throw json::type_error::create(302, "number out of range for an integer field", &v);
  }
  return v.get<T>();
}

// Reads j[key] into out when present and not null; leaves the default otherwise.
template <typename T>
void Get(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    out = GetInteger<T>(*it);
  } else {
    it->get_to(out);
  }
}

const char* ProbeTypeName(Probe::Type t) {
  switch (t) {
    case Probe::Type::kTcp:
      return "tcp";
    case Probe::Type::kHttp:
      return "httpGet";
    case Probe::Type::kExec:
      return "exec";
  }
  return "tcp";
}

}  // namespace

std::string FormatTime(int64_t wall_ms) {
  if (wall_ms <= 0) return "";
  std::time_t secs = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(wall_ms % 1000));
  return out;
}

void to_json(json& j, const Probe& p) {
  j = json::object();
  switch (p.type) {
    case Probe::Type::kTcp:
      j["tcp"] = true;
      break;
    case Probe::Type::kHttp:
      j["httpGet"] = p.http_path;
      break;
    case Probe::Type::kExec:
      j["exec"] = p.exec;
      break;
  }
  j["initialDelaySeconds"] = p.initial_delay_seconds;
  j["periodSeconds"] = p.period_seconds;
  j["timeoutSeconds"] = p.timeout_seconds;
  j["failureThreshold"] = p.failure_threshold;
  j["successThreshold"] = p.success_threshold;
  (void)ProbeTypeName;
}

void from_json(const json& j, Probe& p) {
  p = Probe{};
  if (j.contains("httpGet")) {
    p.type = Probe::Type::kHttp;
    j.at("httpGet").get_to(p.http_path);
  } else if (j.contains("exec")) {
    p.type = Probe::Type::kExec;
    j.at("exec").get_to(p.exec);
  } else {
    p.type = Probe::Type::kTcp;
  }
  Get(j, "initialDelaySeconds", p.initial_delay_seconds);
  Get(j, "periodSeconds", p.period_seconds);
  Get(j, "timeoutSeconds", p.timeout_seconds);
  Get(j, "failureThreshold", p.failure_threshold);
  Get(j, "successThreshold", p.success_threshold);
}

void to_json(json& j, const Autoscale& a) {
  j = json{{"minReplicas", a.min_replicas},
           {"maxReplicas", a.max_replicas},
           {"metric", a.metric},
           {"target", a.target},
           {"stableWindowSeconds", a.stable_window_seconds},
           {"panicWindowSeconds", a.panic_window_seconds},
           {"panicThreshold", a.panic_threshold},
           {"maxScaleUpRate", a.max_scale_up_rate},
           {"tolerance", a.tolerance}};
}

void from_json(const json& j, Autoscale& a) {
  a = Autoscale{};
  Get(j, "minReplicas", a.min_replicas);
  Get(j, "maxReplicas", a.max_replicas);
  Get(j, "metric", a.metric);
  Get(j, "target", a.target);
  Get(j, "stableWindowSeconds", a.stable_window_seconds);
  Get(j, "panicWindowSeconds", a.panic_window_seconds);
  Get(j, "panicThreshold", a.panic_threshold);
  Get(j, "maxScaleUpRate", a.max_scale_up_rate);
  Get(j, "tolerance", a.tolerance);
}

void to_json(json& j, const WorkloadSpec& s) {
  j = json::object();
  j["command"] = s.command;
  if (!s.working_dir.empty()) j["workingDir"] = s.working_dir;
  if (!s.user.empty()) j["user"] = s.user;
  j["env"] = s.env;
  for (const auto& [k, ref] : s.secret_env)
    j["env"][k] = {{"secretRef", {{"name", ref.name}, {"key", ref.key}}}};
  j["replicas"] = s.replicas;
  if (s.autoscale) j["autoscale"] = *s.autoscale;
  j["concurrency"] = s.concurrency;
  j["timeoutSeconds"] = s.timeout_seconds;
  j["resources"] = {
      {"cpu", s.resources.cpu}, {"memory", s.resources.memory_bytes}, {"pids", s.resources.pids}};
  if (s.readiness) j["readiness"] = *s.readiness;
  if (s.liveness) j["liveness"] = *s.liveness;
  j["restartPolicy"] = s.restart_policy;
  j["terminationGracePeriodSeconds"] = s.termination_grace_period_seconds;
  j["nodeSelector"] = s.node_selector;
  j["layers"] = s.layers;
  j["rollout"] = {{"maxSurge", s.rollout.max_surge},
                  {"maxUnavailable", s.rollout.max_unavailable},
                  {"minReadySeconds", s.rollout.min_ready_seconds},
                  {"progressDeadlineSeconds", s.rollout.progress_deadline_seconds}};
  j["backoff"] = {{"initialSeconds", s.backoff.initial_seconds},
                  {"maxSeconds", s.backoff.max_seconds},
                  {"resetAfterSeconds", s.backoff.reset_after_seconds}};
  if (s.idle_timeout_auto) {
    j["idleTimeoutSeconds"] = "auto";
  } else {
    j["idleTimeoutSeconds"] = s.idle_timeout_seconds;
  }
  if (s.socket_activation) j["socketActivation"] = true;
  if (s.keep_alive) {
    j["keepAlive"] = {{"freezeAfterSeconds", s.keep_alive->freeze_after_seconds},
                      {"stopAfterSeconds", s.keep_alive->stop_after_seconds}};
  }
  json triggers = json::array();
  for (const auto& t : s.triggers) triggers.push_back({{"schedule", t.schedule}});
  j["triggers"] = triggers;
}

void from_json(const json& j, WorkloadSpec& s) {
  s = WorkloadSpec{};
  Get(j, "command", s.command);
  Get(j, "workingDir", s.working_dir);
  Get(j, "user", s.user);
  if (auto env = j.find("env"); env != j.end() && env->is_object()) {
    for (const auto& [k, v] : env->items()) {
      if (v.is_string()) {
        s.env[k] = v.get<std::string>();
      } else if (v.is_object() && v.contains("secretRef")) {
        const json& r = v.at("secretRef");
        s.secret_env[k] = SecretRef{r.value("name", ""), r.value("key", "")};
      }
    }
  }
  Get(j, "replicas", s.replicas);
  if (j.contains("autoscale") && !j.at("autoscale").is_null()) s.autoscale = j.at("autoscale");
  Get(j, "concurrency", s.concurrency);
  Get(j, "timeoutSeconds", s.timeout_seconds);
  if (j.contains("resources")) {
    const auto& r = j.at("resources");
    Get(r, "cpu", s.resources.cpu);
    if (r.contains("memory") && r.at("memory").is_number())
      s.resources.memory_bytes = GetInteger<int64_t>(r.at("memory"));
    if (r.contains("pids") && r.at("pids").is_number())
      s.resources.pids = GetInteger<int64_t>(r.at("pids"));
  }
  if (j.contains("readiness") && !j.at("readiness").is_null()) s.readiness = j.at("readiness");
  if (j.contains("liveness") && !j.at("liveness").is_null()) s.liveness = j.at("liveness");
  Get(j, "restartPolicy", s.restart_policy);
  Get(j, "terminationGracePeriodSeconds", s.termination_grace_period_seconds);
  Get(j, "nodeSelector", s.node_selector);
  Get(j, "layers", s.layers);
  if (j.contains("rollout")) {
    Get(j.at("rollout"), "maxSurge", s.rollout.max_surge);
    Get(j.at("rollout"), "maxUnavailable", s.rollout.max_unavailable);
    Get(j.at("rollout"), "minReadySeconds", s.rollout.min_ready_seconds);
    Get(j.at("rollout"), "progressDeadlineSeconds", s.rollout.progress_deadline_seconds);
  }
  if (j.contains("backoff")) {
    Get(j.at("backoff"), "initialSeconds", s.backoff.initial_seconds);
    Get(j.at("backoff"), "maxSeconds", s.backoff.max_seconds);
    Get(j.at("backoff"), "resetAfterSeconds", s.backoff.reset_after_seconds);
  }
  if (auto it = j.find("idleTimeoutSeconds"); it != j.end() && it->is_string()) {
    s.idle_timeout_auto = *it == "auto";
  } else {
    Get(j, "idleTimeoutSeconds", s.idle_timeout_seconds);
  }
  Get(j, "socketActivation", s.socket_activation);
  if (auto ka = j.find("keepAlive"); ka != j.end() && ka->is_object()) {
    KeepAlive k;
    Get(*ka, "freezeAfterSeconds", k.freeze_after_seconds);
    Get(*ka, "stopAfterSeconds", k.stop_after_seconds);
    s.keep_alive = k;
  }
  if (j.contains("triggers")) {
    for (const auto& t : j.at("triggers")) {
      Trigger tr;
      Get(t, "schedule", tr.schedule);
      s.triggers.push_back(tr);
    }
  }
}

void to_json(json& j, const Object& o) {
  j = json::object();
  j["apiVersion"] = o.api_version;
  j["kind"] = KindName(o.kind);
  j["metadata"] = {{"name", o.metadata.name}, {"labels", o.metadata.labels}};
  if (o.kind == Kind::kLayer) {
    j["spec"] = {{"path", o.layer.path}};
  } else if (o.kind == Kind::kSecret) {
    // Keys only, by construction: no answer, file or log line built from JSON holds a value.
    json keys = json::array();
    for (const auto& [k, v] : o.secret.data) keys.push_back(k);
    j["spec"] = {{"keys", keys}};
  } else {
    j["spec"] = o.spec;
  }
}

void from_json(const json& j, Object& o) {
  o = Object{};
  Get(j, "apiVersion", o.api_version);
  auto k = ParseKind(j.value("kind", std::string("Service")));
  o.kind = k.value_or(Kind::kService);
  if (j.contains("metadata")) {
    Get(j.at("metadata"), "name", o.metadata.name);
    Get(j.at("metadata"), "labels", o.metadata.labels);
  }
  if (j.contains("spec")) {
    if (o.kind == Kind::kLayer) {
      Get(j.at("spec"), "path", o.layer.path);
    } else if (o.kind == Kind::kSecret) {
      std::vector<std::string> keys;
      Get(j.at("spec"), "keys", keys);
      for (const auto& k : keys) o.secret.data[k];  // names only; values never travel as JSON
    } else {
      o.spec = j.at("spec").get<WorkloadSpec>();
    }
  }
}

void to_json(json& j, const InstanceStatus& s) {
  // Built in place: an initializer list copies every value once more (nlohmann's json_ref) and
  // this runs for every instance of every agent report and of every instance listing.
  j = json::object();
  auto& o = j.get_ref<json::object_t&>();
  o.emplace("id", s.id);
  o.emplace("workload", s.workload);
  o.emplace("node", s.node);
  o.emplace("generation", s.generation);
  o.emplace("pid", s.pid);
  o.emplace("port", s.port);
  o.emplace("state", InstanceStateName(s.state));
  o.emplace("restarts", s.restarts);
  o.emplace("startedAt", FormatTime(s.started_at_ms));
  o.emplace("readyAt", FormatTime(s.ready_at_ms));
  o.emplace("startedAtMs", s.started_at_ms);
  o.emplace("readyAtMs", s.ready_at_ms);
  o.emplace("cpu", s.cpu);
  o.emplace("cpuSecondsTotal", s.cpu_seconds_total);
  o.emplace("memoryBytes", s.memory_bytes);
  o.emplace("lastExitCode", s.last_exit_code);
  o.emplace("lastSignal", s.last_signal);
  o.emplace("reason", s.reason);
  o.emplace("message", s.message);
  o.emplace("limitEnforcer", s.limit_enforcer);
  o.emplace("pidsEnforcer", s.pids_enforcer);
  if (s.frozen) o.emplace("frozen", true);
}

void from_json(const json& j, InstanceStatus& s) {
  s = InstanceStatus{};
  Get(j, "id", s.id);
  Get(j, "workload", s.workload);
  Get(j, "node", s.node);
  Get(j, "generation", s.generation);
  Get(j, "pid", s.pid);
  Get(j, "port", s.port);
  s.state = ParseInstanceState(j.value("state", std::string("Pending")))
                .value_or(InstanceState::kPending);
  Get(j, "restarts", s.restarts);
  Get(j, "startedAtMs", s.started_at_ms);
  Get(j, "readyAtMs", s.ready_at_ms);
  Get(j, "cpu", s.cpu);
  Get(j, "cpuSecondsTotal", s.cpu_seconds_total);
  Get(j, "memoryBytes", s.memory_bytes);
  Get(j, "lastExitCode", s.last_exit_code);
  Get(j, "lastSignal", s.last_signal);
  Get(j, "reason", s.reason);
  Get(j, "message", s.message);
  Get(j, "limitEnforcer", s.limit_enforcer);
  Get(j, "pidsEnforcer", s.pids_enforcer);
  Get(j, "frozen", s.frozen);
}

void to_json(json& j, const NodeInfo& n) {
  j = json{{"name", n.name},
           {"address", n.address},
           {"agentUrl", n.agent_url},
           {"capacity", {{"cpu", n.capacity.cpu}, {"memory", n.capacity.memory_bytes}}},
           {"labels", n.labels}};
}

void from_json(const json& j, NodeInfo& n) {
  n = NodeInfo{};
  Get(j, "name", n.name);
  Get(j, "address", n.address);
  Get(j, "agentUrl", n.agent_url);
  if (j.contains("capacity")) {
    Get(j.at("capacity"), "cpu", n.capacity.cpu);
    Get(j.at("capacity"), "memory", n.capacity.memory_bytes);
  }
  Get(j, "labels", n.labels);
}

void to_json(json& j, const WorkloadStatus& s) {
  json conds = json::array();
  for (const auto& c : s.conditions) {
    conds.push_back(
        {{"type", c.type}, {"status", c.status}, {"reason", c.reason}, {"message", c.message}});
  }
  j = json{{"desiredReplicas", s.desired},
           {"readyReplicas", s.ready},
           {"phase", s.phase},
           {"conditions", std::move(conds)},
           {"generation", s.generation},
           {"observedGeneration", s.observed_generation},
           {"instanceSeconds", s.instance_seconds},
           {"scaleOverride", s.scale_override ? json(*s.scale_override) : json()}};
}

void from_json(const json& j, WorkloadStatus& s) {
  s = WorkloadStatus{};
  Get(j, "desiredReplicas", s.desired);
  Get(j, "readyReplicas", s.ready);
  Get(j, "phase", s.phase);
  Get(j, "generation", s.generation);
  Get(j, "observedGeneration", s.observed_generation);
  Get(j, "instanceSeconds", s.instance_seconds);
  if (auto it = j.find("conditions"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) throw json::type_error::create(302, "conditions: not an array", &*it);
    for (const json& c : *it) {
      WorkloadStatus::Condition cond;
      Get(c, "type", cond.type);
      Get(c, "status", cond.status);
      Get(c, "reason", cond.reason);
      Get(c, "message", cond.message);
      s.conditions.push_back(std::move(cond));
    }
  }
  int override_replicas = 0;
  if (auto it = j.find("scaleOverride"); it != j.end() && !it->is_null()) {
    Get(j, "scaleOverride", override_replicas);
    s.scale_override = override_replicas;
  }
}

std::optional<WorkloadStatus> WorkloadStatusOf(const json& workload) {
  if (!workload.is_object()) return std::nullopt;
  auto it = workload.find("status");
  if (it == workload.end() || !it->is_object()) return std::nullopt;
  try {
    return it->get<WorkloadStatus>();
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

void to_json(json& j, const Event& e) {
  j = json{{"id", e.id},
           {"time", FormatTime(e.time_ms)},
           {"timeMs", e.time_ms},
           {"type", e.type},
           {"reason", e.reason},
           {"object", e.object},
           {"workload", e.workload},
           {"message", e.message}};
}

void from_json(const json& j, Event& e) {
  e = Event{};
  Get(j, "id", e.id);
  Get(j, "timeMs", e.time_ms);
  Get(j, "type", e.type);
  Get(j, "reason", e.reason);
  Get(j, "object", e.object);
  Get(j, "workload", e.workload);
  Get(j, "message", e.message);
}

void to_json(json& j, const InstanceAssignment& a) {
  json layers = json::array();
  for (const auto& l : a.layers) layers.push_back({{"name", l.name}, {"path", l.path}});
  j = json{{"id", a.id},
           {"workload", a.workload},
           {"kind", KindName(a.kind)},
           {"generation", a.generation},
           {"spec", *a.spec},
           {"layers", layers}};
}

void from_json(const json& j, InstanceAssignment& a) {
  a = InstanceAssignment{};
  Get(j, "id", a.id);
  Get(j, "workload", a.workload);
  a.kind = ParseKind(j.value("kind", std::string("Service"))).value_or(Kind::kService);
  Get(j, "generation", a.generation);
  if (j.contains("spec")) a.spec = j.at("spec").get<WorkloadSpec>();
  if (j.contains("layers")) {
    for (const auto& l : j.at("layers")) {
      a.layers.push_back({l.value("name", ""), l.value("path", "")});
    }
  }
  Get(j, "secretEnv", a.secret_env);
}

void to_json(json& j, const AssignmentSet& a) {
  json instances = json::array();
  for (const auto& i : a.instances) {
    json one = i;
    if (!i.secret_env.empty()) one["secretEnv"] = i.secret_env;
    instances.push_back(std::move(one));
  }
  j = json{{"version", a.version}, {"instances", std::move(instances)}};
}

void from_json(const json& j, AssignmentSet& a) {
  a = AssignmentSet{};
  Get(j, "version", a.version);
  if (j.contains("specs")) {
    a.instances = DecodeSharedAssignments(j.at("instances"), j.at("specs"));
  } else {
    Get(j, "instances", a.instances);
  }
}

json EncodeSharedAssignments(const std::vector<const InstanceAssignment*>& in, json* specs,
                             bool with_secret_values) {
  *specs = json::array();
  std::vector<const InstanceAssignment*> distinct;
  json out = json::array();
  for (const InstanceAssignment* ap : in) {
    const InstanceAssignment& a = *ap;
    size_t k = 0;
    while (k < distinct.size()) {
      const InstanceAssignment& d = *distinct[k];
      // Cheap fields first; the spec comparison runs once per instance at most.
      if (d.generation == a.generation && d.kind == a.kind && d.workload == a.workload &&
          d.layers == a.layers && d.spec == a.spec &&
          (!with_secret_values || d.secret_env == a.secret_env)) {
        break;
      }
      ++k;
    }
    if (k == distinct.size()) {
      distinct.push_back(&a);
      json t = a;
      t.erase("id");
      if (with_secret_values && !a.secret_env.empty()) t["secretEnv"] = a.secret_env;
      specs->push_back(std::move(t));
    }
    out.push_back({{"id", a.id}, {"specRef", k}});
  }
  return out;
}

std::vector<InstanceAssignment> DecodeSharedAssignments(const json& instances, const json& specs) {
  std::vector<InstanceAssignment> templates;
  for (const auto& s : specs) templates.push_back(s.get<InstanceAssignment>());
  std::vector<InstanceAssignment> out;
  out.reserve(instances.size());
  for (const auto& i : instances) {
    const size_t k = GetInteger<size_t>(i.at("specRef"));
    if (k >= templates.size())
      throw json::out_of_range::create(401, "specRef " + std::to_string(k) + " out of range", &i);
    out.push_back(templates[k]);
    out.back().id = i.at("id").get<std::string>();
  }
  return out;
}

json SharedAssignmentSetJson(const AssignmentSet& a) {
  json specs;
  std::vector<const InstanceAssignment*> in;
  in.reserve(a.instances.size());
  for (const auto& i : a.instances) in.push_back(&i);
  json instances = EncodeSharedAssignments(in, &specs, /*with_secret_values=*/true);
  return json{
      {"version", a.version}, {"specs", std::move(specs)}, {"instances", std::move(instances)}};
}

void to_json(json& j, const NodeReport& r) {
  j = json{{"node", r.node}, {"instances", r.instances}};
}

void from_json(const json& j, NodeReport& r) {
  r = NodeReport{};
  Get(j, "node", r.node);
  Get(j, "instances", r.instances);
}

}  // namespace tide
