#include "api/manifest.h"

#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <climits>
#include <map>
#include <optional>

#include "api/manifest_parser.h"
#include "api/yaml_guard.h"

namespace tide {
namespace manifest_internal {

bool ObjectParser::IsListDocument(const YAML::Node& n) {
  if (!n.IsMap()) return false;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (key.IsScalar() && key.Scalar() == "kind" && value.IsScalar() && value.Scalar() == "List") {
      return true;
    }
  }
  return false;
}

void ObjectParser::ParseItem(const Field& item) {
  if (!item.present || !item.node.IsMap()) {
    r_.Error(item, "must be an object (a manifest), got " + Reader::Describe(item.node));
  } else if (IsListDocument(item.node)) {
    r_.Error(item, "a List cannot be nested inside a list of objects");
  } else {
    Field object = item;
    object.path = "";  // paths inside an object are relative to it
    Parse(object);
  }
}

void ObjectParser::ParseList(const Field& doc) {
  Map m;
  if (!r_.ReadMap(doc, {"apiVersion", "kind", "metadata", "items"}, &m)) return;
  Field av = m.Get("apiVersion");
  std::string version;
  if (av.present && r_.ReadString(av, &version) && version != "tide/v1" && version != "v1") {
    r_.Error(av, "must be tide/v1 (or v1 for a List), got " + Q(version));
  }
  Field items = m.Get("items");
  if (!items.present) {
    r_.Error(items, "required field is missing; a List needs items: [...]");
    return;
  }
  std::vector<Field> list;
  if (!r_.ReadSeq(items, &list)) return;
  for (const auto& item : list) {
    if (r_.exhausted()) return;
    ParseItem(item);
  }
}

void ObjectParser::Parse(const Field& doc) {
  const int64_t errors_before = r_.error_count();
  Map top;
  if (!r_.ReadMap(doc, {"apiVersion", "kind", "metadata", "spec", "status"}, &top)) return;
  Object obj;
  ObjectSource src;
  src.object = At(doc.pos);

  Field av = top.Get("apiVersion");
  std::string version;
  if (!av.present) {
    r_.Error(av, "required field is missing; expected apiVersion: tide/v1");
  } else if (r_.ReadString(av, &version) && version != "tide/v1") {
    r_.Error(av, "must be tide/v1, got " + Q(version));
  }

  std::optional<Kind> kind;
  Field kf = top.Get("kind");
  std::string kind_text;
  if (!kf.present) {
    r_.Error(kf, "required field is missing; expected one of Service, Function, Layer, Secret");
  } else if (r_.ReadString(kf, &kind_text)) {
    kind = ParseKind(kind_text);
    if (!kind) {
      std::string msg = "must be Service, Function, Layer or Secret, got " + Q(kind_text);
      if (kind_text == "List") {
        msg = "a List cannot be nested inside a list of objects";
      } else if (std::string s = manifest_internal::Suggest(
                     kind_text, {"Service", "Function", "Layer", "Secret"});
                 !s.empty()) {
        msg += "; did you mean " + s + "?";
      }
      r_.Error(kf, msg);
    }
  }
  if (kind) obj.kind = *kind;

  Field mf = top.Get("metadata");
  bool name_ok = false;
  if (!mf.present) {
    r_.Error(mf, "required field is missing; expected metadata: {name: ...}");
  } else {
    ParseMetadata(mf, &obj.metadata, &src, &name_ok);
  }

  Field sf = top.Get("spec");
  if (kind) {
    if (!sf.present) {
      r_.Error(sf, "required field is missing");
    } else if (*kind == Kind::kLayer) {
      ParseLayerSpec(sf, &obj.layer);
    } else if (*kind == Kind::kSecret) {
      ParseSecretSpec(sf, &obj.secret);
    } else {
      ParseWorkloadSpec(sf, *kind, &obj.spec, &src);
    }
  }

  if (r_.error_count() == errors_before) {
    out_.objects.push_back(std::move(obj));
    out_.sources.push_back(std::move(src));
  } else if (kind && name_ok) {
    out_.rejected.push_back(RejectedObject{*kind, obj.metadata.name, src.name});
  }
}

}  // namespace manifest_internal

namespace {

using manifest_internal::Field;
using manifest_internal::ObjectParser;
using manifest_internal::Q;
using manifest_internal::Reader;

// Position of the first byte that is not part of valid UTF-8, or npos.
size_t FirstInvalidUtf8(std::string_view t) {
  size_t i = 0;
  while (i < t.size()) {
    unsigned char c = static_cast<unsigned char>(t[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > t.size()) return i;
    if (n == 2 && c < 0xC2) return i;  // overlong
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(t[i + k]) & 0xC0) != 0x80) return i;
    }
    if (n == 3) {
      unsigned cp = ((c & 0x0F) << 12) | ((t[i + 1] & 0x3F) << 6) | (t[i + 2] & 0x3F);
      if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    }
    if (n == 4) {
      unsigned cp = ((c & 0x07) << 18) | ((t[i + 1] & 0x3F) << 12) | ((t[i + 2] & 0x3F) << 6) |
                    (t[i + 3] & 0x3F);
      if (cp < 0x10000 || cp > 0x10FFFF) return i;
    }
    i += n;
  }
  return std::string_view::npos;
}

void ParseAll(std::string_view text, const std::string& file, ParseResult* result) {
  if (text.size() > kMaxManifestBytes) {
    result->errors.push_back(FieldError{file, 0, 0, "",
                                        "manifest is too large: " + std::to_string(text.size()) +
                                            " bytes, the limit is " +
                                            std::to_string(kMaxManifestBytes) + " bytes"});
    return;
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::DeepRecursion& e) {
    result->errors.push_back(FieldError{file, e.mark.line + 1, e.mark.column + 1, "",
                                        "the document is nested too deeply"});
    return;
  } catch (const YAML::Exception& e) {
    int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    int column = e.mark.column >= 0 ? e.mark.column + 1 : 0;
    result->errors.push_back(FieldError{file, line, column, "", "YAML syntax error: " + e.msg});
    return;
  }
  Reader reader(file, &result->errors);
  ObjectParser parser(&reader, result);
  for (const auto& doc : docs) {
    if (reader.exhausted()) break;
    Field root = Reader::Root(doc);
    if (!root.present) continue;  // empty document
    if (doc.IsSequence()) {
      std::vector<Field> items;
      if (!reader.ReadSeq(root, &items)) continue;
      for (const auto& item : items) {
        if (reader.exhausted()) break;
        parser.ParseItem(item);
      }
    } else if (ObjectParser::IsListDocument(doc)) {
      parser.ParseList(root);
    } else {
      parser.Parse(root);
    }
  }
}

std::string Where(const SourcePos& p) {
  std::string s = p.file.empty() ? "<input>" : p.file;
  if (p.line > 0) s += ":" + std::to_string(p.line) + ":" + std::to_string(p.column);
  return s;
}

}  // namespace

ParseResult ParseManifests(std::string_view text, const std::string& file) {
  ParseResult result;
  auto refuse_at = [&](size_t bad, const char* why) {
    int line = 1, col = 1;
    for (size_t i = 0; i < bad; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    result.errors.push_back(FieldError{file, line, col, "", why});
  };
  // Text that is not UTF-8 could not be stored or shown as JSON later: refuse it here.
  if (size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos) {
    refuse_at(bad, "the manifest is not valid UTF-8");
    return result;
  }
  // YAML allows no NUL. Worse, yaml-cpp takes text that starts with NUL bytes for UTF-16/32
  // and "decodes" it into strings that are not UTF-8 (found by fuzz_manifest).
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) {
    refuse_at(nul, "the manifest contains a NUL byte (YAML allows only printable characters)");
    return result;
  }
  // yaml-cpp 0.7 never returns from LoadAll on a stray top-level ',' (see api/yaml_guard.h).
  if (text.size() <= kMaxManifestBytes && yaml_guard::WouldLoopForever(text)) {
    result.errors.push_back(
        FieldError{file, 0, 0, "", "YAML syntax error: unexpected ',' outside a flow collection"});
    return result;
  }
  try {
    ParseAll(text, file, &result);
  } catch (const std::exception& e) {
    result.errors.push_back(
        FieldError{file, 0, 0, "", std::string("could not read the manifest: ") + e.what()});
  } catch (...) {
    result.errors.push_back(FieldError{file, 0, 0, "", "could not read the manifest"});
  }
  if (!result.errors.empty()) {
    std::stable_sort(result.errors.begin(), result.errors.end(),
                     [](const FieldError& a, const FieldError& b) {
                       int la = a.line > 0 ? a.line : INT_MAX;
                       int lb = b.line > 0 ? b.line : INT_MAX;
                       return la != lb ? la < lb : a.column < b.column;
                     });
  }
  return result;
}

void AppendParseResult(ParseResult* into, ParseResult from) {
  for (auto& o : from.objects) into->objects.push_back(std::move(o));
  for (auto& s : from.sources) into->sources.push_back(std::move(s));
  for (auto& r : from.rejected) into->rejected.push_back(std::move(r));
  for (auto& e : from.errors) into->errors.push_back(std::move(e));
}

void ValidateBatch(const ParseResult& parsed, const std::set<std::string>& known_layers,
                   std::vector<FieldError>* errors) {
  struct First {
    Kind kind;
    SourcePos pos;
  };
  std::map<std::string, First> workloads;
  std::map<std::string, First> layers;
  std::map<std::string, First> secrets;
  auto note = [&](Kind kind, const std::string& name, const SourcePos& pos) {
    auto& table = kind == Kind::kLayer ? layers : kind == Kind::kSecret ? secrets : workloads;
    auto [it, inserted] = table.emplace(name, First{kind, pos});
    if (inserted) return;
    std::string msg;
    if (it->second.kind == kind) {
      msg = std::string("duplicate ") + KindName(kind) + " " + Q(name) +
            " in this apply (first at " + Where(it->second.pos) + ")";
    } else {
      msg = std::string(KindName(kind)) + " " + Q(name) + " has the same name as the " +
            KindName(it->second.kind) + " at " + Where(it->second.pos) +
            "; Services and Functions share one name space";
    }
    errors->push_back(FieldError{pos.file, pos.line, pos.column, "metadata.name", msg});
  };
  for (size_t i = 0; i < parsed.objects.size(); ++i) {
    SourcePos pos = i < parsed.sources.size() ? parsed.sources[i].name : SourcePos{};
    note(parsed.objects[i].kind, parsed.objects[i].metadata.name, pos);
  }
  for (const auto& r : parsed.rejected) note(r.kind, r.name, r.name_pos);

  for (size_t i = 0; i < parsed.objects.size(); ++i) {
    const Object& o = parsed.objects[i];
    if (o.kind == Kind::kLayer || o.kind == Kind::kSecret) continue;
    for (size_t j = 0; j < o.spec.layers.size(); ++j) {
      const std::string& name = o.spec.layers[j];
      if (layers.count(name) || known_layers.count(name)) continue;
      SourcePos pos;
      if (i < parsed.sources.size() && j < parsed.sources[i].layers.size()) {
        pos = parsed.sources[i].layers[j];
      } else if (i < parsed.sources.size()) {
        pos = parsed.sources[i].object;
      }
      errors->push_back(FieldError{
          pos.file, pos.line, pos.column, "spec.layers[" + std::to_string(j) + "]",
          "unknown layer " + Q(name) + ": it is neither in this apply nor on the server"});
    }
  }
}

nlohmann::json FieldErrorsToJson(const std::vector<FieldError>& errors) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : errors) {
    out.push_back({{"file", e.file},
                   {"line", e.line},
                   {"column", e.column},
                   {"path", e.path},
                   {"message", e.message}});
  }
  return out;
}

std::vector<FieldError> FieldErrorsFromJson(const nlohmann::json& j) {
  std::vector<FieldError> out;
  if (!j.is_array()) return out;
  for (const auto& item : j) {
    if (!item.is_object()) continue;
    FieldError e;
    auto str = [&](const char* k) {
      auto it = item.find(k);
      return it != item.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    auto num = [&](const char* k) {
      auto it = item.find(k);
      return it != item.end() && it->is_number_integer() ? it->get<int>() : 0;
    };
    e.file = str("file");
    e.line = num("line");
    e.column = num("column");
    e.path = str("path");
    e.message = str("message");
    out.push_back(std::move(e));
  }
  return out;
}

std::string FormatFieldError(const FieldError& e) {
  std::string s = e.file.empty() ? "<input>" : e.file;
  if (e.line > 0) s += ":" + std::to_string(e.line) + ":" + std::to_string(e.column);
  s += ": ";
  if (!e.path.empty()) s += e.path + ": ";
  return s + e.message;
}

}  // namespace tide
