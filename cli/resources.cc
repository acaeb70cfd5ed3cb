#include "cli/resources.h"

#include <algorithm>
#include <cctype>

#include "api/json.h"
#include "cli/format.h"

namespace tide::cli {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string IntOrDash(const json& item, const std::string& path) {
  const json& v = At(item, path);
  if (!v.is_number()) return "-";
  double d = v.get<double>();
  return d == 0 ? "-" : NumText(d);
}

std::string InstanceAge(const json& i, int64_t now_ms) {
  if (ParseTimeMs(At(i, "startedAtMs"))) return AgeOf(At(i, "startedAtMs"), now_ms);
  return AgeOf(At(i, "startedAt"), now_ms);
}

std::string EventAge(const json& e, int64_t now_ms) {
  if (ParseTimeMs(At(e, "timeMs"))) return AgeOf(At(e, "timeMs"), now_ms);
  return AgeOf(At(e, "time"), now_ms);
}

std::string UsedOfTotal(std::string used, std::string total) {
  if (used == "-" && total == "-") return "-";
  return used + "/" + total;
}

std::string NodeInstances(const json& n) {
  const json& v = At(n, "instances");
  if (v.is_array()) return std::to_string(v.size());
  if (v.is_number()) return NumText(v.get<double>());
  return "-";
}

std::string LastExit(const json& i) {
  const json& code = At(i, "lastExitCode");
  const json& sig = At(i, "lastSignal");
  if (sig.is_number() && sig.get<int>() > 0) return "signal " + std::to_string(sig.get<int>());
  if (code.is_number() && code.get<int>() >= 0) return std::to_string(code.get<int>());
  return "-";
}

void AddWorkloads(Table* t, const json& items, bool wide, int64_t now_ms) {
  for (const auto& w : items) {
    const std::optional<WorkloadStatus> st = WorkloadStatusOf(w);
    std::vector<std::string> row = {Str(w, "metadata.name"),
                                    Str(w, "kind"),
                                    st ? std::to_string(st->desired) : "-",
                                    st ? std::to_string(st->ready) : "-",
                                    st && !st->phase.empty() ? st->phase : "-",
                                    AgeOf(CreationTime(w), now_ms)};
    if (wide) {
      row.push_back(ScalingText(At(w, "spec")));
      row.push_back(GenerationText(w));
      row.push_back(LabelsText(ItemLabels(w)));
      row.push_back(Str(w, "spec.command"));
    }
    t->AddRow(std::move(row));
  }
}

}  // namespace

std::optional<Resource> ParseResource(const std::string& word) {
  std::string w = Lower(word);
  if (w == "workloads" || w == "workload" || w == "wl" || w == "wls") return Resource::kWorkloads;
  if (w == "services" || w == "service" || w == "svc") return Resource::kServices;
  if (w == "functions" || w == "function" || w == "fn" || w == "func" || w == "fns") {
    return Resource::kFunctions;
  }
  if (w == "instances" || w == "instance" || w == "inst") return Resource::kInstances;
  if (w == "nodes" || w == "node" || w == "no") return Resource::kNodes;
  if (w == "events" || w == "event" || w == "ev") return Resource::kEvents;
  if (w == "layers" || w == "layer") return Resource::kLayers;
  if (w == "secrets" || w == "secret") return Resource::kSecrets;
  return std::nullopt;
}

const char* ResourceName(Resource r) {
  switch (r) {
    case Resource::kWorkloads:
      return "workloads";
    case Resource::kServices:
      return "services";
    case Resource::kFunctions:
      return "functions";
    case Resource::kInstances:
      return "instances";
    case Resource::kNodes:
      return "nodes";
    case Resource::kEvents:
      return "events";
    case Resource::kLayers:
      return "layers";
    case Resource::kSecrets:
      return "secrets";
  }
  return "?";
}

const json& ItemLabels(const json& item) {
  const json& m = At(item, "metadata.labels");
  if (m.is_object()) return m;
  return At(item, "labels");
}

const json& CreationTime(const json& item) {
  static const char* kPaths[] = {"metadata.creationTimestamp",
                                 "metadata.createdAt",
                                 "metadata.createdAtMs",
                                 "createdAt",
                                 "createdAtMs",
                                 "status.createdAt",
                                 "status.createdAtMs",
                                 "registeredAt",
                                 "registeredAtMs"};
  for (const char* p : kPaths) {
    const json& v = At(item, p);
    if (ParseTimeMs(v)) return v;
  }
  static const json kNull;
  return kNull;
}

std::string ScalingText(const json& spec) {
  const json& a = At(spec, "autoscale");
  if (a.is_object()) {
    return Str(a, "minReplicas", "?") + "-" + Str(a, "maxReplicas", "?") + " " +
           Str(a, "metric", "concurrency") + "=" + Str(a, "target", "?");
  }
  return "fixed " + Str(spec, "replicas", "1");
}

std::string GenerationText(const json& w) {
  const std::optional<WorkloadStatus> st = WorkloadStatusOf(w);
  std::string gen =
      st && st->generation > 0 ? std::to_string(st->generation) : Str(w, "metadata.generation");
  if (st && st->observed_generation > 0 && std::to_string(st->observed_generation) != gen) {
    return gen + " (observed " + std::to_string(st->observed_generation) + ")";
  }
  return gen;
}

Table MakeTable(Resource r, const json& items, bool wide, int64_t now_ms) {
  switch (r) {
    case Resource::kWorkloads:
    case Resource::kServices:
    case Resource::kFunctions: {
      std::vector<std::string> h = {"NAME", "KIND", "DESIRED", "READY", "PHASE", "AGE"};
      if (wide) h.insert(h.end(), {"SCALING", "GENERATION", "LABELS", "COMMAND"});
      Table t(h);
      AddWorkloads(&t, items, wide, now_ms);
      return t;
    }
    case Resource::kInstances: {
      std::vector<std::string> h = {"ID",  "WORKLOAD", "NODE",     "STATE",
                                    "PID", "PORT",     "RESTARTS", "AGE"};
      if (wide) h.insert(h.end(), {"CPU", "MEMORY", "LAST-EXIT", "REASON", "LIMITS"});
      Table t(h);
      for (const auto& i : items) {
        std::vector<std::string> row = {Str(i, "id"),
                                        Str(i, "workload"),
                                        Str(i, "node"),
                                        Str(i, "state"),
                                        IntOrDash(i, "pid"),
                                        IntOrDash(i, "port"),
                                        Str(i, "restarts", "0"),
                                        InstanceAge(i, now_ms)};
        if (wide) {
          row.push_back(FormatCpu(Num(i, "cpu")));
          row.push_back(FormatBytes(Num(i, "memoryBytes")));
          row.push_back(LastExit(i));
          row.push_back(Str(i, "reason"));
          row.push_back(Str(i, "limitEnforcer"));
        }
        t.AddRow(std::move(row));
      }
      return t;
    }
    case Resource::kNodes: {
      std::vector<std::string> h = {"NAME",   "STATE",     "ADDRESS", "CPU",
                                    "MEMORY", "INSTANCES", "AGE"};
      if (wide) h.insert(h.end(), {"HEARTBEAT", "LABELS"});
      Table t(h);
      for (const auto& n : items) {
        const json& cap_cpu = At(n, "capacity.cpu");
        const json& cap_mem = At(n, "capacity.memory");
        std::string cpu = UsedOfTotal(
            At(n, "allocated.cpu").is_number() ? FormatCpu(Num(n, "allocated.cpu")) : "-",
            cap_cpu.is_number() ? FormatCpu(cap_cpu.get<double>()) : "-");
        std::string mem = UsedOfTotal(
            At(n, "allocated.memory").is_number() ? FormatBytes(Num(n, "allocated.memory")) : "-",
            cap_mem.is_number() ? FormatBytes(cap_mem.get<double>()) : "-");
        std::vector<std::string> row = {Str(n, "name"),
                                        Str(n, "state"),
                                        Str(n, "address"),
                                        cpu,
                                        mem,
                                        NodeInstances(n),
                                        AgeOf(CreationTime(n), now_ms)};
        if (wide) {
          std::string hb = AgeOf(At(n, "lastHeartbeat"), now_ms);
          row.push_back(hb == "-" ? hb : hb + " ago");
          row.push_back(LabelsText(ItemLabels(n)));
        }
        t.AddRow(std::move(row));
      }
      return t;
    }
    case Resource::kEvents: {
      std::vector<std::string> h = {"AGE", "TYPE", "REASON", "OBJECT", "MESSAGE"};
      if (wide) h = {"AGE", "TIME", "TYPE", "REASON", "OBJECT", "MESSAGE"};
      Table t(h);
      for (const auto& e : items) {
        std::vector<std::string> row = {EventAge(e, now_ms)};
        if (wide) row.push_back(Str(e, "time"));
        row.insert(row.end(),
                   {Str(e, "type"), Str(e, "reason"), Str(e, "object"), Str(e, "message", "")});
        t.AddRow(std::move(row));
      }
      return t;
    }
    case Resource::kLayers: {
      std::vector<std::string> h = {"NAME", "PATH", "USED-BY", "AGE"};
      if (wide) h.push_back("LABELS");
      Table t(h);
      for (const auto& l : items) {
        std::string name = Str(l, "metadata.name", Str(l, "name"));
        std::string path = Str(l, "spec.path", Str(l, "path"));
        std::string used = Str(l, "usedBy", Str(l, "status.usedBy"));
        std::replace(used.begin(), used.end(), ' ', ',');
        std::vector<std::string> row = {name, path, used, AgeOf(CreationTime(l), now_ms)};
        if (wide) row.push_back(LabelsText(ItemLabels(l)));
        t.AddRow(std::move(row));
      }
      return t;
    }
    case Resource::kSecrets: {  // names and keys: the server never sends values
      std::vector<std::string> h = {"NAME", "KEYS", "USED-BY", "AGE"};
      if (wide) h.insert(h.end(), {"GENERATION", "KEY-ID", "LABELS"});
      Table t(h);
      for (const auto& sec : items) {
        std::string keys = Str(sec, "spec.keys", "<none>");
        std::string used = Str(sec, "status.usedBy", "<none>");
        std::replace(keys.begin(), keys.end(), ' ', ',');
        std::replace(used.begin(), used.end(), ' ', ',');
        std::vector<std::string> row = {Str(sec, "metadata.name"), keys, used,
                                        AgeOf(CreationTime(sec), now_ms)};
        if (wide) {
          row.insert(row.end(), {Str(sec, "metadata.generation"), Str(sec, "status.keyId"),
                                 LabelsText(ItemLabels(sec))});
        }
        t.AddRow(std::move(row));
      }
      return t;
    }
  }
  return Table({});
}

std::string ObjectName(Resource r, const json& item) {
  switch (r) {
    case Resource::kWorkloads:
    case Resource::kServices:
    case Resource::kFunctions:
      return Lower(Str(item, "kind", "workload")) + "/" + Str(item, "metadata.name");
    case Resource::kInstances:
      return "instance/" + Str(item, "id");
    case Resource::kNodes:
      return "node/" + Str(item, "name");
    case Resource::kEvents:
      return "event/" + Str(item, "id");
    case Resource::kLayers:
      return "layer/" + Str(item, "metadata.name", Str(item, "name"));
    case Resource::kSecrets:
      return "secret/" + Str(item, "metadata.name");
  }
  return "";
}

}  // namespace tide::cli
