// Apply: the one path from manifest text to the store, shared by POST /v1/apply and
// `tided --manifests`. Parses every file, validates the whole batch (positions name the file),
// then applies it in one store transaction: all or nothing.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "api/manifest.h"
#include "api/manifest_files.h"
#include "api/status.h"
#include "daemon/store/object_store.h"

namespace tide {

// On invalid manifests returns Invalid with *errors filled (one entry per problem); on success
// *results has one entry per object, in order.
Status ApplyFiles(ObjectStore& store, const std::vector<ManifestFile>& files, bool dry_run,
                  std::vector<ApplyResult>* results, std::vector<FieldError>* errors);

}  // namespace tide
