// The Secret kind's spec and the rule that keeps secret env values out of argv (api/manifest.h,
// docs/manifests.md "Secret"). Error messages never quote a secret value.
#include <string>

#include "api/manifest_parser.h"

namespace tide::manifest_internal {

inline constexpr size_t kMaxSecretBytes = 1024 * 1024;  // keys and values, like Kubernetes

void ObjectParser::ParseSecretSpec(const Field& f, SecretSpec* spec) {
  // Reader messages describe a wrong scalar by quoting it: check the shape first, so a value
  // put in the wrong place is never echoed.
  if (!f.node.IsMap()) {
    r_.Error(f, "must be an object {data: {KEY: VALUE}} (the value given is not shown)");
    return;
  }
  Map m;
  if (!r_.ReadMap(f, {"data", "keys"}, &m)) return;
  Field kf = m.Get("keys");
  Field df = m.Get("data");
  if (kf.present) {
    r_.Error(kf,
             "is the redacted form GET shows (names of keys, no values) and cannot be applied; "
             "give spec.data: {KEY: VALUE}");
    return;
  }
  if (!df.present) {
    r_.Error(df, "required field is missing; give data: {KEY: VALUE}");
    return;
  }
  if (!df.node.IsMap()) {
    r_.Error(df, "must be a mapping {KEY: VALUE} (the value given is not shown)");
    return;
  }
  Map data;
  if (!r_.ReadMap(df, {}, &data)) return;
  size_t bytes = 0;
  for (const auto& e : data.entries()) {
    if (!IsSecretKey(e.key)) {
      r_.ErrorAt(e.key_pos, e.value.path,
                 "not a valid Secret data key: 1-253 of a-z, A-Z, 0-9, '-', '_' and '.'");
      continue;
    }
    if (!e.value.present) {
      r_.Error(e.value, "the value is missing (an empty value is written \"\")");
      continue;
    }
    if (!e.value.node.IsScalar()) {
      r_.Error(e.value, "must be a string (the value given is not shown)");
      continue;
    }
    std::string value;
    if (!r_.ReadString(e.value, &value)) continue;
    bytes += e.key.size() + value.size();
    spec->data[e.key] = std::move(value);
  }
  if (bytes > kMaxSecretBytes) {
    r_.Error(df, "Secret data is " + std::to_string(bytes) + " bytes, the limit is " +
                     std::to_string(kMaxSecretBytes));
  }
}

void ObjectParser::CheckNoSecretInArgv(const Field& argv, const std::vector<std::string>& args,
                                       const std::map<std::string, SecretRef>& secret_refs) {
  if (secret_refs.empty() || !argv.present || !argv.node.IsSequence()) return;
  std::vector<Field> items;
  if (!r_.ReadSeq(argv, &items)) return;
  for (size_t i = 0; i < args.size() && i < items.size(); ++i) {
    for (const auto& [name, ref] : secret_refs) {
      if (args[i].find("${" + name + "}") == std::string::npos) continue;
      r_.Error(items[i], "expands ${" + name + "}, which comes from Secret " + Q(ref.name) +
                             ": argv is readable by every local user in /proc/PID/cmdline; "
                             "let the program read " +
                             name + " from its environment instead");
      break;
    }
  }
}

}  // namespace tide::manifest_internal
