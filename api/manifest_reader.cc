#include "api/manifest_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace tide::manifest_internal {
namespace {

bool IsQuoted(const YAML::Node& n) {
  const std::string& tag = n.Tag();
  return tag == "!" || tag == "tag:yaml.org,2002:str";
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool LooksInteger(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return !s.empty() && std::all_of(s.begin(), s.end(), IsDigit);
}

// [-+]? (digits [. digits?] | . digits) ([eE] [-+]? digits)?
bool LooksNumber(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++int_digits;
  size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

bool IsBoolText(std::string_view s, bool* value) {
  if (s == "true" || s == "True" || s == "TRUE") {
    *value = true;
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    *value = false;
    return true;
  }
  return false;
}

bool IsPlainKey(std::string_view k) {
  return !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == '_' || c == '-';
  });
}

std::string JoinPath(const std::string& parent, const std::string& key) {
  if (IsPlainKey(key)) return parent.empty() ? key : parent + "." + key;
  std::string quoted = "[\"";
  for (char c : key) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  quoted += "\"]";
  return parent + quoted;
}

}  // namespace

std::string CutUtf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max;  // back up over continuation bytes to the start of the cut sequence
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

namespace {

std::string Clip(const std::string& s) {
  std::string out = CutUtf8(s, 40);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string Suggest(std::string_view word, std::initializer_list<std::string_view> candidates) {
  if (word.size() > 64) return "";
  std::string best;
  size_t best_distance = 3;
  for (std::string_view c : candidates) {
    size_t d = Lower(word) == Lower(c) ? 0 : EditDistance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = std::string(c);
    }
  }
  return best;
}

Field Map::Get(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.key == key) return e.value;
  }
  Field absent;
  absent.path = JoinPath(self_.path, std::string(key));
  absent.pos = self_.pos;
  return absent;
}

Pos Reader::PosOf(const YAML::Node& n, Pos fallback) {
  // A null value's mark points past it (at the next token), so nulls use the fallback.
  if (!n.IsDefined() || n.IsNull()) return fallback;
  YAML::Mark m = n.Mark();
  if (m.line < 0 || m.column < 0) return fallback;
  return Pos{m.line + 1, m.column + 1};
}

Field Reader::Root(const YAML::Node& n) {
  Field f;
  f.node = n;
  f.present = n.IsDefined() && !n.IsNull();
  f.pos = PosOf(n, Pos{1, 1});
  return f;
}

void Reader::ErrorAt(Pos pos, const std::string& path, std::string message) {
  ++error_count_;
  if (errors_->size() > kMaxManifestErrors) return;
  if (errors_->size() == kMaxManifestErrors) {
    errors_->push_back(FieldError{file_, 0, 0, "", "too many errors; stopped reporting"});
    return;
  }
  errors_->push_back(FieldError{file_, pos.line, pos.column, path, std::move(message)});
}

bool Reader::Spend() {
  if (exhausted_) return false;
  if (--budget_ < 0) {
    exhausted_ = true;
    ++error_count_;  // recorded even past the error cap: it explains why reading stopped
    errors_->push_back(FieldError{
        file_, 0, 0, "",
        "manifest too large: more than " + std::to_string(kMaxManifestValues) + " values"});
    return false;
  }
  return true;
}

std::string Reader::Describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "null";
  if (n.IsMap()) return "an object";
  if (n.IsSequence()) return "a list";
  const std::string& s = n.Scalar();
  if (IsQuoted(n)) return "string \"" + Clip(s) + "\"";
  bool b = false;
  if (LooksNumber(s)) return "number " + Clip(s);
  if (IsBoolText(s, &b)) return "boolean " + s;
  return "string \"" + Clip(s) + "\"";
}

bool Reader::ReadMap(const Field& f, std::initializer_list<std::string_view> known, Map* out) {
  if (!Spend()) return false;
  if (!f.node.IsMap()) {
    Error(f, "must be an object (a mapping of fields), got " + Describe(f.node));
    return false;
  }
  std::vector<MapEntry> entries;
  std::set<std::string> seen;
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    if (!Spend()) return false;
    const YAML::Node k = it->first;  // copies: it-> yields a temporary proxy
    const YAML::Node v = it->second;
    Pos key_pos = PosOf(k, f.pos);
    std::string key_path = f.path.empty() ? "<key>" : f.path;
    if (!k.IsScalar()) {
      ErrorAt(key_pos, key_path, "field names must be strings, got " + Describe(k));
      continue;
    }
    const std::string& key = k.Scalar();
    std::string path = JoinPath(f.path, key);
    if (!seen.insert(key).second) {
      ErrorAt(key_pos, path, "duplicate field \"" + Clip(key) + "\"");
      continue;
    }
    if (known.size() > 0 && std::find(known.begin(), known.end(), key) == known.end()) {
      std::string msg = "unknown field \"" + Clip(key) + "\"";
      if (key == "<<") {
        msg += " (YAML merge keys are not supported)";
      } else if (std::string s = Suggest(key, known); !s.empty()) {
        msg += "; did you mean \"" + s + "\"?";
      }
      ErrorAt(key_pos, path, msg);
      continue;
    }
    MapEntry e;
    e.key = key;
    e.key_pos = key_pos;
    e.value.path = path;
    e.value.node = v;
    e.value.present = v.IsDefined() && !v.IsNull();
    e.value.pos = PosOf(v, key_pos);
    entries.push_back(std::move(e));
  }
  *out = Map(f, std::move(entries));
  return true;
}

bool Reader::ReadSeq(const Field& f, std::vector<Field>* out) {
  if (!Spend()) return false;
  if (!f.node.IsSequence()) {
    Error(f, "must be a list, got " + Describe(f.node));
    return false;
  }
  out->clear();
  size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
    if (!Spend()) return false;
    Field e;
    e.path = f.path + "[" + std::to_string(i) + "]";
    const YAML::Node element = *it;
    e.node = element;
    e.present = element.IsDefined() && !element.IsNull();
    e.pos = PosOf(element, f.pos);
    out->push_back(std::move(e));
  }
  return true;
}

bool Reader::ReadString(const Field& f, std::string* out) {
  if (!f.present || !f.node.IsScalar()) {
    Error(f, "must be a string, got " + Describe(f.node));
    return false;
  }
  const std::string& s = f.node.Scalar();
  if (s.find('\0') != std::string::npos) {
    Error(f, "must not contain NUL characters");
    return false;
  }
  *out = s;
  return true;
}

bool Reader::ReadInt(const Field& f, int64_t* out) {
  if (!f.present || !f.node.IsScalar() || IsQuoted(f.node) || !LooksInteger(f.node.Scalar())) {
    Error(f, "must be an integer, got " + Describe(f.node));
    return false;
  }
  std::string_view s = f.node.Scalar();
  if (s[0] == '+') s.remove_prefix(1);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    Error(f, "integer " + Clip(f.node.Scalar()) + " is out of range");
    return false;
  }
  *out = v;
  return true;
}

bool Reader::ReadNumber(const Field& f, double* out) {
  if (!f.present || !f.node.IsScalar() || IsQuoted(f.node) || !LooksNumber(f.node.Scalar())) {
    Error(f, "must be a number, got " + Describe(f.node));
    return false;
  }
  std::string_view s = f.node.Scalar();
  if (s[0] == '+') s.remove_prefix(1);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) {
    Error(f, "number " + Clip(f.node.Scalar()) + " is out of range");
    return false;
  }
  *out = v;
  return true;
}

bool Reader::ReadBool(const Field& f, bool* out) {
  if (!f.present || !f.node.IsScalar() || IsQuoted(f.node) || !IsBoolText(f.node.Scalar(), out)) {
    Error(f, "must be true or false, got " + Describe(f.node));
    return false;
  }
  return true;
}

bool Reader::ReadStringList(const Field& f, std::vector<std::string>* out) {
  std::vector<Field> items;
  if (!ReadSeq(f, &items)) return false;
  bool ok = true;
  out->clear();
  for (const auto& item : items) {
    std::string s;
    if (ReadString(item, &s)) {
      out->push_back(std::move(s));
    } else {
      ok = false;
    }
  }
  return ok;
}

}  // namespace tide::manifest_internal
