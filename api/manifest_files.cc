#include "api/manifest_files.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "api/manifest.h"

namespace tide {
namespace {

namespace fs = std::filesystem;

bool IsManifestName(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

Status ReadOne(const fs::path& p, std::vector<ManifestFile>* out) {
  const std::string name = p.string();
  std::ifstream in(p, std::ios::binary);
  if (!in) return Status::Invalid("cannot read " + name);
  // Bounded: a path naming /dev/zero or a huge file must not exhaust memory.
  std::string content;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    content.append(buf, static_cast<size_t>(in.gcount()));
    if (content.size() > kMaxManifestBytes) {
      return Status::Invalid(name + ": larger than " + std::to_string(kMaxManifestBytes) +
                             " bytes");
    }
  }
  if (in.bad()) return Status::Invalid("cannot read " + name);
  out->push_back({name, std::move(content)});
  return Status::Ok();
}

}  // namespace

Status ReadManifestPath(const std::string& path, std::vector<ManifestFile>* out) {
  if (path.empty()) return Status::Invalid("empty manifest path");
  std::error_code ec;
  const fs::path p(path);
  const fs::file_status st = fs::status(p, ec);
  if (st.type() == fs::file_type::not_found) {
    return Status::NotFound("the path \"" + path + "\" does not exist");
  }
  if (ec) return Status::Invalid("cannot access " + path + ": " + ec.message());
  if (!fs::is_directory(st)) return ReadOne(p, out);
  std::vector<fs::path> names;
  for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    if (it->is_regular_file(fec) && IsManifestName(it->path())) {
      names.push_back(it->path().filename());
    }
  }
  if (ec) return Status::Invalid("cannot list " + path + ": " + ec.message());
  if (names.empty()) {
    return Status::Invalid("no *.yaml, *.yml or *.json files in directory " + path);
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    if (Status s = ReadOne(p / n, out); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace tide
