// Apply planning: the one place an apply batch is checked and each object's outcome decided,
// shared by both stores (store.h's SQLite, etcd_store.h) so they refuse and answer alike.
//
// Pure functions (no I/O); thread-safe.
#pragma once

#include <string>
#include <vector>

#include "daemon/store/object_store.h"

namespace tide {

// "workload" (Service, Function: one namespace) or "layer".
const char* StoreNamespace(Kind k);

// Every object is named and no (namespace, name) appears twice; Invalid naming the first problem.
Status CheckApplyBatch(const std::vector<Object>& objs);

// What applying `o` over what is stored does.
struct PlannedWrite {
  ApplyResult result;        // kind, name, action (created | configured | unchanged), generation
  std::string ns;            // StoreNamespace(o.kind)
  std::string canonical;     // the canonical JSON to store (keys sorted, defaults filled in)
  bool clear_scale = false;  // configured: replicas, autoscale or kind changed, drop the override
};
// `old` is the stored object, nullptr when absent.
PlannedWrite PlanObject(const Object& o, const StoredObject* old);

// Every workload's spec.layers names a layer in `layers`; Invalid naming the first that does not.
Status CheckLayerRefs(const std::vector<StoredObject>& layers,
                      const std::vector<StoredObject>& workloads);

}  // namespace tide
