#include "cli/sources.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

namespace tide::cli {
namespace {

namespace fs = std::filesystem;

Status ReadFile(const fs::path& p, const std::string& name, std::vector<ManifestFile>* out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Status::Invalid("cannot read " + name);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  out->push_back({name, std::move(content)});
  return Status::Ok();
}

bool IsManifestName(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

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
    std::error_code ec;
    fs::path p(path);
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) return Status::NotFound("the path \"" + path + "\" does not exist");
    if (fs::is_directory(st)) {
      std::vector<fs::path> files;
      for (const auto& entry : fs::directory_iterator(p, ec)) {
        if (entry.is_regular_file(ec) && IsManifestName(entry.path()))
          files.push_back(entry.path());
      }
      if (ec) return Status::Invalid("cannot list " + path + ": " + ec.message());
      std::sort(files.begin(), files.end(),
                [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
      if (files.empty()) {
        return Status::Invalid("no *.yaml, *.yml or *.json files in directory " + path);
      }
      for (const auto& f : files) {
        std::string name = (p / f.filename()).string();
        Status s = ReadFile(f, name, out);
        if (!s.ok()) return s;
      }
      continue;
    }
    Status s = ReadFile(p, path, out);
    if (!s.ok()) return s;
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
