#include "daemon/store/apply_plan.h"

#include <set>
#include <utility>

#include "api/json.h"

namespace tide {

const char* StoreNamespace(Kind k) {
  return k == Kind::kLayer ? "layer" : k == Kind::kSecret ? "secret" : "workload";
}

Status CheckApplyBatch(const std::vector<Object>& objs) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& o : objs) {
    if (o.metadata.name.empty()) {
      return Status::Invalid(std::string("a ") + KindName(o.kind) + " has no metadata.name");
    }
    if (!seen.insert({StoreNamespace(o.kind), o.metadata.name}).second) {
      return Status::Invalid(std::string(StoreNamespace(o.kind)) + " " + o.metadata.name +
                             " appears more than once in one apply");
    }
  }
  return Status::Ok();
}

PlannedWrite PlanObject(const Object& o, const StoredObject* old) {
  PlannedWrite w;
  w.ns = StoreNamespace(o.kind);
  const json new_json = o;
  w.canonical = new_json.dump();
  w.result = ApplyResult{o.kind, o.metadata.name, "", 0};
  if (old == nullptr) {
    w.result.action = "created";
    w.result.generation = 1;
    return w;
  }
  const json old_json = old->object;
  if (old_json.dump() == w.canonical) {
    w.result.action = "unchanged";
    w.result.generation = old->generation;
    return w;
  }
  const bool kind_changed = old->object.kind != o.kind;
  const bool spec_changed = kind_changed || old_json.at("spec") != new_json.at("spec");
  w.clear_scale = kind_changed;
  if (o.kind != Kind::kLayer && !kind_changed) {
    const json& os = old_json.at("spec");
    const json& ns_spec = new_json.at("spec");
    w.clear_scale = os.value("replicas", json()) != ns_spec.value("replicas", json()) ||
                    os.value("autoscale", json()) != ns_spec.value("autoscale", json());
  }
  w.result.action = "configured";
  w.result.generation = old->generation + (spec_changed ? 1 : 0);
  return w;
}

Status CheckLayerRefs(const std::vector<StoredObject>& layers,
                      const std::vector<StoredObject>& workloads) {
  std::set<std::string> names;
  for (const auto& l : layers) names.insert(l.object.metadata.name);
  for (const auto& w : workloads) {
    for (const auto& ref : w.object.spec.layers) {
      if (names.count(ref) == 0) {
        return Status::Invalid("workload " + w.object.metadata.name + " uses layer " + ref +
                               ", which does not exist; apply the Layer too");
      }
    }
  }
  return Status::Ok();
}

}  // namespace tide
