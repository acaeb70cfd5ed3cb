#include <algorithm>
#include <string>

#include "api/manifest.h"
#include "api/manifest_parser.h"

namespace tide {
namespace manifest_internal {
namespace {

// "must be at least 1, got 0" and friends; `got` is the value's source text.
std::string BoundMessage(const std::string& got, bool too_low, double lo, bool lo_exclusive,
                         double hi) {
  auto num = [](double v) {
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  };
  std::string rule;
  if (!too_low) {
    rule = "must be at most " + num(hi);
  } else if (lo_exclusive) {
    rule = "must be greater than " + num(lo);
  } else if (lo == 0) {
    rule = "must not be negative";
  } else {
    rule = "must be at least " + num(lo);
  }
  return rule + ", got " + got;
}

}  // namespace

bool ObjectParser::OptInt(const Map& m, std::string_view key, int64_t lo, int64_t hi, int* out) {
  Field f = m.Get(key);
  if (!f.present) return true;
  int64_t v = 0;
  if (!r_.ReadInt(f, &v)) return false;
  if (v < lo || v > hi) {
    r_.Error(f, BoundMessage(f.node.Scalar(), v < lo, static_cast<double>(lo), false,
                             static_cast<double>(hi)));
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

bool ObjectParser::OptNumber(const Map& m, std::string_view key, double lo, bool lo_exclusive,
                             double hi, double* out) {
  Field f = m.Get(key);
  if (!f.present) return true;
  double v = 0;
  if (!r_.ReadNumber(f, &v)) return false;
  bool too_low = lo_exclusive ? v <= lo : v < lo;
  if (too_low || v > hi) {
    r_.Error(f, BoundMessage(f.node.Scalar(), too_low, lo, lo_exclusive, hi));
    return false;
  }
  *out = v;
  return true;
}

bool ObjectParser::OptEnum(const Map& m, std::string_view key,
                           std::initializer_list<std::string_view> values, std::string* out) {
  Field f = m.Get(key);
  if (!f.present) return true;
  std::string s;
  if (!r_.ReadString(f, &s)) return false;
  if (std::find(values.begin(), values.end(), s) == values.end()) {
    std::string list;
    for (auto v : values) {
      if (!list.empty()) list += ", ";
      list += v;
    }
    std::string msg = "must be one of " + list + ", got " + Q(s);
    if (std::string hint = manifest_internal::Suggest(s, values); !hint.empty()) {
      msg += "; did you mean " + hint + "?";
    }
    r_.Error(f, msg);
    return false;
  }
  *out = s;
  return true;
}

bool ObjectParser::ReadArgv(const Field& f, std::vector<std::string>* out) {
  std::vector<Field> items;
  if (!r_.ReadSeq(f, &items)) return false;
  if (items.empty()) {
    r_.Error(f, "must not be empty: give the program and its arguments");
    return false;
  }
  bool ok = true;
  out->clear();
  for (const auto& item : items) {
    std::string s;
    if (!r_.ReadString(item, &s)) {
      ok = false;
      continue;
    }
    if (out->empty() && s.empty()) {
      r_.Error(item, "the program to run must not be empty");
      ok = false;
    }
    out->push_back(std::move(s));
  }
  return ok;
}

void ObjectParser::ReadLabels(const Field& f, StringMap* out) {
  Map m;
  if (!r_.ReadMap(f, {}, &m)) return;
  for (const auto& e : m.entries()) {
    std::string why;
    if (!IsLabelKey(e.key, &why)) r_.ErrorAt(e.key_pos, e.value.path, "bad label key: " + why);
    std::string value;
    if (e.value.present && !r_.ReadString(e.value, &value)) continue;
    if (!IsLabelValue(value, &why)) r_.Error(e.value, "bad label value: " + why);
    (*out)[e.key] = value;
  }
}

void ObjectParser::ReadEnv(const Field& f, StringMap* out,
                           std::map<std::string, SecretRef>* secret_refs) {
  Map m;
  if (!r_.ReadMap(f, {}, &m)) return;
  for (const auto& e : m.entries()) {
    if (!IsEnvVarName(e.key)) {
      r_.ErrorAt(e.key_pos, e.value.path,
                 "not a valid environment variable name: letters, digits and '_', not starting "
                 "with a digit");
    } else if (e.key == "PORT" || e.key.starts_with("TIDE_")) {
      r_.ErrorAt(e.key_pos, e.value.path,
                 "PORT and TIDE_* are reserved: Tide sets them for every instance");
    }
    if (e.value.present && e.value.node.IsMap()) {
      SecretRef ref;
      if (ReadSecretRef(e.value, &ref)) (*secret_refs)[e.key] = ref;
      continue;
    }
    std::string value;
    if (e.value.present && !r_.ReadString(e.value, &value)) continue;
    (*out)[e.key] = value;
  }
}

// `{secretRef: {name: SECRET, key: KEY}}`; exactly one error for one mistake.
bool ObjectParser::ReadSecretRef(const Field& f, SecretRef* ref) {
  static constexpr const char* kForm =
      "an env value is a string or {secretRef: {name: SECRET, key: KEY}}";
  const MapEntry* only = nullptr;
  Map outer;
  if (!r_.ReadMap(f, {}, &outer)) return false;
  if (outer.entries().size() == 1) only = &outer.entries()[0];
  if (only == nullptr || only->key != "secretRef") {
    std::string got = only ? Q(only->key) : std::to_string(outer.entries().size()) + " fields";
    std::string hint = only && only->key == "valueFrom"
                           ? " (Kubernetes' valueFrom.secretKeyRef is written "
                             "{secretRef: {name: SECRET, key: KEY}} here)"
                           : "";
    r_.Error(f, std::string(kForm) + ", got " + got + hint);
    return false;
  }
  Map m;
  if (!r_.ReadMap(only->value, {"name", "key"}, &m)) return false;
  bool ok = true;
  Field nf = m.Get("name");
  if (!nf.present) {
    r_.Error(nf, "required field is missing; the name of a Secret");
    ok = false;
  } else if (r_.ReadString(nf, &ref->name) && !IsDnsLabel(ref->name)) {
    r_.Error(nf, "must be a Secret's name (a DNS label), got " + Q(ref->name));
    ok = false;
  } else if (ref->name.empty()) {
    ok = false;
  }
  Field kf = m.Get("key");
  if (!kf.present) {
    r_.Error(kf, "required field is missing; a key of the Secret's data");
    ok = false;
  } else if (r_.ReadString(kf, &ref->key) && !IsSecretKey(ref->key)) {
    r_.Error(kf, "must be a Secret data key (1-253 of a-z, A-Z, 0-9, '-', '_', '.'), got " +
                     Q(ref->key));
    ok = false;
  } else if (ref->key.empty()) {
    ok = false;
  }
  return ok;
}

}  // namespace manifest_internal

namespace {

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsLower(c) || IsDigit(c) || (c >= 'A' && c <= 'Z'); }

}  // namespace

bool IsSecretKey(std::string_view key) {
  if (key.empty() || key.size() > 253 || key == "." || key == "..") return false;
  for (char c : key) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool IsDnsLabel(std::string_view name) {
  if (name.empty() || name.size() > 63 || !IsLower(name.front()) || name.back() == '-') {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsLower(c) || IsDigit(c) || c == '-'; });
}

bool IsEnvVarName(std::string_view name) {
  if (name.empty() || IsDigit(name.front())) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsAlnum(c) || c == '_'; });
}

namespace {

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 characters.
bool IsLabelName(std::string_view s) {
  if (s.empty() || s.size() > 63 || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// A DNS subdomain: dot-separated [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 253 characters.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (part.empty() || part.size() > 63 || part.front() == '-' || part.back() == '-') return false;
    if (!std::all_of(part.begin(), part.end(),
                     [](char c) { return IsLower(c) || IsDigit(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

bool IsLabelKey(std::string_view key, std::string* why) {
  std::string_view name = key;
  size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    if (!IsDnsSubdomain(key.substr(0, slash))) {
      *why = "the prefix before '/' must be a DNS subdomain (e.g. example.com)";
      return false;
    }
    name = key.substr(slash + 1);
  }
  if (!IsLabelName(name)) {
    *why =
        "must be 1-63 characters from A-Z, a-z, 0-9, '-', '_' and '.', starting and ending "
        "with a letter or digit (optionally prefixed by a DNS subdomain and '/')";
    return false;
  }
  return true;
}

bool IsLabelValue(std::string_view value, std::string* why) {
  if (value.empty() || IsLabelName(value)) return true;
  *why =
      "must be empty or 1-63 characters from A-Z, a-z, 0-9, '-', '_' and '.', starting and "
      "ending with a letter or digit";
  return false;
}

}  // namespace tide
