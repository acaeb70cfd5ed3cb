#include "daemon/store/migrate.h"

#include <fstream>
#include <set>
#include <sstream>

#include "api/clock.h"
#include "api/manifest.h"
#include "api/private_file.h"
#include "daemon/store/apply_plan.h"

namespace tide {
namespace {

constexpr const char* kFormat = "tide-export";
constexpr int kVersion = 1;
constexpr size_t kMaxFileBytes = 256u << 20;  // far above any real cluster's objects

}  // namespace

json StoredObjectToJson(const StoredObject& so) {
  json j = {{"object", so.object},
            {"generation", so.generation},
            {"created_ms", so.created_ms},
            {"updated_ms", so.updated_ms}};
  j["scale_replicas"] = so.scale_replicas ? json(*so.scale_replicas) : json();
  return j;
}

Status StoredObjectFromJson(const json& j, const std::string& where, StoredObject* out) {
  try {
    if (!j.is_object()) return Status::Invalid(where + ": not a JSON object");
    for (const char* f : {"object", "generation", "created_ms", "updated_ms"}) {
      if (!j.contains(f)) return Status::Invalid(where + ": missing \"" + f + "\"");
    }
    if (!j.at("object").is_object())
      return Status::Invalid(where + ": \"object\" is not an object");
    out->object = j.at("object").get<Object>();
    out->generation = j.at("generation").get<int64_t>();
    out->created_ms = j.at("created_ms").get<int64_t>();
    out->updated_ms = j.at("updated_ms").get<int64_t>();
    out->scale_replicas.reset();
    if (j.contains("scale_replicas") && !j["scale_replicas"].is_null()) {
      out->scale_replicas = j["scale_replicas"].get<int>();
    }
  } catch (const std::exception& e) {
    return Status::Invalid(where + ": " + e.what());
  }
  return Status::Ok();
}

Status ExportStore(ObjectStore& store, const std::string& path, std::string* summary) {
  std::vector<SecretInfo> secrets;
  Status st = store.ListSecrets(&secrets);
  if (!st.ok()) return st;
  if (!secrets.empty()) {
    std::string names;
    for (const auto& s : secrets) names += (names.empty() ? "" : ", ") + s.name;
    return Status::Invalid(
        "export: the store holds " + std::to_string(secrets.size()) + " Secret(s) (" + names +
        "): the etcd store does not seal secrets yet and an export file would carry them in "
        "clear; delete them (tidectl delete secret NAME) and keep their values elsewhere first");
  }
  std::vector<StoredObject> workloads, layers;
  st = store.List(std::nullopt, &workloads);
  if (st.ok()) st = store.ListLayers(&layers);
  if (!st.ok()) return st;
  json objs = json::array();
  for (const auto* list : {&layers, &workloads}) {
    for (const auto& so : *list) objs.push_back(StoredObjectToJson(so));
  }
  json file = {{"format", kFormat},
               {"version", kVersion},
               {"exportedMs", SystemClock::Get().WallMs()},
               {"objects", objs}};
  st = WritePrivateFile(path, file.dump(1) + "\n");
  if (!st.ok()) return Status::Invalid("export: " + path + ": " + st.message());
  *summary = "exported " + std::to_string(workloads.size()) + " workload(s) and " +
             std::to_string(layers.size()) + " layer(s) to " + path;
  return Status::Ok();
}

Status ParseExport(const std::string& text, std::vector<StoredObject>* out) {
  out->clear();
  json file;
  try {
    file = json::parse(text);
  } catch (const std::exception& e) {
    return Status::Invalid(std::string("not JSON: ") + e.what());
  }
  if (!file.is_object() || file.value("format", json()) != kFormat) {
    return Status::Invalid("not a Tide export: want {\"format\": \"tide-export\", ...}");
  }
  if (file.value("version", json()) != kVersion) {
    return Status::Invalid("export version " + file.value("version", json()).dump() +
                           " is not one this tided reads (" + std::to_string(kVersion) + ")");
  }
  if (!file.contains("objects") || !file["objects"].is_array()) {
    return Status::Invalid("\"objects\" is missing or not a list");
  }
  std::vector<Object> batch;
  std::vector<StoredObject> layers, workloads;
  for (size_t i = 0; i < file["objects"].size(); ++i) {
    const std::string where = "objects[" + std::to_string(i) + "]";
    StoredObject so;
    Status st = StoredObjectFromJson(file["objects"][i], where, &so);
    if (!st.ok()) return st;
    // The object is user input here: it goes through the manifests' strict validation (JSON is
    // YAML), as an apply would, and the object stored is the one that validation read.
    ParseResult parsed = ParseManifests(file["objects"][i]["object"].dump(), where + ".object");
    if (!parsed.ok()) return Status::Invalid(FormatFieldError(parsed.errors.front()));
    if (parsed.objects.size() != 1) return Status::Invalid(where + ": want exactly one object");
    so.object = std::move(parsed.objects.front());
    const Object& o = so.object;
    if (o.kind == Kind::kSecret) {
      return Status::Invalid(where + ": kind Secret: " + ObjectStore::kSecretsNeedSqlite);
    }
    if (!IsDnsLabel(o.metadata.name)) {
      return Status::Invalid(where + ": metadata.name '" + o.metadata.name +
                             "' is not a DNS label ([a-z0-9-], 1-63, letter first)");
    }
    if (so.generation < 1 || so.created_ms < 0 || so.updated_ms < so.created_ms) {
      return Status::Invalid(where + " (" + o.metadata.name +
                             "): want generation >= 1 and 0 <= created_ms <= updated_ms");
    }
    if (so.scale_replicas && *so.scale_replicas < 0) {
      return Status::Invalid(where + " (" + o.metadata.name + "): scale_replicas below 0");
    }
    batch.push_back(o);
    (o.kind == Kind::kLayer ? layers : workloads).push_back(so);
    out->push_back(std::move(so));
  }
  Status st = CheckApplyBatch(batch);
  if (st.ok()) st = CheckLayerRefs(layers, workloads);
  if (!st.ok()) return Status::Invalid(st.message());
  return Status::Ok();
}

Status ImportStore(ObjectStore& store, const std::string& path, bool replace,
                   std::string* summary) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Invalid("import: cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > kMaxFileBytes) {
    return Status::Invalid("import: " + path + " is larger than 256 MiB: not an export");
  }
  std::vector<StoredObject> objs;
  Status st = ParseExport(ss.str(), &objs);
  if (!st.ok()) return Status::Invalid("import: " + path + ": " + st.message());
  st = store.ImportObjects(objs, replace);
  if (!st.ok()) return st;
  *summary = "imported " + std::to_string(objs.size()) + " object(s) from " + path;
  return Status::Ok();
}

}  // namespace tide
