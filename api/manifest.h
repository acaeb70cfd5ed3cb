// Manifest parsing and strict validation (every field is in docs/manifests.md).
//
// ParseManifests reads YAML (JSON too: JSON is YAML) holding one or more documents. A document
// is one object (Service, Function, Layer or Secret), a sequence of objects, or `{kind: List,
// items:
// [...]}`; empty documents are skipped. Each object is checked completely and ALL problems are
// reported at once, each with file, 1-based line and column, and field path ("spec.replicas",
// "spec.command[1]", "spec.env.FOO"; paths are relative to the object, also inside a List).
// Valid objects come back with every default filled in (model.h; a Function always has an
// autoscale block, minReplicas defaulting to 0). Objects with errors are left out of `objects`.
// A top-level `status` is accepted and ignored, so GET output (api/json.h) can be applied again;
// so are `replicas` on a Function and `idleTimeoutSeconds` on a Service (docs/manifests.md).
// ParseManifests never throws: YAML syntax errors, too-deep nesting and oversized input
// (more than kMaxManifestBytes, or more than kMaxManifestValues values walked) become errors.
//
// ValidateBatch adds the checks that need the whole apply batch: a kind+name given twice, a
// Service and a Function sharing a name (workloads share one name space), and spec.layers
// entries naming a Layer that is neither in the batch nor in `known_layers`.
// Pure functions over their arguments; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/model.h"

namespace tide {

inline constexpr size_t kMaxManifestBytes = 4 * 1024 * 1024;
inline constexpr int64_t kMaxManifestValues = 500000;  // YAML values walked per text
inline constexpr size_t kMaxManifestErrors = 1000;     // then one "too many errors" entry

struct FieldError {
  std::string file;
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based; 0 = unknown
  std::string path;
  std::string message;
};

struct SourcePos {
  std::string file;
  int line = 0;  // 1-based; 0 = unknown
  int column = 0;
};

// Where an object came from, for errors found after parsing (ValidateBatch, the API server).
struct ObjectSource {
  SourcePos object;               // start of the object's mapping
  SourcePos name;                 // metadata.name
  std::vector<SourcePos> layers;  // spec.layers[i]
};

// A document that failed validation but whose kind and name could be read: ValidateBatch still
// counts it, so one bad Layer does not also make every user of that layer an error.
struct RejectedObject {
  Kind kind = Kind::kService;
  std::string name;
  SourcePos name_pos;
};

struct ParseResult {
  std::vector<Object> objects;        // valid objects, in text order
  std::vector<ObjectSource> sources;  // sources[i] belongs to objects[i]
  std::vector<RejectedObject> rejected;
  std::vector<FieldError> errors;  // sorted by line, then column
  bool ok() const { return errors.empty(); }
};

ParseResult ParseManifests(std::string_view text, const std::string& file);

// Appends `from` (e.g. the next file of `tidectl apply -f a -f b`) to `into`.
void AppendParseResult(ParseResult* into, ParseResult from);

void ValidateBatch(const ParseResult& parsed, const std::set<std::string>& known_layers,
                   std::vector<FieldError>* errors);

// [{"file","line","column","path","message"}], the `details` of an InvalidManifest error.
nlohmann::json FieldErrorsToJson(const std::vector<FieldError>& errors);
// Inverse of FieldErrorsToJson (lenient: missing members stay empty/0); for the CLI.
std::vector<FieldError> FieldErrorsFromJson(const nlohmann::json& j);
// "file:line:column: path: message", the form the CLI prints.
std::string FormatFieldError(const FieldError& e);

// The name rules, exposed for the API server and CLI (e.g. names in URLs).
bool IsDnsLabel(std::string_view name);    // [a-z0-9-], 1..63, letter first, no '-' last
bool IsEnvVarName(std::string_view name);  // [A-Za-z_][A-Za-z0-9_]*
bool IsSecretKey(std::string_view key);    // [-._a-zA-Z0-9], 1..253, not "." or ".."
bool IsLabelKey(std::string_view key, std::string* why);
bool IsLabelValue(std::string_view value, std::string* why);

}  // namespace tide
