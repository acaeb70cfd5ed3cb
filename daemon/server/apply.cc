#include "daemon/server/apply.h"

#include <set>

namespace tide {

Status ApplyFiles(ObjectStore& store, const std::vector<ManifestFile>& files, bool dry_run,
                  std::vector<ApplyResult>* results, std::vector<FieldError>* errors) {
  ParseResult parsed;
  for (const auto& f : files) AppendParseResult(&parsed, ParseManifests(f.content, f.name));
  std::vector<StoredObject> layers;
  store.ListLayers(&layers);
  std::set<std::string> known;
  for (const auto& l : layers) known.insert(l.object.metadata.name);
  *errors = parsed.errors;
  ValidateBatch(parsed, known, errors);
  if (!errors->empty()) {
    return Status::Invalid(std::to_string(errors->size()) +
                           " error(s) in manifests; nothing applied");
  }
  if (parsed.objects.empty()) return Status::Invalid("no objects to apply");
  return store.Apply(parsed.objects, dry_run, results);
}

}  // namespace tide
