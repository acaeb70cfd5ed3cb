#include "cli/sources.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

namespace tide::cli {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Status ReadManifestFiles(const std::vector<std::string>& paths, std::istream& stdin_stream,
                         std::vector<ManifestFile>* out) {
  out->clear();
  bool stdin_used = false;
  for (const auto& path : paths) {
    if (path == "-") {
      if (stdin_used) return Status::Invalid("standard input (-) given more than once");
      stdin_used = true;
      std::string content((std::istreambuf_iterator<char>(stdin_stream)),
                          std::istreambuf_iterator<char>());
      out->push_back({"stdin", std::move(content)});
      continue;
    }
    if (Status s = ReadManifestPath(path, out); !s.ok()) return s;
  }
  return Status::Ok();
}

ApplyRequest BuildApplyRequest(const std::vector<ManifestFile>& files) {
  ApplyRequest r;
  if (files.size() == 1) {
    r.body = files[0].content;
    r.content_type = EndsWith(files[0].name, ".json") ? "application/json" : "application/yaml";
    r.headers.emplace("X-Tide-Filename", files[0].name);
    return r;
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto& f : files) list.push_back({{"name", f.name}, {"content", f.content}});
  r.body = nlohmann::json{{"files", list}}.dump();
  r.content_type = "application/vnd.tide.files+json";
  return r;
}

Status ListObjects(const ManifestFile& file, std::vector<ObjectRef>* out) {
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(file.content);
    int index = 0;
    for (const auto& doc : docs) {
      ++index;
      if (!doc || doc.IsNull()) continue;
      std::string where = file.name + ": document " + std::to_string(index);
      if (!doc.IsMap()) return Status::Invalid(where + ": not a mapping");
      if (!doc["kind"] || !doc["kind"].IsScalar()) return Status::Invalid(where + ": no kind");
      auto meta = doc["metadata"];
      if (!meta || !meta.IsMap() || !meta["name"] || !meta["name"].IsScalar()) {
        return Status::Invalid(where + ": no metadata.name");
      }
      out->push_back({doc["kind"].as<std::string>(), meta["name"].as<std::string>()});
    }
  } catch (const YAML::Exception& e) {
    return Status::Invalid(file.name + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  return Status::Ok();
}

}  // namespace tide::cli
