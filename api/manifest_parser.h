// Internal to the manifest parser (api/manifest.h): ObjectParser turns one YAML object into an
// Object, reporting every problem through its Reader (api/manifest_reader.h). Its members live
// in three files, by concern:
//   api/manifest.cc         documents: one object, a List, a sequence; apiVersion, kind
//   api/manifest_spec.cc    per-kind spec validation: metadata, Layer spec, workload spec blocks
//   api/manifest_fields.cc  field-level readers: bounded numbers, enums, argv, labels, env
//   api/manifest_secret.cc  the Secret kind's spec, secret env never expanded into argv
// Not thread-safe; one ObjectParser per Reader.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/manifest.h"
#include "api/manifest_reader.h"

namespace tide::manifest_internal {

inline constexpr double kMaxSeconds = 365.0 * 24 * 3600;  // bound on every *Seconds field
inline constexpr int64_t kMaxReplicas = 10000;

// User text quoted for an error message, cut so the message stays short and valid UTF-8.
// Built piece by piece: `"\"" + CutUtf8(...)` trips GCC 12's bogus -Wrestrict at -O3 (bug 105651).
inline std::string Q(const std::string& s) {
  std::string out(1, '"');
  out += CutUtf8(s, 60);
  out += '"';
  return out;
}

class ObjectParser {
 public:
  ObjectParser(Reader* reader, ParseResult* out) : r_(*reader), out_(*out) {}

  // One object (a mapping). Valid ones go to out.objects, others to out.rejected when named.
  void Parse(const Field& doc);
  // A `{kind: List, items: [...]}` document.
  void ParseList(const Field& doc);
  // An element of a top-level sequence or of List.items.
  void ParseItem(const Field& item);

  static bool IsListDocument(const YAML::Node& n);

 private:
  SourcePos At(Pos p) const { return SourcePos{r_.file(), p.line, p.column}; }

  // Field-level readers (manifest_fields.cc): each reports its own errors, false on any.
  bool OptInt(const Map& m, std::string_view key, int64_t lo, int64_t hi, int* out);
  bool OptNumber(const Map& m, std::string_view key, double lo, bool lo_exclusive, double hi,
                 double* out);
  bool OptSeconds(const Map& m, std::string_view key, bool zero_ok, double* out) {
    return OptNumber(m, key, 0, !zero_ok, kMaxSeconds, out);
  }
  bool OptEnum(const Map& m, std::string_view key, std::initializer_list<std::string_view> values,
               std::string* out);
  bool ReadArgv(const Field& f, std::vector<std::string>* out);
  void ReadLabels(const Field& f, StringMap* out);
  void ReadEnv(const Field& f, StringMap* out, std::map<std::string, SecretRef>* secret_refs);
  bool ReadSecretRef(const Field& f, SecretRef* ref);

  // Per-kind spec validation (manifest_spec.cc).
  void ParseMetadata(const Field& f, Metadata* md, ObjectSource* src, bool* name_ok);
  void ParseLayerSpec(const Field& f, LayerSpec* spec);
  void ParseSecretSpec(const Field& f, SecretSpec* spec);  // api/manifest_secret.cc
  // Refuses `${VAR}` of a secret env var in argv (it would show in /proc/PID/cmdline).
  void CheckNoSecretInArgv(const Field& argv, const std::vector<std::string>& args,
                           const std::map<std::string, SecretRef>& secret_refs);
  void ParseWorkloadSpec(const Field& f, Kind kind, WorkloadSpec* spec, ObjectSource* src);
  void ParseAutoscale(const Field& f, Kind kind, Autoscale* a, Field* metric);
  void ParseResources(const Field& f, Resources* res);
  void ParseProbe(const Field& f, bool liveness, Probe* p);
  void ParseLayers(const Field& f, std::vector<std::string>* layers, ObjectSource* src);
  void ParseRollout(const Field& f, Rollout* r);
  void ParseBackoff(const Field& f, Backoff* b);
  void ParseTriggers(const Field& f, Kind kind, std::vector<Trigger>* triggers);
  // spec.keepAlive (api/manifest_keepalive.cc); `idle` is spec.idleTimeoutSeconds (maybe absent),
  // s->idle_timeout_seconds already read.
  void ParseKeepAlive(const Field& f, const Field& idle, Kind kind, WorkloadSpec* s);

  Reader& r_;
  ParseResult& out_;
};

}  // namespace tide::manifest_internal
