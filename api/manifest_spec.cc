#include <algorithm>
#include <charconv>
#include <string>

#include "api/cron.h"
#include "api/manifest_parser.h"
#include "api/quantity.h"
#include "api/user_spec.h"

namespace tide::manifest_internal {

// spec.resources.pids: the kernel's own bound on pid numbers (PID_MAX_LIMIT on 64-bit).
inline constexpr int64_t kMaxPids = 4194304;

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
                  {"command",
                   "workingDir",
                   "user",
                   "env",
                   "replicas",
                   "autoscale",
                   "concurrency",
                   "timeoutSeconds",
                   "resources",
                   "readiness",
                   "liveness",
                   "restartPolicy",
                   "terminationGracePeriodSeconds",
                   "nodeSelector",
                   "layers",
                   "rollout",
                   "backoff",
                   "idleTimeoutSeconds",
                   "triggers",
                   "socketActivation",
                   "keepAlive"},
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
  if (Field ef = m.Get("env"); ef.present) ReadEnv(ef, &s->env, &s->secret_env);
  CheckNoSecretInArgv(cf, s->command, s->secret_env);
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
  if (Field itf = m.Get("idleTimeoutSeconds");
      itf.present && itf.node.IsScalar() && itf.node.Scalar() == "auto") {
    s->idle_timeout_auto = true;  // adaptive keep-alive (daemon/control/keepalive_policy.h)
  } else if (itf.present && Reader::Describe(itf.node).starts_with("string")) {
    r_.Error(itf, "must be a number of seconds or auto, got " + Reader::Describe(itf.node));
  } else {
    OptSeconds(m, "idleTimeoutSeconds", false, &s->idle_timeout_seconds);
  }
  if (Field tf = m.Get("triggers"); tf.present) ParseTriggers(tf, kind, &s->triggers);
  if (Field sf = m.Get("socketActivation"); sf.present) r_.ReadBool(sf, &s->socket_activation);
  if (Field kf = m.Get("keepAlive"); kf.present) {
    ParseKeepAlive(kf, m.Get("idleTimeoutSeconds"), kind, s);
  }

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
  if (!r_.ReadMap(f, {"cpu", "memory", "pids"}, &m)) return;
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
  if (Field pf = m.Get("pids"); pf.present) {
    // A whole number of tasks (processes and threads) or `unlimited`; 0 is not "none": a
    // workload without a single task cannot run, and a silent 0 = unlimited would surprise.
    std::string text = pf.node.IsScalar() ? pf.node.Scalar() : "";
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text == "unlimited") {
      res->pids = 0;
    } else if (!pf.node.IsScalar() || text.empty() || ec != std::errc() ||
               end != text.data() + text.size() || n < 1 || n > kMaxPids) {
      r_.Error(pf, "must be a whole number of tasks from 1 to " + std::to_string(kMaxPids) +
                       " or \"unlimited\", got " +
                       (pf.node.IsScalar() ? Q(text) : Reader::Describe(pf.node)));
    } else {
      res->pids = n;
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

}  // namespace tide::manifest_internal
