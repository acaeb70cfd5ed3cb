// Internal to the manifest parser (api/manifest_parser.h): typed, located access to a
// yaml-cpp document that records every problem as a FieldError instead of throwing, and keeps
// walking so all problems are found.
//
// A Field is one value with its path and position. A value explicitly null (`key:` or `~`)
// counts as absent, like a missing key. Scalars keep their source text: a plain `8080` is
// accepted where a string is expected, but a quoted "2" is refused where a number is.
// Every value visited counts against a budget (kMaxManifestValues); once it is spent all reads
// fail and exhausted() is true, so hostile input (aliases fanning out) stays cheap.
// Not thread-safe; one Reader per ParseManifests call.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "api/manifest.h"

namespace tide::manifest_internal {

// s cut to at most max bytes (plus "..." when cut), never inside a UTF-8 sequence, so an error
// message that quotes user text stays valid UTF-8 (else the JSON answer cannot be written).
std::string CutUtf8(const std::string& s, size_t max);

struct Pos {
  int line = 0;  // 1-based; 0 = unknown
  int column = 0;
};

struct Field {
  std::string path;
  YAML::Node node;  // meaningful only when present
  bool present = false;
  Pos pos;  // the value's position, else its key's, else its parent's
};

// A mapping's entries after key checks.
struct MapEntry {
  std::string key;
  Pos key_pos;
  Field value;
};

class Map {
 public:
  Map() = default;
  Map(Field self, std::vector<MapEntry> entries)
      : self_(std::move(self)), entries_(std::move(entries)) {}
  // The entry `key`; absent: present == false, positioned at the mapping.
  Field Get(std::string_view key) const;
  bool Has(std::string_view key) const { return Get(key).present; }
  const Field& self() const { return self_; }
  const std::vector<MapEntry>& entries() const { return entries_; }

 private:
  Field self_;
  std::vector<MapEntry> entries_;
};

class Reader {
 public:
  Reader(std::string file, std::vector<FieldError>* errors)
      : file_(std::move(file)), errors_(errors) {}

  static Pos PosOf(const YAML::Node& n, Pos fallback);
  static Field Root(const YAML::Node& n);

  void Error(const Field& f, std::string message) { ErrorAt(f.pos, f.path, std::move(message)); }
  void ErrorAt(Pos pos, const std::string& path, std::string message);
  bool exhausted() const { return exhausted_; }
  int64_t error_count() const { return error_count_; }  // all errors, also those past the cap
  const std::string& file() const { return file_; }

  // A mapping whose keys must all be in `known` (unknown, duplicate or non-string keys are
  // reported). An empty `known` accepts any key (labels, env). False if `f` is not a mapping.
  bool ReadMap(const Field& f, std::initializer_list<std::string_view> known, Map* out);
  bool ReadSeq(const Field& f, std::vector<Field>* out);

  // Scalars. Each reports the error itself and returns false; `f` must be present.
  bool ReadString(const Field& f, std::string* out);
  bool ReadInt(const Field& f, int64_t* out);
  bool ReadNumber(const Field& f, double* out);
  bool ReadBool(const Field& f, bool* out);
  bool ReadStringList(const Field& f, std::vector<std::string>* out);

  // "an object", "a list", "string \"x\"", "number 1.5", ... for messages.
  static std::string Describe(const YAML::Node& n);

 private:
  bool Spend();

  std::string file_;
  std::vector<FieldError>* errors_;
  int64_t budget_ = kMaxManifestValues;
  bool exhausted_ = false;
  int64_t error_count_ = 0;
};

// Closest of `candidates` to `word` (edit distance <= 2 or same letters ignoring case), or "".
std::string Suggest(std::string_view word, std::initializer_list<std::string_view> candidates);

}  // namespace tide::manifest_internal
