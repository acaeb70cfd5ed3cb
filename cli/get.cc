// tidectl get: lists or shows one resource, as a table, JSON, YAML or names; --watch re-lists.
#include <ostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/resources.h"

namespace tide::cli {
namespace {

using Selector = std::vector<std::pair<std::string, std::string>>;

const char* KindFilter(Resource r) {
  if (r == Resource::kServices) return "Service";
  if (r == Resource::kFunctions) return "Function";
  return "";
}

// What one fetch produced: the items to render, and the raw value for -o json|yaml.
struct Fetched {
  json items = json::array();
  json raw;
};

int NotFound(Env& env, const std::string& what, const std::string& name) {
  return ReportError(env, what + " \"" + name + "\" not found", kExitFailed);
}

int FetchWorkloads(Env& env, Resource r, const std::string& name, const Selector& sel, Fetched* f) {
  std::string kind = KindFilter(r);
  if (!name.empty()) {
    json obj;
    if (int rc = GetJson(env, "/v1/workloads/" + UrlEncode(name), &obj)) return rc;
    if (!kind.empty() && Str(obj, "kind") != kind) {
      return NotFound(env, r == Resource::kServices ? "service" : "function", name);
    }
    f->items.push_back(obj);
    f->raw = obj;
    return kExitOk;
  }
  std::vector<std::pair<std::string, std::string>> params = {{"kind", kind}};
  for (const auto& [k, v] : sel) params.emplace_back("label", k + "=" + v);
  json list;
  if (int rc = GetJson(env, "/v1/workloads" + Query(params), &list)) return rc;
  for (const auto& w : Items(list)) {
    if (!kind.empty() && Str(w, "kind") != kind) continue;
    if (!MatchesSelector(ItemLabels(w), sel)) continue;
    f->items.push_back(w);
  }
  f->raw = json{{"items", f->items}};
  return kExitOk;
}

int FetchByListing(Env& env, const std::string& path, const char* what, const char* id_field,
                   const std::string& name, const Selector& sel, Fetched* f) {
  json list;
  if (int rc = GetJson(env, path, &list)) return rc;
  for (const auto& item : Items(list)) {
    if (!name.empty()) {
      std::string id = Str(item, id_field, Str(item, "metadata.name"));
      if (id != name) continue;
    }
    if (!MatchesSelector(ItemLabels(item), sel)) continue;
    f->items.push_back(item);
  }
  if (!name.empty()) {
    if (f->items.empty()) return NotFound(env, what, name);
    f->raw = f->items[0];
  } else {
    f->raw = json{{"items", f->items}};
  }
  return kExitOk;
}

int Fetch(Env& env, Resource r, const std::string& name, const Selector& sel, Fetched* f) {
  *f = Fetched{};
  switch (r) {
    case Resource::kWorkloads:
    case Resource::kServices:
    case Resource::kFunctions:
      return FetchWorkloads(env, r, name, sel, f);
    case Resource::kInstances:
      return FetchByListing(env, "/v1/instances", "instance", "id", name, sel, f);
    case Resource::kNodes: {
      if (name.empty()) return FetchByListing(env, "/v1/nodes", "node", "name", "", sel, f);
      json obj;
      if (int rc = GetJson(env, "/v1/nodes/" + UrlEncode(name), &obj)) return rc;
      f->items.push_back(obj);
      f->raw = obj;
      return kExitOk;
    }
    case Resource::kEvents: {
      json list;
      if (int rc = GetJson(env, "/v1/events" + Query({{"workload", name}}), &list)) return rc;
      f->items = Items(list);
      f->raw = json{{"items", f->items}};
      return kExitOk;
    }
    case Resource::kLayers:
      return FetchByListing(env, "/v1/layers", "layer", "name", name, sel, f);
    case Resource::kSecrets:
      return FetchByListing(env, "/v1/secrets", "secret", "name", name, sel, f);
  }
  return kExitFailed;
}

constexpr const char* kRedactedNote =
    "# Secret values are never shown: spec.keys names the keys. Applying this back is refused;\n"
    "# give spec.data: {KEY: VALUE} to change a Secret.\n";

// The text to print for `f`; ages relative to now_ms.
std::string Render(Resource r, const Fetched& f, const std::string& output, int64_t now_ms) {
  if (output == "json") return f.raw.dump(2) + "\n";
  if (output == "yaml") {
    // Secrets come without values: say so where someone might save the output to apply it.
    return (r == Resource::kSecrets ? std::string(kRedactedNote) : "") + JsonToYaml(f.raw);
  }
  if (output == "name") {
    std::string s;
    for (const auto& item : f.items) s += ObjectName(r, item) + "\n";
    return s;
  }
  return MakeTable(r, f.items, output == "wide", now_ms).Render();
}

}  // namespace

int RunGet(Env& env, const GetOptions& opt) {
  FillDefaults(&env);
  auto r = ParseResource(opt.resource);
  if (!r) {
    return ReportError(env,
                       "unknown resource type \"" + opt.resource +
                           "\" (want workloads, services, functions, instances, nodes, events, "
                           "layers or secrets)",
                       kExitUsage);
  }
  if (!opt.output.empty() && opt.output != "wide" && opt.output != "json" && opt.output != "yaml" &&
      opt.output != "name") {
    return ReportError(
        env, "unknown output format \"" + opt.output + "\" (want wide, json, yaml or name)",
        kExitUsage);
  }
  Selector sel;
  std::string error;
  if (!ParseSelector(opt.labels, &sel, &error)) return ReportError(env, error, kExitUsage);
  if (!sel.empty() && (*r == Resource::kInstances || *r == Resource::kEvents)) {
    return ReportError(env, std::string("-l does not apply to ") + ResourceName(*r), kExitUsage);
  }

  std::string last_key;
  for (bool first = true;; first = false) {
    Fetched f;
    if (int rc = Fetch(env, *r, opt.name, sel, &f)) return rc;
    bool table = opt.output.empty() || opt.output == "wide";
    if (!opt.watch) {
      if (table && f.items.empty()) {
        *env.err << "No " << ResourceName(*r) << " found.\n";
        return kExitOk;
      }
      *env.out << Render(*r, f, opt.output, env.clock->WallMs());
      env.out->flush();
      return kExitOk;
    }
    // Watching: print again only when what is shown changed (ages aside).
    std::string key = Render(*r, f, opt.output, 0);
    if (first || key != last_key) {
      if (!first) *env.out << "\n";
      *env.out << Render(*r, f, opt.output, env.clock->WallMs());
      env.out->flush();
      last_key = key;
    }
    if (env.stop()) return kExitOk;
    env.sleep(env.poll_interval_ms);
    if (env.stop()) return kExitOk;
  }
}

}  // namespace tide::cli
