#include "daemon/apply.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace tide {

Status ApplyFiles(Store& store, const std::vector<ManifestFile>& files, bool dry_run,
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

Status ReadManifestPath(const std::string& path, std::vector<ManifestFile>* out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::string> paths;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec)) {
      std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json"))
        paths.push_back(e.path().string());
    }
    std::sort(paths.begin(), paths.end());
  } else if (fs::exists(path, ec)) {
    paths.push_back(path);
  } else {
    return Status::NotFound("no such file or directory: " + path);
  }
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return Status::Invalid("cannot read " + p);
    std::ostringstream ss;
    ss << in.rdbuf();
    out->push_back({p, ss.str()});
  }
  return Status::Ok();
}

}  // namespace tide
