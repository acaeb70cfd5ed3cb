// Moving a Tide cluster's desired state from one store to another (`tided --export FILE`,
// `tided --import FILE`; docs/ha.md "Moving from SQLite to etcd").
//
// The file is JSON: {"format": "tide-export", "version": 1, "exportedMs": N, "objects": [...]},
// each object as the stores keep it: {"object", "generation", "created_ms", "updated_ms",
// "scale_replicas"} (workloads and layers; Secrets are never written: see ExportStore).
//
// Import is all or nothing: the whole file is read and checked first (format, every object's
// kind and name, duplicates, layer references, numbers), then written in one store transaction
// (ObjectStore::ImportObjects) that keeps generations, times and scale overrides. A target that
// already holds objects is refused unless `replace`. Hostile or corrupt input gets an error
// naming the problem (and the object's index) and changes nothing.
//
// Thread-safety: stateless; the store's own rules apply.
#pragma once

#include <string>
#include <vector>

#include "api/json.h"
#include "daemon/store/object_store.h"

namespace tide {

// The JSON record of a stored object, as the etcd store and export files hold it.
json StoredObjectToJson(const StoredObject& so);
// Its inverse; Invalid naming `where` and the field when the record does not decode.
Status StoredObjectFromJson(const json& j, const std::string& where, StoredObject* out);

// Writes every workload and layer of `store` to `path` (mode 0600, replaced atomically).
// Refused (Invalid, naming them) when the store holds Secrets: the etcd store cannot hold them
// yet, and an export file would carry them unsealed. *summary: what was written.
Status ExportStore(ObjectStore& store, const std::string& path, std::string* summary);

// Reads and checks `text` (an export file's contents) into objects, touching no store.
Status ParseExport(const std::string& text, std::vector<StoredObject>* out);

// ParseExport of the file at `path`, then ObjectStore::ImportObjects. *summary: what was written.
Status ImportStore(ObjectStore& store, const std::string& path, bool replace, std::string* summary);

}  // namespace tide
