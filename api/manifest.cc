#include "api/manifest.h"

#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <climits>
#include <map>
#include <optional>

#include "api/cron.h"
#include "api/manifest_reader.h"
#include "api/quantity.h"
#include "api/user_spec.h"
#include "api/yaml_guard.h"

namespace tide {
namespace {

using manifest_internal::Field;
using manifest_internal::Map;
using manifest_internal::Pos;
using manifest_internal::Reader;

constexpr double kMaxSeconds = 365.0 * 24 * 3600;  // bound on every *Seconds field
constexpr int64_t kMaxReplicas = 10000;

std::string Q(const std::string& s) { return "\"" + manifest_internal::CutUtf8(s, 60) + "\""; }

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
  void ReadEnv(const Field& f, StringMap* out);

  void ParseMetadata(const Field& f, Metadata* md, ObjectSource* src, bool* name_ok);
  void ParseLayerSpec(const Field& f, LayerSpec* spec);
  void ParseWorkloadSpec(const Field& f, Kind kind, WorkloadSpec* spec, ObjectSource* src);
  void ParseAutoscale(const Field& f, Kind kind, Autoscale* a, Field* metric);
  void ParseResources(const Field& f, Resources* res);
  void ParseProbe(const Field& f, bool liveness, Probe* p);
  void ParseLayers(const Field& f, std::vector<std::string>* layers, ObjectSource* src);
  void ParseRollout(const Field& f, Rollout* r);
  void ParseBackoff(const Field& f, Backoff* b);
  void ParseTriggers(const Field& f, Kind kind, std::vector<Trigger>* triggers);

  Reader& r_;
  ParseResult& out_;
};

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
    for (auto v : values) list += (list.empty() ? "" : ", ") + std::string(v);
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

void ObjectParser::ReadEnv(const Field& f, StringMap* out) {
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
    std::string value;
    if (e.value.present && !r_.ReadString(e.value, &value)) continue;
    (*out)[e.key] = value;
  }
}

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
    r_.Error(kf, "required field is missing; expected one of Service, Function, Layer");
  } else if (r_.ReadString(kf, &kind_text)) {
    kind = ParseKind(kind_text);
    if (!kind) {
      std::string msg = "must be Service, Function or Layer, got " + Q(kind_text);
      if (kind_text == "List") {
        msg = "a List cannot be nested inside a list of objects";
      } else if (std::string s =
                     manifest_internal::Suggest(kind_text, {"Service", "Function", "Layer"});
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

void ObjectParser::ParseMetadata(const Field& f, Metadata* md, ObjectSource* src, bool* name_ok) {
  Map m;
  if (!r_.ReadMap(f, {"name", "labels"}, &m)) return;
  Field nf = m.Get("name");
  src->name = At(nf.pos);
  if (!nf.present) {
    r_.Error(nf, "required field is missing");
  } else if (r_.ReadString(nf, &md->name)) {
    if (IsDnsLabel(md->name)) {
      *name_ok = true;
    } else {
      r_.Error(nf,
               "must be a DNS label: 1-63 characters from a-z, 0-9 and '-', starting with a "
               "letter and not ending with '-', got " +
                   Q(md->name));
    }
  }
  Field lf = m.Get("labels");
  if (lf.present) ReadLabels(lf, &md->labels);
}

void ObjectParser::ParseLayerSpec(const Field& f, LayerSpec* spec) {
  Map m;
  if (!r_.ReadMap(f, {"path"}, &m)) return;
  Field pf = m.Get("path");
  if (!pf.present) {
    r_.Error(pf, "required field is missing; give the layer directory as an absolute path");
  } else if (r_.ReadString(pf, &spec->path) && !spec->path.starts_with("/")) {
    r_.Error(pf, "must be an absolute path (starting with '/'), got " + Q(spec->path));
  }
}

void ObjectParser::ParseWorkloadSpec(const Field& f, Kind kind, WorkloadSpec* s,
                                     ObjectSource* src) {
  Map m;
  if (!r_.ReadMap(f,
                  {"command", "workingDir", "user", "env", "replicas", "autoscale", "concurrency",
                   "timeoutSeconds", "resources", "readiness", "liveness", "restartPolicy",
                   "terminationGracePeriodSeconds", "nodeSelector", "layers", "rollout", "backoff",
                   "idleTimeoutSeconds", "triggers"},
                  &m)) {
    return;
  }
  Field cf = m.Get("command");
  if (!cf.present) {
    r_.Error(cf,
             "required field is missing; give the argv to run, e.g. [\"./server\", \"${PORT}\"]");
  } else {
    ReadArgv(cf, &s->command);
  }
  if (Field wf = m.Get("workingDir"); wf.present) r_.ReadString(wf, &s->working_dir);
  if (Field uf = m.Get("user"); uf.present && r_.ReadString(uf, &s->user)) {
    UserSpec parsed;
    std::string err;
    if (!ParseUserSpec(s->user, &parsed, &err)) r_.Error(uf, err);
  }
  if (Field ef = m.Get("env"); ef.present) ReadEnv(ef, &s->env);
  OptInt(m, "replicas", 0, kMaxReplicas, &s->replicas);

  Field metric;
  if (Field af = m.Get("autoscale"); af.present) {
    Autoscale a;
    if (kind == Kind::kFunction) a.min_replicas = 0;
    ParseAutoscale(af, kind, &a, &metric);
    s->autoscale = a;
  } else if (kind == Kind::kFunction) {
    Autoscale a;
    a.min_replicas = 0;
    s->autoscale = a;
  }
  OptInt(m, "concurrency", 0, 1000000, &s->concurrency);
  OptSeconds(m, "timeoutSeconds", false, &s->timeout_seconds);
  if (Field rf = m.Get("resources"); rf.present) ParseResources(rf, &s->resources);
  if (Field pf = m.Get("readiness"); pf.present) {
    Probe p;
    ParseProbe(pf, false, &p);
    s->readiness = p;
  }
  if (Field pf = m.Get("liveness"); pf.present) {
    Probe p;
    ParseProbe(pf, true, &p);
    s->liveness = p;
  }
  OptEnum(m, "restartPolicy", {"Always", "OnFailure", "Never"}, &s->restart_policy);
  OptSeconds(m, "terminationGracePeriodSeconds", true, &s->termination_grace_period_seconds);
  if (Field nf = m.Get("nodeSelector"); nf.present) ReadLabels(nf, &s->node_selector);
  if (Field lf = m.Get("layers"); lf.present) ParseLayers(lf, &s->layers, src);
  if (Field rf = m.Get("rollout"); rf.present) ParseRollout(rf, &s->rollout);
  if (Field bf = m.Get("backoff"); bf.present) ParseBackoff(bf, &s->backoff);
  OptSeconds(m, "idleTimeoutSeconds", false, &s->idle_timeout_seconds);
  if (Field tf = m.Get("triggers"); tf.present) ParseTriggers(tf, kind, &s->triggers);

  if (s->autoscale && s->autoscale->metric == "cpu" && s->resources.cpu <= 0 && metric.present) {
    r_.Error(
        metric,
        "metric cpu needs spec.resources.cpu: the target is a percentage of the requested cpu");
  }
}

void ObjectParser::ParseAutoscale(const Field& f, Kind kind, Autoscale* a, Field* metric) {
  Map m;
  if (!r_.ReadMap(f,
                  {"minReplicas", "maxReplicas", "metric", "target", "stableWindowSeconds",
                   "panicWindowSeconds", "panicThreshold", "maxScaleUpRate", "tolerance"},
                  &m)) {
    return;
  }
  Field min_f = m.Get("minReplicas");
  bool min_ok = OptInt(m, "minReplicas", 0, kMaxReplicas, &a->min_replicas);
  if (min_ok && kind == Kind::kService && min_f.present && a->min_replicas == 0) {
    r_.Error(min_f,
             "a Service is always on: minReplicas must be at least 1 (a Function scales "
             "to zero)");
    min_ok = false;
  }
  Field max_f = m.Get("maxReplicas");
  bool max_ok = OptInt(m, "maxReplicas", 1, kMaxReplicas, &a->max_replicas);
  if (min_ok && max_ok && a->min_replicas > a->max_replicas) {
    std::string msg = "minReplicas (" + std::to_string(a->min_replicas) +
                      ") must not be greater than maxReplicas (" + std::to_string(a->max_replicas) +
                      (max_f.present ? ")" : ", the default)");
    r_.Error(min_f.present ? min_f : max_f, msg);
  }
  *metric = m.Get("metric");
  OptEnum(m, "metric", {"concurrency", "rps", "cpu"}, &a->metric);
  OptNumber(m, "target", 0, true, 1e9, &a->target);
  bool stable_ok = OptSeconds(m, "stableWindowSeconds", false, &a->stable_window_seconds);
  bool panic_ok = OptSeconds(m, "panicWindowSeconds", false, &a->panic_window_seconds);
  if (stable_ok && panic_ok && a->panic_window_seconds > a->stable_window_seconds) {
    Field pf = m.Get("panicWindowSeconds");
    r_.Error(pf.present ? pf : m.Get("stableWindowSeconds"),
             "panicWindowSeconds must not be longer than stableWindowSeconds");
  }
  OptNumber(m, "panicThreshold", 1, false, 1000, &a->panic_threshold);
  OptNumber(m, "maxScaleUpRate", 1, true, 1000, &a->max_scale_up_rate);
  Field tol = m.Get("tolerance");
  double tolerance = a->tolerance;
  if (OptNumber(m, "tolerance", 0, false, 1, &tolerance)) {
    if (tolerance >= 1) {
      r_.Error(tol, "must be below 1 (a fraction of the target), got " + tol.node.Scalar());
    } else {
      a->tolerance = tolerance;
    }
  }
}

void ObjectParser::ParseResources(const Field& f, Resources* res) {
  Map m;
  if (!r_.ReadMap(f, {"cpu", "memory"}, &m)) return;
  if (Field cf = m.Get("cpu"); cf.present) {
    std::string text, err;
    if (!cf.node.IsScalar()) {
      r_.Error(cf, "must be a number of cores (0.5, 2) or millicores (\"500m\"), got " +
                       Reader::Describe(cf.node));
    } else if (r_.ReadString(cf, &text) && !ParseCpu(text, &res->cpu, &err)) {
      r_.Error(cf, err);
    }
  }
  if (Field mf = m.Get("memory"); mf.present) {
    std::string text, err;
    if (!mf.node.IsScalar()) {
      r_.Error(mf, "must be a size in bytes or with a unit (128Mi, 2Gi), got " +
                       Reader::Describe(mf.node));
    } else if (r_.ReadString(mf, &text) && !ParseMemory(text, &res->memory_bytes, &err)) {
      r_.Error(mf, err);
    }
  }
}

void ObjectParser::ParseProbe(const Field& f, bool liveness, Probe* p) {
  Map m;
  if (!r_.ReadMap(f,
                  {"httpGet", "tcp", "exec", "initialDelaySeconds", "periodSeconds",
                   "timeoutSeconds", "failureThreshold", "successThreshold"},
                  &m)) {
    return;
  }
  int kinds = int{m.Has("httpGet")} + int{m.Has("tcp")} + int{m.Has("exec")};
  if (kinds > 1) r_.Error(f, "use only one of httpGet, tcp and exec");
  if (Field hf = m.Get("httpGet"); hf.present) {
    p->type = Probe::Type::kHttp;
    if (r_.ReadString(hf, &p->http_path)) {
      bool clean = std::none_of(p->http_path.begin(), p->http_path.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
      });
      if (!p->http_path.starts_with("/") || !clean) {
        r_.Error(hf,
                 "must be a URL path starting with '/' and without spaces, got " + Q(p->http_path));
      }
    }
  } else if (Field ef = m.Get("exec"); ef.present) {
    p->type = Probe::Type::kExec;
    ReadArgv(ef, &p->exec);
  } else if (Field tf = m.Get("tcp"); tf.present) {
    p->type = Probe::Type::kTcp;
    bool on = false;
    if (r_.ReadBool(tf, &on) && !on) {
      r_.Error(tf, "tcp: false is not a probe; use tcp: true, httpGet or exec");
    }
  }
  OptInt(m, "initialDelaySeconds", 0, static_cast<int64_t>(kMaxSeconds), &p->initial_delay_seconds);
  OptNumber(m, "periodSeconds", 0, true, 86400, &p->period_seconds);
  OptNumber(m, "timeoutSeconds", 0, true, 86400, &p->timeout_seconds);
  OptInt(m, "failureThreshold", 1, 1000, &p->failure_threshold);
  Field sf = m.Get("successThreshold");
  if (OptInt(m, "successThreshold", 1, 1000, &p->success_threshold) && liveness &&
      p->success_threshold != 1) {
    r_.Error(sf, "must be 1 for a liveness probe");
  }
}

void ObjectParser::ParseLayers(const Field& f, std::vector<std::string>* layers,
                               ObjectSource* src) {
  std::vector<Field> items;
  if (!r_.ReadSeq(f, &items)) return;
  for (const auto& item : items) {
    std::string name;
    if (!r_.ReadString(item, &name)) continue;
    if (!IsDnsLabel(name)) {
      r_.Error(item, "must be a layer name (a DNS label), got " + Q(name));
    } else if (std::find(layers->begin(), layers->end(), name) != layers->end()) {
      r_.Error(item, "layer " + Q(name) + " is listed twice");
    }
    layers->push_back(name);
    src->layers.push_back(At(item.pos));
  }
}

void ObjectParser::ParseRollout(const Field& f, Rollout* r) {
  Map m;
  if (!r_.ReadMap(f, {"maxSurge", "maxUnavailable", "minReadySeconds", "progressDeadlineSeconds"},
                  &m)) {
    return;
  }
  bool ok = OptInt(m, "maxSurge", 0, kMaxReplicas, &r->max_surge);
  ok = OptInt(m, "maxUnavailable", 0, kMaxReplicas, &r->max_unavailable) && ok;
  if (ok && r->max_surge == 0 && r->max_unavailable == 0) {
    r_.Error(f, "maxSurge and maxUnavailable cannot both be 0: the rollout could not progress");
  }
  bool times = OptSeconds(m, "minReadySeconds", true, &r->min_ready_seconds);
  times = OptSeconds(m, "progressDeadlineSeconds", false, &r->progress_deadline_seconds) && times;
  if (times && r->progress_deadline_seconds <= r->min_ready_seconds) {
    Field pf = m.Get("progressDeadlineSeconds");
    r_.Error(pf.present ? pf : m.Get("minReadySeconds"),
             "progressDeadlineSeconds must be greater than minReadySeconds: no new instance "
             "could become available before the deadline");
  }
}

void ObjectParser::ParseBackoff(const Field& f, Backoff* b) {
  Map m;
  if (!r_.ReadMap(f, {"initialSeconds", "maxSeconds", "resetAfterSeconds"}, &m)) return;
  bool ok = OptSeconds(m, "initialSeconds", false, &b->initial_seconds);
  ok = OptSeconds(m, "maxSeconds", false, &b->max_seconds) && ok;
  OptSeconds(m, "resetAfterSeconds", true, &b->reset_after_seconds);
  if (ok && b->max_seconds < b->initial_seconds) {
    Field mf = m.Get("maxSeconds");
    r_.Error(mf.present ? mf : m.Get("initialSeconds"),
             "maxSeconds must not be less than initialSeconds");
  }
}

void ObjectParser::ParseTriggers(const Field& f, Kind kind, std::vector<Trigger>* triggers) {
  std::vector<Field> items;
  if (!r_.ReadSeq(f, &items)) return;
  if (kind != Kind::kFunction && !items.empty()) {
    r_.Error(f, "triggers are only for Functions");
    return;
  }
  for (const auto& item : items) {
    Map m;
    if (!r_.ReadMap(item, {"schedule"}, &m)) continue;
    Field sf = m.Get("schedule");
    Trigger t;
    std::string err;
    if (!sf.present) {
      r_.Error(sf, "required field is missing; give a cron expression such as \"*/5 * * * *\"");
    } else if (r_.ReadString(sf, &t.schedule) && !ValidateCron(t.schedule, &err)) {
      r_.Error(sf, err);
    }
    triggers->push_back(std::move(t));
  }
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

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsLower(c) || IsDigit(c) || (c >= 'A' && c <= 'Z'); }

std::string Where(const SourcePos& p) {
  std::string s = p.file.empty() ? "<input>" : p.file;
  if (p.line > 0) s += ":" + std::to_string(p.line) + ":" + std::to_string(p.column);
  return s;
}

}  // namespace

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
  auto note = [&](Kind kind, const std::string& name, const SourcePos& pos) {
    auto& table = kind == Kind::kLayer ? layers : workloads;
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
    if (o.kind == Kind::kLayer) continue;
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
