// tidectl describe workload|node|secret NAME: a human-readable report in sections.
#include <ostream>
#include <sstream>

#include "api/json.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/resources.h"
#include "cli/table.h"

namespace tide::cli {
namespace {

// "Key:" padded so that values line up, like kubectl describe.
void Field(std::ostream& out, const std::string& key, const std::string& value,
           const std::string& indent = "") {
  std::string k = indent + key + ":";
  out << k;
  const size_t width = 24;
  out << std::string(k.size() < width ? width - k.size() : 1, ' ') << value << "\n";
}

std::string ProbeText(const json& p) {
  if (!p.is_object()) return "<none>";
  std::string kind;
  if (p.contains("httpGet")) {
    kind = "http-get " + Str(p, "httpGet");
  } else if (p.contains("exec")) {
    kind = "exec [" + Str(p, "exec") + "]";
  } else {
    kind = "tcp $PORT";
  }
  return kind + " period=" + FormatSeconds(Num(p, "periodSeconds", 5)) +
         " timeout=" + FormatSeconds(Num(p, "timeoutSeconds", 1)) +
         " failure-threshold=" + Str(p, "failureThreshold", "3");
}

std::string MapText(const json& m) { return LabelsText(m, "<none>"); }

// env as K=V, a secret reference as K=<secret NAME/KEY> (the server never sends its value).
std::string EnvText(const json& env) {
  if (!env.is_object() || env.empty()) return "<none>";
  std::string r;
  for (auto it = env.begin(); it != env.end(); ++it) {
    if (!r.empty()) r += ',';
    const json& v = it.value();
    r += it.key() + "=";
    if (v.is_string()) {
      r += v.get<std::string>();
    } else {
      r += "<secret " + Str(v, "secretRef.name") + "/" + Str(v, "secretRef.key") + ">";
    }
  }
  return r;
}

std::string InstanceLastExit(const json& i) {
  const json& code = At(i, "lastExitCode");
  const json& sig = At(i, "lastSignal");
  if (sig.is_number() && sig.get<int>() > 0) return "signal " + std::to_string(sig.get<int>());
  if (code.is_number() && code.get<int>() >= 0) return std::to_string(code.get<int>());
  return "-";
}

// What enforces the memory limit, then the task-count limit when the agent reported one:
// "cgroup1, pids cgroup1".
std::string Limits(const json& i) {
  std::string s = Str(i, "limitEnforcer");
  std::string pids = Str(i, "pidsEnforcer", "");
  return pids.empty() ? s : s + ", pids " + pids;
}

void InstancesSection(std::ostream& out, const json& instances, bool show_workload,
                      int64_t now_ms) {
  out << "Instances:\n";
  if (!instances.is_array() || instances.empty()) {
    out << "  <none>\n";
    return;
  }
  std::vector<std::string> h = {"ID"};
  if (show_workload) h.push_back("WORKLOAD");
  h.insert(h.end(), {"NODE", "STATE", "PID", "PORT", "RESTARTS", "LAST-EXIT", "REASON", "CPU",
                     "MEMORY", "LIMITS", "AGE"});
  Table t(h);
  for (const auto& i : instances) {
    std::vector<std::string> row = {Str(i, "id")};
    if (show_workload) row.push_back(Str(i, "workload"));
    std::string reason = Str(i, "reason");
    std::string msg = Str(i, "message", "");
    if (!msg.empty()) reason += " (" + msg + ")";
    const json& started =
        ParseTimeMs(At(i, "startedAtMs")) ? At(i, "startedAtMs") : At(i, "startedAt");
    row.insert(row.end(),
               {Str(i, "node"), Str(i, "state"), Str(i, "pid"), Str(i, "port"),
                Str(i, "restarts", "0"), InstanceLastExit(i), reason, FormatCpu(Num(i, "cpu")),
                FormatBytes(Num(i, "memoryBytes")), Limits(i), AgeOf(started, now_ms)});
    t.AddRow(std::move(row));
  }
  out << t.Render("  ");
}

void EventsSection(std::ostream& out, const json& events, int64_t now_ms) {
  out << "Events:\n";
  if (!events.is_array() || events.empty()) {
    out << "  <none>\n";
    return;
  }
  Table t({"AGE", "TYPE", "REASON", "OBJECT", "MESSAGE"});
  // The most recent 20, oldest first.
  size_t start = events.size() > 20 ? events.size() - 20 : 0;
  for (size_t k = start; k < events.size(); ++k) {
    const json& e = events[k];
    const json& t_ms = ParseTimeMs(At(e, "timeMs")) ? At(e, "timeMs") : At(e, "time");
    t.AddRow({AgeOf(t_ms, now_ms), Str(e, "type"), Str(e, "reason"), Str(e, "object"),
              Str(e, "message", "")});
  }
  out << t.Render("  ");
}

int DescribeWorkload(Env& env, const std::string& name) {
  json w;
  if (int rc = GetJson(env, "/v1/workloads/" + UrlEncode(name), &w)) return rc;
  json events;
  if (int rc = GetJson(env, "/v1/events" + Query({{"workload", name}}), &events)) return rc;
  json instances = At(w, "instances");
  if (!instances.is_array()) {
    json list;
    if (int rc = GetJson(env, "/v1/instances" + Query({{"workload", name}}), &list)) return rc;
    instances = Items(list);
  }
  int64_t now = env.clock->WallMs();
  std::ostringstream out;
  const json& spec = At(w, "spec");
  Field(out, "Name", Str(w, "metadata.name"));
  Field(out, "Kind", Str(w, "kind"));
  Field(out, "Labels", MapText(ItemLabels(w)));
  Field(out, "Created", Str(CreationTime(w), "", "-"));
  Field(out, "Generation", GenerationText(w));
  out << "Spec:\n";
  Field(out, "Command", Str(spec, "command"), "  ");
  Field(out, "Working Dir", Str(spec, "workingDir", "<default>"), "  ");
  Field(out, "Env", EnvText(At(spec, "env")), "  ");
  Field(out, "Scaling", ScalingText(spec), "  ");
  if (At(spec, "autoscale").is_object()) {
    const json& a = At(spec, "autoscale");
    Field(out, "Windows",
          "stable " + FormatSeconds(Num(a, "stableWindowSeconds", 60)) + ", panic " +
              FormatSeconds(Num(a, "panicWindowSeconds", 6)) + " at " +
              Str(a, "panicThreshold", "2") + "x",
          "  ");
  }
  std::string conc = Str(spec, "concurrency", "0");
  Field(out, "Concurrency", conc == "0" ? "unlimited" : conc, "  ");
  Field(out, "Timeout", FormatSeconds(Num(spec, "timeoutSeconds", 30)), "  ");
  if (Str(w, "kind") == "Function") {
    Field(out, "Idle Timeout",
          Str(spec, "idleTimeoutSeconds", "") == "auto"
              ? "auto (adaptive keep-alive)"
              : FormatSeconds(Num(spec, "idleTimeoutSeconds", 60)),
          "  ");
    std::string triggers;
    for (const auto& t : At(spec, "triggers").is_array() ? At(spec, "triggers") : json::array()) {
      triggers += (triggers.empty() ? "" : ", ") + std::string("schedule \"") +
                  Str(t, "schedule", "") + "\"";
    }
    Field(out, "Triggers", triggers.empty() ? "<none>" : triggers, "  ");
  }
  std::string cpu = At(spec, "resources.cpu").is_number() && Num(spec, "resources.cpu") > 0
                        ? FormatCpu(Num(spec, "resources.cpu"))
                        : "-";
  std::string mem = Num(spec, "resources.memory") > 0 ? FormatBytes(Num(spec, "resources.memory"))
                                                      : Str(spec, "resources.memory", "-");
  std::string pids = !At(spec, "resources.pids").is_number() ? "-"
                     : Num(spec, "resources.pids") == 0      ? "unlimited"
                                                             : Str(spec, "resources.pids");
  Field(out, "Resources", "cpu " + cpu + ", memory " + mem + ", pids " + pids, "  ");
  Field(out, "Readiness", ProbeText(At(spec, "readiness")), "  ");
  Field(out, "Liveness", ProbeText(At(spec, "liveness")), "  ");
  Field(out, "Restart Policy", Str(spec, "restartPolicy", "Always"), "  ");
  Field(out, "Node Selector", MapText(At(spec, "nodeSelector")), "  ");
  Field(out, "Layers", Str(spec, "layers", "<none>"), "  ");
  Field(out, "Rollout",
        "maxSurge " + Str(spec, "rollout.maxSurge", "1") + ", maxUnavailable " +
            Str(spec, "rollout.maxUnavailable", "0"),
        "  ");
  out << "Status:\n";
  const WorkloadStatus st = WorkloadStatusOf(w).value_or(WorkloadStatus{});
  auto text = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  Field(out, "Phase", text(st.phase), "  ");
  Field(out, "Replicas",
        std::to_string(st.desired) + " desired, " + std::to_string(st.ready) + " ready", "  ");
  Field(out, "Instance Seconds", NumText(st.instance_seconds), "  ");
  out << "Conditions:\n";
  if (st.conditions.empty()) {
    out << "  <none>\n";
  } else {
    Table t({"TYPE", "STATUS", "REASON", "MESSAGE"});
    for (const auto& c : st.conditions) {
      t.AddRow({text(c.type), text(c.status), text(c.reason), c.message});
    }
    out << t.Render("  ");
  }
  InstancesSection(out, instances, false, now);
  EventsSection(out, Items(events), now);
  *env.out << out.str();
  return kExitOk;
}

int DescribeSecret(Env& env, const std::string& name) {
  json sec;
  if (int rc = GetJson(env, "/v1/secrets/" + UrlEncode(name), &sec)) return rc;
  json events;
  if (int rc = GetJson(env, "/v1/events", &events)) return rc;
  json mine = json::array();
  for (const auto& e : Items(events)) {
    if (Str(e, "object", "") == "secret/" + name) mine.push_back(e);
  }
  int64_t now = env.clock->WallMs();
  std::ostringstream out;
  Field(out, "Name", Str(sec, "metadata.name"));
  Field(out, "Labels", MapText(ItemLabels(sec)));
  Field(out, "Created", Str(sec, "metadata.creationTimestamp"));
  Field(out, "Generation", Str(sec, "metadata.generation"));
  Field(out, "Sealed With Key", Str(sec, "status.keyId"));
  Field(out, "Used By", Str(sec, "status.usedBy", "<none>"));
  out << "Data (values are never shown):\n";
  const json& keys = At(sec, "spec.keys");
  if (!keys.is_array() || keys.empty()) out << "  <none>\n";
  for (const auto& k : keys.is_array() ? keys : json::array()) {
    out << "  " << (k.is_string() ? k.get<std::string>() : k.dump()) << "\n";
  }
  EventsSection(out, mine, now);
  *env.out << out.str();
  return kExitOk;
}

int DescribeNode(Env& env, const std::string& name) {
  json n;
  if (int rc = GetJson(env, "/v1/nodes/" + UrlEncode(name), &n)) return rc;
  json instances;
  if (int rc = GetJson(env, "/v1/instances" + Query({{"node", name}}), &instances)) return rc;
  json events;
  if (int rc = GetJson(env, "/v1/events", &events)) return rc;
  json mine = json::array();
  for (const auto& e : Items(events)) {
    if (Str(e, "object", "") == "node/" + name) mine.push_back(e);
  }
  int64_t now = env.clock->WallMs();
  std::ostringstream out;
  Field(out, "Name", Str(n, "name"));
  Field(out, "State", Str(n, "state"));
  Field(out, "Address", Str(n, "address"));
  if (At(n, "agentUrl").is_string()) Field(out, "Agent URL", Str(n, "agentUrl"));
  Field(out, "Labels", MapText(ItemLabels(n)));
  std::string hb = AgeOf(At(n, "lastHeartbeat"), now);
  Field(out, "Last Heartbeat", Str(n, "lastHeartbeat") + (hb == "-" ? "" : " (" + hb + " ago)"));
  out << "Capacity:\n";
  Field(out, "CPU", FormatCpu(Num(n, "capacity.cpu")), "  ");
  Field(out, "Memory", FormatBytes(Num(n, "capacity.memory")), "  ");
  out << "Allocated:\n";
  Field(out, "CPU", FormatCpu(Num(n, "allocated.cpu")), "  ");
  Field(out, "Memory", FormatBytes(Num(n, "allocated.memory")), "  ");
  InstancesSection(out, Items(instances), true, now);
  EventsSection(out, mine, now);
  *env.out << out.str();
  return kExitOk;
}

}  // namespace

int RunDescribe(Env& env, const std::string& resource, const std::string& name) {
  FillDefaults(&env);
  auto r = ParseResource(resource);
  if (r == Resource::kWorkloads || r == Resource::kServices || r == Resource::kFunctions) {
    return DescribeWorkload(env, name);
  }
  if (r == Resource::kNodes) return DescribeNode(env, name);
  if (r == Resource::kSecrets) return DescribeSecret(env, name);
  return ReportError(env, "cannot describe \"" + resource + "\" (want workload, node or secret)",
                     kExitUsage);
}

}  // namespace tide::cli
