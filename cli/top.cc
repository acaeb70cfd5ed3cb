// tidectl top (resource use of workloads and nodes) and tidectl cost (instance-seconds and the
// requested resources they add up to).
#include <cmath>
#include <map>
#include <ostream>

#include "api/json.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/resources.h"
#include "cli/table.h"

namespace tide::cli {
namespace {

struct Usage {
  int instances = 0;
  double cpu = 0;
  double memory = 0;
};

std::string Percent(double used, double total) {
  if (total <= 0) return "-";
  return NumText(std::round(used / total * 100)) + "%";
}

// Instances that hold resources right now (not exited or failed).
bool Live(const json& i) {
  std::string s = Str(i, "state", "");
  return s != "Exited" && s != "Failed";
}

int TopWorkloads(Env& env) {
  json workloads;
  json instances;
  if (int rc = GetJson(env, "/v1/workloads", &workloads)) return rc;
  if (int rc = GetJson(env, "/v1/instances", &instances)) return rc;
  std::map<std::string, Usage> use;
  for (const auto& i : Items(instances)) {
    if (!Live(i)) continue;
    Usage& u = use[Str(i, "workload")];
    ++u.instances;
    u.cpu += Num(i, "cpu");
    u.memory += Num(i, "memoryBytes");
  }
  Table t({"NAME", "KIND", "INSTANCES", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"});
  for (const auto& w : Items(workloads)) {
    std::string name = Str(w, "metadata.name");
    const Usage& u = use[name];
    double req_cpu = Num(w, "spec.resources.cpu") * u.instances;
    double req_mem = Num(w, "spec.resources.memory") * u.instances;
    t.AddRow({name, Str(w, "kind"), std::to_string(u.instances), FormatCpu(u.cpu),
              Percent(u.cpu, req_cpu), FormatBytes(u.memory), Percent(u.memory, req_mem)});
  }
  *env.out << t.Render();
  return kExitOk;
}

int TopNodes(Env& env) {
  json nodes;
  json instances;
  if (int rc = GetJson(env, "/v1/nodes", &nodes)) return rc;
  if (int rc = GetJson(env, "/v1/instances", &instances)) return rc;
  std::map<std::string, Usage> use;
  for (const auto& i : Items(instances)) {
    if (!Live(i)) continue;
    Usage& u = use[Str(i, "node")];
    ++u.instances;
    u.cpu += Num(i, "cpu");
    u.memory += Num(i, "memoryBytes");
  }
  Table t({"NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%", "CPU-ALLOCATED",
           "MEMORY-ALLOCATED", "INSTANCES"});
  for (const auto& n : Items(nodes)) {
    std::string name = Str(n, "name");
    const Usage& u = use[name];
    double cap_cpu = Num(n, "capacity.cpu");
    double cap_mem = Num(n, "capacity.memory");
    t.AddRow({name, FormatCpu(u.cpu), Percent(u.cpu, cap_cpu), FormatBytes(u.memory),
              Percent(u.memory, cap_mem),
              FormatCpu(Num(n, "allocated.cpu")) + "/" + FormatCpu(cap_cpu),
              FormatBytes(Num(n, "allocated.memory")) + "/" + FormatBytes(cap_mem),
              std::to_string(u.instances)});
  }
  *env.out << t.Render();
  return kExitOk;
}

}  // namespace

int RunTop(Env& env, const std::string& what) {
  FillDefaults(&env);
  auto r = ParseResource(what);
  if (r == Resource::kWorkloads) return TopWorkloads(env);
  if (r == Resource::kNodes) return TopNodes(env);
  return ReportError(env, "cannot top \"" + what + "\" (want workloads or nodes)", kExitUsage);
}

int RunCost(Env& env, const std::string& name) {
  FillDefaults(&env);
  json items = json::array();
  if (name.empty()) {
    json list;
    if (int rc = GetJson(env, "/v1/workloads", &list)) return rc;
    items = Items(list);
  } else {
    json w;
    if (int rc = GetJson(env, "/v1/workloads/" + UrlEncode(name), &w)) return rc;
    items.push_back(w);
  }
  // Requested resources over time: instance-seconds x requested cpu (cpu-seconds) and
  // x requested memory (GiB-seconds). USED-CPU is measured cpu time when the server reports it.
  Table t({"NAME", "KIND", "INSTANCE-SECONDS", "CPU-SECONDS", "GIB-SECONDS", "USED-CPU-SECONDS"});
  double total_is = 0, total_cpu = 0, total_gib = 0, total_used = 0;
  bool any_used = false;
  for (const auto& w : items) {
    const std::optional<WorkloadStatus> st = WorkloadStatusOf(w);
    const json& used = At(w, "status.cpuSecondsTotal");
    std::string is_text = "-", cpu_text = "-", gib_text = "-", used_text = "-";
    if (st) {
      double s = st->instance_seconds;
      double cpu = s * Num(w, "spec.resources.cpu");
      double gib = s * Num(w, "spec.resources.memory") / (1024.0 * 1024 * 1024);
      is_text = NumText(std::round(s));
      cpu_text = NumText(std::round(cpu * 10) / 10);
      gib_text = NumText(std::round(gib * 10) / 10);
      total_is += s;
      total_cpu += cpu;
      total_gib += gib;
    }
    if (used.is_number()) {
      used_text = NumText(std::round(used.get<double>() * 10) / 10);
      total_used += used.get<double>();
      any_used = true;
    }
    t.AddRow({Str(w, "metadata.name"), Str(w, "kind"), is_text, cpu_text, gib_text, used_text});
  }
  if (items.size() > 1) {
    t.AddRow({"TOTAL", "", NumText(std::round(total_is)), NumText(std::round(total_cpu * 10) / 10),
              NumText(std::round(total_gib * 10) / 10),
              any_used ? NumText(std::round(total_used * 10) / 10) : "-"});
  }
  *env.out << t.Render();
  return kExitOk;
}

}  // namespace tide::cli
