#include "api/manifest.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "api/json.h"

namespace tide {
namespace {

// A two-workload-and-a-layer example covering most fields (as in docs/manifests.md).
const char* kSpecExample = R"(apiVersion: tide/v1
kind: Service                 # always on: Service | Function | Layer
metadata:
  name: users                 # DNS label: [a-z0-9-], 1..63, starts with a letter
  labels: {team: core}
spec:
  command: ["./users-svc", "--port", "${PORT}"]   # argv, run directly: never through a shell
  workingDir: /srv/users
  env: {LOG_LEVEL: info}
  replicas: 2                 # fixed size, when autoscale is absent
  autoscale:                  # optional for a Service, always present for a Function
    minReplicas: 1
    maxReplicas: 10
    metric: concurrency       # concurrency | rps | cpu
    target: 10                # per instance: in-flight requests, requests/s, or % of requested cpu
    stableWindowSeconds: 60   # scale-down decisions look at this window
    panicWindowSeconds: 6     # scale-up on this short window when load > panicThreshold x capacity
    panicThreshold: 2.0
    maxScaleUpRate: 10        # at most this factor more instances per decision
    tolerance: 0.1            # no change while within 10% of target
  concurrency: 0              # most in-flight requests the gateway sends one instance (0: no limit)
  timeoutSeconds: 30          # per request, in the gateway
  resources: {cpu: 0.5, memory: 128Mi}   # used for placement; memory is also enforced
  readiness: {httpGet: /healthz}         # or {tcp: true} or {exec: [argv]}; default: TCP on $PORT
  liveness: {httpGet: /healthz, periodSeconds: 5, failureThreshold: 3}
  restartPolicy: Always       # Always | OnFailure | Never
  terminationGracePeriodSeconds: 10
  nodeSelector: {zone: a}
  layers: [common]
  rollout: {maxSurge: 1, maxUnavailable: 0}
---
apiVersion: tide/v1
kind: Function                # scale to zero: no process until a request or event comes
metadata: {name: send-message}
spec:
  command: ["python3", "handler.py"]
  concurrency: 1
  idleTimeoutSeconds: 60      # stop the last instance after this long without requests
  autoscale: {minReplicas: 0, maxReplicas: 50, metric: concurrency, target: 1}
  triggers:
    - schedule: "*/5 * * * *" # cron: invoke on a schedule
---
apiVersion: tide/v1
kind: Layer                   # shared code for several workloads
metadata: {name: common}
spec: {path: /opt/tide/layers/common}
)";

// A valid Service whose spec continues with `extra` (each line indented by two spaces by the
// caller). `extra` starts on line 6.
std::string ServiceWith(const std::string& extra) {
  return "apiVersion: tide/v1\n"    // 1
         "kind: Service\n"          // 2
         "metadata: {name: app}\n"  // 3
         "spec:\n"                  // 4
         "  command: [run]\n"       // 5
         + extra;
}

std::string FunctionWith(const std::string& extra) {
  return "apiVersion: tide/v1\n"
         "kind: Function\n"
         "metadata: {name: fn}\n"
         "spec:\n"
         "  command: [run]\n" +
         extra;
}

std::string Dump(const std::vector<FieldError>& errors) {
  std::string s;
  for (const auto& e : errors) s += FormatFieldError(e) + "\n";
  return s;
}

// The source line `line` with a caret under `column`, for failure messages.
std::string Caret(const std::string& text, int line, int column) {
  size_t start = 0;
  for (int i = 1; i < line && start != std::string::npos; ++i) {
    start = text.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  if (start == std::string::npos || start > text.size()) return "<no such line>";
  std::string src = text.substr(start, text.find('\n', start) - start);
  return "\n" + src + "\n" + std::string(column > 0 ? column - 1 : 0, ' ') + "^\n";
}

// Expects exactly one error, at path/line/column, whose message contains `text`.
void ExpectOneError(const std::string& yaml, const std::string& path, int line, int column,
                    const std::string& text) {
  SCOPED_TRACE(yaml);
  ParseResult r = ParseManifests(yaml, "app.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << Dump(r.errors);
  const FieldError& e = r.errors[0];
  EXPECT_EQ(e.file, "app.yaml");
  EXPECT_EQ(e.path, path) << Dump(r.errors);
  EXPECT_EQ(e.line, line) << Dump(r.errors);
  EXPECT_EQ(e.column, column) << Dump(r.errors) << "actual:" << Caret(yaml, e.line, e.column)
                              << "expected:" << Caret(yaml, line, column);
  EXPECT_NE(e.message.find(text), std::string::npos) << e.message;
  EXPECT_TRUE(r.objects.empty());
}

TEST(ParseManifests, SpecExampleParsesWithItsValues) {
  ParseResult r = ParseManifests(kSpecExample, "spec.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  ASSERT_EQ(r.objects.size(), 3u);
  ASSERT_EQ(r.sources.size(), 3u);

  const Object& svc = r.objects[0];
  EXPECT_EQ(svc.kind, Kind::kService);
  EXPECT_EQ(svc.metadata.name, "users");
  EXPECT_EQ(svc.metadata.labels, (StringMap{{"team", "core"}}));
  const WorkloadSpec& s = svc.spec;
  EXPECT_EQ(s.command, (std::vector<std::string>{"./users-svc", "--port", "${PORT}"}));
  EXPECT_EQ(s.working_dir, "/srv/users");
  EXPECT_EQ(s.env, (StringMap{{"LOG_LEVEL", "info"}}));
  EXPECT_EQ(s.replicas, 2);
  ASSERT_TRUE(s.autoscale.has_value());
  EXPECT_EQ(s.autoscale->min_replicas, 1);
  EXPECT_EQ(s.autoscale->max_replicas, 10);
  EXPECT_EQ(s.autoscale->metric, "concurrency");
  EXPECT_DOUBLE_EQ(s.autoscale->target, 10);
  EXPECT_DOUBLE_EQ(s.autoscale->stable_window_seconds, 60);
  EXPECT_DOUBLE_EQ(s.autoscale->panic_window_seconds, 6);
  EXPECT_DOUBLE_EQ(s.autoscale->panic_threshold, 2.0);
  EXPECT_DOUBLE_EQ(s.autoscale->max_scale_up_rate, 10);
  EXPECT_DOUBLE_EQ(s.autoscale->tolerance, 0.1);
  EXPECT_EQ(s.concurrency, 0);
  EXPECT_DOUBLE_EQ(s.timeout_seconds, 30);
  EXPECT_DOUBLE_EQ(s.resources.cpu, 0.5);
  EXPECT_EQ(s.resources.memory_bytes, 128LL << 20);
  ASSERT_TRUE(s.readiness.has_value());
  EXPECT_EQ(s.readiness->type, Probe::Type::kHttp);
  EXPECT_EQ(s.readiness->http_path, "/healthz");
  ASSERT_TRUE(s.liveness.has_value());
  EXPECT_EQ(s.liveness->type, Probe::Type::kHttp);
  EXPECT_DOUBLE_EQ(s.liveness->period_seconds, 5);
  EXPECT_EQ(s.liveness->failure_threshold, 3);
  EXPECT_EQ(s.restart_policy, "Always");
  EXPECT_DOUBLE_EQ(s.termination_grace_period_seconds, 10);
  EXPECT_EQ(s.node_selector, (StringMap{{"zone", "a"}}));
  EXPECT_EQ(s.layers, (std::vector<std::string>{"common"}));
  EXPECT_EQ(s.rollout.max_surge, 1);
  EXPECT_EQ(s.rollout.max_unavailable, 0);

  const Object& fn = r.objects[1];
  EXPECT_EQ(fn.kind, Kind::kFunction);
  EXPECT_EQ(fn.metadata.name, "send-message");
  EXPECT_EQ(fn.spec.command, (std::vector<std::string>{"python3", "handler.py"}));
  EXPECT_EQ(fn.spec.concurrency, 1);
  EXPECT_DOUBLE_EQ(fn.spec.idle_timeout_seconds, 60);
  ASSERT_TRUE(fn.spec.autoscale.has_value());
  EXPECT_EQ(fn.spec.autoscale->min_replicas, 0);
  EXPECT_EQ(fn.spec.autoscale->max_replicas, 50);
  EXPECT_DOUBLE_EQ(fn.spec.autoscale->target, 1);
  ASSERT_EQ(fn.spec.triggers.size(), 1u);
  EXPECT_EQ(fn.spec.triggers[0].schedule, "*/5 * * * *");

  const Object& layer = r.objects[2];
  EXPECT_EQ(layer.kind, Kind::kLayer);
  EXPECT_EQ(layer.metadata.name, "common");
  EXPECT_EQ(layer.layer.path, "/opt/tide/layers/common");

  // Positions: where each object and its name start.
  EXPECT_EQ(r.sources[0].object.line, 1);
  EXPECT_EQ(r.sources[0].name.line, 4);
  EXPECT_EQ(r.sources[0].name.column, 9);
  ASSERT_EQ(r.sources[0].layers.size(), 1u);
  EXPECT_EQ(r.sources[0].layers[0].line, 29);
  EXPECT_EQ(r.sources[0].layers[0].column, 12);
  EXPECT_EQ(r.sources[1].object.line, 32);
  EXPECT_EQ(r.sources[2].name.line, 45);
  EXPECT_EQ(r.sources[2].name.file, "spec.yaml");

  std::vector<FieldError> batch;
  ValidateBatch(r, {}, &batch);
  EXPECT_TRUE(batch.empty()) << Dump(batch);
}

TEST(ParseManifests, FillsDefaults) {
  ParseResult r = ParseManifests(ServiceWith("") + "---\n" + FunctionWith(""), "d.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  ASSERT_EQ(r.objects.size(), 2u);
  const WorkloadSpec& s = r.objects[0].spec;
  EXPECT_EQ(s.replicas, 1);
  EXPECT_FALSE(s.autoscale.has_value());
  EXPECT_EQ(s.concurrency, 0);
  EXPECT_DOUBLE_EQ(s.timeout_seconds, 30);
  EXPECT_EQ(s.resources.memory_bytes, 0);
  EXPECT_FALSE(s.readiness.has_value());
  EXPECT_FALSE(s.liveness.has_value());
  EXPECT_EQ(s.restart_policy, "Always");
  EXPECT_DOUBLE_EQ(s.termination_grace_period_seconds, 10);
  EXPECT_EQ(s.rollout.max_surge, 1);
  EXPECT_EQ(s.rollout.max_unavailable, 0);
  EXPECT_DOUBLE_EQ(s.rollout.min_ready_seconds, 0);
  EXPECT_DOUBLE_EQ(s.rollout.progress_deadline_seconds, 60);
  EXPECT_DOUBLE_EQ(s.backoff.initial_seconds, 1);
  EXPECT_DOUBLE_EQ(s.backoff.max_seconds, 300);
  EXPECT_DOUBLE_EQ(s.backoff.reset_after_seconds, 600);
  EXPECT_EQ(r.objects[0].api_version, "tide/v1");

  const WorkloadSpec& f = r.objects[1].spec;
  ASSERT_TRUE(f.autoscale.has_value());  // a Function always has autoscale
  EXPECT_EQ(f.autoscale->min_replicas, 0);
  EXPECT_EQ(f.autoscale->max_replicas, 10);
  EXPECT_EQ(f.autoscale->metric, "concurrency");
  EXPECT_DOUBLE_EQ(f.autoscale->target, 10);
  EXPECT_DOUBLE_EQ(f.idle_timeout_seconds, 60);
}

TEST(ParseManifests, PartialBlocksKeepTheirDefaults) {
  ParseResult r = ParseManifests(ServiceWith("  autoscale: {maxReplicas: 5}\n"
                                             "  readiness: {tcp: true}\n"
                                             "  liveness: {exec: [check, --quick]}\n"
                                             "  backoff: {maxSeconds: 30}\n"
                                             "  rollout: {minReadySeconds: 2.5}\n"
                                             "  resources: {cpu: 500m, memory: 134217728}\n") +
                                     "---\n" + FunctionWith("  autoscale: {maxReplicas: 3}\n"),
                                 "p.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  const WorkloadSpec& s = r.objects[0].spec;
  EXPECT_EQ(s.autoscale->min_replicas, 1);  // Service default
  EXPECT_EQ(s.autoscale->max_replicas, 5);
  EXPECT_EQ(s.readiness->type, Probe::Type::kTcp);
  EXPECT_DOUBLE_EQ(s.readiness->period_seconds, 5);
  EXPECT_DOUBLE_EQ(s.readiness->timeout_seconds, 1);
  EXPECT_EQ(s.readiness->failure_threshold, 3);
  EXPECT_EQ(s.readiness->success_threshold, 1);
  EXPECT_EQ(s.liveness->type, Probe::Type::kExec);
  EXPECT_EQ(s.liveness->exec, (std::vector<std::string>{"check", "--quick"}));
  EXPECT_DOUBLE_EQ(s.backoff.initial_seconds, 1);
  EXPECT_DOUBLE_EQ(s.backoff.max_seconds, 30);
  EXPECT_EQ(s.rollout.max_surge, 1);
  EXPECT_DOUBLE_EQ(s.rollout.min_ready_seconds, 2.5);
  EXPECT_DOUBLE_EQ(s.rollout.progress_deadline_seconds, 60);
  EXPECT_DOUBLE_EQ(s.resources.cpu, 0.5);
  EXPECT_EQ(s.resources.memory_bytes, 134217728);
  EXPECT_EQ(r.objects[1].spec.autoscale->min_replicas, 0);  // Function default
  EXPECT_EQ(r.objects[1].spec.autoscale->max_replicas, 3);
}

TEST(ParseManifests, WireJsonOfAnObjectParsesBackToIt) {
  // What GET shows (api/json.h, every field filled) can be applied again unchanged.
  ParseResult r = ParseManifests(kSpecExample, "spec.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  for (const Object& o : r.objects) {
    nlohmann::json j = o;
    j["status"] = {{"readyReplicas", 1}};  // output-only, ignored on input
    ParseResult back = ParseManifests(j.dump(), "get.json");
    ASSERT_TRUE(back.ok()) << j.dump() << "\n" << Dump(back.errors);
    ASSERT_EQ(back.objects.size(), 1u);
    EXPECT_EQ(nlohmann::json(back.objects[0]), nlohmann::json(o));
  }
}

TEST(ParseManifests, UserIsANameOrNumericIds) {
  // A bare number is a uid (YAML reads it as an integer; its text is kept).
  for (const char* user : {"65534", "\"1000:1000\"", "app", "nobody"}) {
    ParseResult r = ParseManifests(ServiceWith(std::string("  user: ") + user + "\n"), "u.yaml");
    ASSERT_TRUE(r.ok()) << user << ": " << Dump(r.errors);
    std::string want = user;
    if (want.front() == '"') want = want.substr(1, want.size() - 2);
    EXPECT_EQ(r.objects[0].spec.user, want);
    nlohmann::json j = r.objects[0];
    EXPECT_EQ(j["spec"]["user"], want);
  }
  ParseResult none = ParseManifests(ServiceWith(""), "u.yaml");
  ASSERT_TRUE(none.ok()) << Dump(none.errors);
  EXPECT_EQ(none.objects[0].spec.user, "");
}

TEST(ParseManifests, ScalarsKeepTheirText) {
  // Plain numbers and booleans are fine where text is expected; nothing is reinterpreted.
  ParseResult r = ParseManifests(
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: a, labels: {on: yes, v: 1.10}}\n"
      "spec:\n  command: [srv, --port, 8080, true]\n  env: {A: 010, B: null, C: ''}\n",
      "s.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  const Object& o = r.objects[0];
  EXPECT_EQ(o.metadata.labels, (StringMap{{"on", "yes"}, {"v", "1.10"}}));
  EXPECT_EQ(o.spec.command, (std::vector<std::string>{"srv", "--port", "8080", "true"}));
  EXPECT_EQ(o.spec.env, (StringMap{{"A", "010"}, {"B", ""}, {"C", ""}}));
}

struct ErrorCase {
  std::string yaml;
  std::string path;
  int line;
  int column;
  std::string text;
};

TEST(ParseManifests, EachErrorKindHasItsPosition) {
  const std::vector<ErrorCase> cases = {
      // Unknown fields, at every level, with a suggestion.
      {ServiceWith("  replica: 2\n"), "spec.replica", 6, 3, "did you mean \"replicas\""},
      {ServiceWith("  autoscale: {maxReplica: 2}\n"), "spec.autoscale.maxReplica", 6, 15,
       "unknown field"},
      {ServiceWith("  readiness: {httpGet: /h, period: 2}\n"), "spec.readiness.period", 6, 28,
       "unknown field"},
      {"apiVersion: tide/v1\nkind: Layer\nmetadata: {name: l, namespace: x}\nspec: {path: /l}\n",
       "metadata.namespace", 3, 21, "unknown field"},
      {"apiVersion: tide/v1\nkind: Layer\nmetadata: {name: l}\nspec: {path: /l}\nextra: 1\n",
       "extra", 5, 1, "unknown field"},
      {ServiceWith("  replicas: 1\n  replicas: 2\n"), "spec.replicas", 7, 3, "duplicate field"},
      // Wrong types.
      {ServiceWith("  replicas: \"2\"\n"), "spec.replicas", 6, 13,
       "must be an integer, got string"},
      {ServiceWith("  replicas: 1.5\n"), "spec.replicas", 6, 13, "must be an integer"},
      {ServiceWith("  replicas: [1]\n"), "spec.replicas", 6, 13, "got a list"},
      {ServiceWith("  timeoutSeconds: soon\n"), "spec.timeoutSeconds", 6, 19, "must be a number"},
      {ServiceWith("  env: [A=1]\n"), "spec.env", 6, 8, "must be an object"},
      {ServiceWith("  layers: common\n"), "spec.layers", 6, 11, "must be a list"},
      {ServiceWith("  readiness: {tcp: yes}\n"), "spec.readiness.tcp", 6, 20, "true or false"},
      {ServiceWith("  workingDir: {a: 1}\n"), "spec.workingDir", 6, 15, "must be a string"},
      {ServiceWith("  user: www:www\n"), "spec.user", 6, 9, "a group can only follow"},
      {ServiceWith("  user: [1000]\n"), "spec.user", 6, 9, "must be a string"},
      {ServiceWith("  user: \"4294967295\"\n"), "spec.user", 6, 9, "0 to 4294967294"},
      {ServiceWith("  user: \"-u root\"\n"), "spec.user", 6, 9, "not a valid user name"},
      {ServiceWith("  replicas: 99999999999999999999\n"), "spec.replicas", 6, 13, "out of range"},
      // Names.
      {"apiVersion: tide/v1\nkind: Layer\nmetadata: {name: My_Layer}\nspec: {path: /l}\n",
       "metadata.name", 3, 18, "DNS label"},
      {"apiVersion: tide/v1\nkind: Layer\nmetadata: {name: 1abc}\nspec: {path: /l}\n",
       "metadata.name", 3, 18, "starting with a letter"},
      {"apiVersion: tide/v1\nkind: Layer\nmetadata: {name: abc-}\nspec: {path: /l}\n",
       "metadata.name", 3, 18, "DNS label"},
      {"apiVersion: tide/v1\nkind: Layer\nmetadata: {name: " + std::string(64, 'a') +
           "}\nspec: {path: /l}\n",
       "metadata.name", 3, 18, "1-63"},
      {ServiceWith("  layers: [ok, Bad]\n"), "spec.layers[1]", 6, 16, "layer name"},
      {ServiceWith("  layers: [ok, ok]\n"), "spec.layers[1]", 6, 16, "listed twice"},
      {"apiVersion: tide/v1\nkind: Layer\nmetadata:\n  name: l\n  labels: {\"a b\": x}\n"
       "spec: {path: /l}\n",
       "metadata.labels[\"a b\"]", 5, 12, "bad label key"},
      {"apiVersion: tide/v1\nkind: Layer\nmetadata:\n  name: l\n  labels: {a: \"-x\"}\n"
       "spec: {path: /l}\n",
       "metadata.labels.a", 5, 15, "bad label value"},
      {ServiceWith("  nodeSelector: {zone: \"a b\"}\n"), "spec.nodeSelector.zone", 6, 24,
       "bad label value"},
      // Environment variables.
      {ServiceWith("  env: {PORT: \"80\"}\n"), "spec.env.PORT", 6, 9, "reserved"},
      {ServiceWith("  env: {TIDE_NODE: x}\n"), "spec.env.TIDE_NODE", 6, 9, "reserved"},
      {ServiceWith("  env: {9LIVES: x}\n"), "spec.env.9LIVES", 6, 9, "environment variable name"},
      {ServiceWith("  env: {A-B: x}\n"), "spec.env.A-B", 6, 9, "environment variable name"},
      // Bad values.
      {ServiceWith("  replicas: -1\n"), "spec.replicas", 6, 13, "must not be negative"},
      {ServiceWith("  autoscale: {minReplicas: 5, maxReplicas: 3}\n"), "spec.autoscale.minReplicas",
       6, 28, "must not be greater than maxReplicas (3)"},
      {ServiceWith("  autoscale: {minReplicas: 20}\n"), "spec.autoscale.minReplicas", 6, 28,
       "the default"},
      {ServiceWith("  autoscale: {minReplicas: 0}\n"), "spec.autoscale.minReplicas", 6, 28,
       "always on"},
      {ServiceWith("  autoscale: {maxReplicas: 0}\n"), "spec.autoscale.maxReplicas", 6, 28,
       "at least 1"},
      {ServiceWith("  autoscale: {metric: memory}\n"), "spec.autoscale.metric", 6, 23,
       "concurrency, rps, cpu"},
      {ServiceWith("  autoscale: {target: 0}\n"), "spec.autoscale.target", 6, 23, "greater than 0"},
      {ServiceWith("  autoscale: {target: -3}\n"), "spec.autoscale.target", 6, 23,
       "greater than 0"},
      {ServiceWith("  autoscale: {metric: cpu}\n"), "spec.autoscale.metric", 6, 23,
       "spec.resources.cpu"},
      {ServiceWith("  autoscale: {panicWindowSeconds: 90}\n"), "spec.autoscale.panicWindowSeconds",
       6, 35, "stableWindowSeconds"},
      {ServiceWith("  autoscale: {maxScaleUpRate: 1}\n"), "spec.autoscale.maxScaleUpRate", 6, 31,
       "greater than 1"},
      {ServiceWith("  autoscale: {tolerance: 1}\n"), "spec.autoscale.tolerance", 6, 26, "below 1"},
      {ServiceWith("  restartPolicy: Sometimes\n"), "spec.restartPolicy", 6, 18,
       "Always, OnFailure, Never"},
      {ServiceWith("  restartPolicy: always\n"), "spec.restartPolicy", 6, 18,
       "did you mean Always"},
      {ServiceWith("  timeoutSeconds: 0\n"), "spec.timeoutSeconds", 6, 19, "greater than 0"},
      {ServiceWith("  terminationGracePeriodSeconds: 1e12\n"), "spec.terminationGracePeriodSeconds",
       6, 34, "at most"},
      {ServiceWith("  concurrency: -1\n"), "spec.concurrency", 6, 16, "negative"},
      {ServiceWith("  resources: {memory: 128m}\n"), "spec.resources.memory", 6, 23,
       "did you mean 128Mi"},
      {ServiceWith("  resources: {memory: lots}\n"), "spec.resources.memory", 6, 23,
       "not a memory size"},
      {ServiceWith("  resources: {cpu: -1}\n"), "spec.resources.cpu", 6, 20, "negative"},
      {ServiceWith("  resources: {cpu: [1]}\n"), "spec.resources.cpu", 6, 20, "cores"},
      {ServiceWith("  readiness: {httpGet: /h, tcp: true}\n"), "spec.readiness", 6, 14,
       "only one of"},
      {ServiceWith("  readiness: {httpGet: healthz}\n"), "spec.readiness.httpGet", 6, 24,
       "starting with '/'"},
      {ServiceWith("  readiness: {tcp: false}\n"), "spec.readiness.tcp", 6, 20, "not a probe"},
      {ServiceWith("  readiness: {exec: []}\n"), "spec.readiness.exec", 6, 21, "must not be empty"},
      {ServiceWith("  readiness: {failureThreshold: 0}\n"), "spec.readiness.failureThreshold", 6,
       33, "at least 1"},
      {ServiceWith("  liveness: {tcp: true, successThreshold: 2}\n"),
       "spec.liveness.successThreshold", 6, 43, "must be 1"},
      {ServiceWith("  readiness: /healthz\n"), "spec.readiness", 6, 14, "must be an object"},
      {ServiceWith("  rollout: {maxSurge: 0, maxUnavailable: 0}\n"), "spec.rollout", 6, 12,
       "both be 0"},
      {ServiceWith("  rollout: {minReadySeconds: -1}\n"), "spec.rollout.minReadySeconds", 6, 30,
       "negative"},
      {ServiceWith("  rollout: {progressDeadlineSeconds: 0}\n"),
       "spec.rollout.progressDeadlineSeconds", 6, 38, "greater than 0"},
      {ServiceWith("  rollout: {minReadySeconds: 30, progressDeadlineSeconds: 30}\n"),
       "spec.rollout.progressDeadlineSeconds", 6, 59, "greater than minReadySeconds"},
      {ServiceWith("  rollout: {minReadySeconds: 90}\n"), "spec.rollout.minReadySeconds", 6, 30,
       "greater than minReadySeconds"},
      {ServiceWith("  rollout: {minReadySecond: 5}\n"), "spec.rollout.minReadySecond", 6, 13,
       "minReadySeconds"},
      {ServiceWith("  backoff: {initialSeconds: 10, maxSeconds: 5}\n"), "spec.backoff.maxSeconds",
       6, 45, "initialSeconds"},
      {ServiceWith("  backoff: {initialSeconds: 0}\n"), "spec.backoff.initialSeconds", 6, 29,
       "greater than 0"},
      {ServiceWith("  triggers: [{schedule: \"* * * * *\"}]\n"), "spec.triggers", 6, 13,
       "only for Functions"},
      {FunctionWith("  triggers: [{schedule: \"61 * * * *\"}]\n"), "spec.triggers[0].schedule", 6,
       25, "minute field"},
      {FunctionWith("  triggers: [{schedule: \"* * *\"}]\n"), "spec.triggers[0].schedule", 6, 25,
       "5 fields"},
      {FunctionWith("  triggers:\n  - {}\n"), "spec.triggers[0].schedule", 7, 5, "required"},
      {FunctionWith("  idleTimeoutSeconds: 0\n"), "spec.idleTimeoutSeconds", 6, 23,
       "greater than 0"},
      {FunctionWith("  autoscale: {minReplicas: -1}\n"), "spec.autoscale.minReplicas", 6, 28,
       "negative"},
      // Empty command.
      {"apiVersion: tide/v1\nkind: Service\nmetadata: {name: a}\nspec: {command: []}\n",
       "spec.command", 4, 17, "must not be empty"},
      {"apiVersion: tide/v1\nkind: Service\nmetadata: {name: a}\nspec: {command: [\"\", x]}\n",
       "spec.command[0]", 4, 18, "must not be empty"},
      {"apiVersion: tide/v1\nkind: Service\nmetadata: {name: a}\nspec: {command: [x, [y]]}\n",
       "spec.command[1]", 4, 21, "must be a string"},
      // Missing required fields: reported at the enclosing mapping.
      {"kind: Layer\nmetadata: {name: l}\nspec: {path: /l}\n", "apiVersion", 1, 1, "required"},
      {"apiVersion: tide/v2\nkind: Layer\nmetadata: {name: l}\nspec: {path: /l}\n", "apiVersion", 1,
       13, "must be tide/v1"},
      {"apiVersion: tide/v1\nmetadata: {name: l}\nspec: {path: /l}\n", "kind", 1, 1, "required"},
      {"apiVersion: tide/v1\nkind: Servce\nmetadata: {name: l}\nspec: {path: /l}\n", "kind", 2, 7,
       "did you mean Service"},
      {"apiVersion: tide/v1\nkind: Layer\nspec: {path: /l}\n", "metadata", 1, 1, "required"},
      {"apiVersion: tide/v1\nkind: Layer\nmetadata: {labels: {}}\nspec: {path: /l}\n",
       "metadata.name", 3, 11, "required"},
      {"apiVersion: tide/v1\nkind: Layer\nmetadata:\n  name:\nspec: {path: /l}\n", "metadata.name",
       4, 3, "required"},
      {"apiVersion: tide/v1\nkind: Layer\nmetadata: {name: l}\n", "spec", 1, 1, "required"},
      {"apiVersion: tide/v1\nkind: Layer\nmetadata: {name: l}\nspec: {}\n", "spec.path", 4, 7,
       "required"},
      {"apiVersion: tide/v1\nkind: Layer\nmetadata: {name: l}\nspec: {path: lib/x}\n", "spec.path",
       4, 14, "absolute"},
      {"apiVersion: tide/v1\nkind: Service\nmetadata: {name: a}\nspec:\n  workingDir: /x\n",
       "spec.command", 5, 3, "required"},
      {"apiVersion: tide/v1\nkind: Function\nmetadata: {name: a}\nspec: {replicas: 1}\n",
       "spec.command", 4, 7, "required"},
      // Not an object at all.
      {"just text\n", "", 1, 1, "must be an object"},
      {"- 1\n", "[0]", 1, 3, "must be an object"},
      // YAML syntax errors.
      {"apiVersion: tide/v1\nkind: [Service\n", "", 3, 1, "YAML syntax error"},
      {"apiVersion: tide/v1\n  kind: Service\n", "", 2, 7, "YAML syntax error"},
      {"a: b: c\n", "", 1, 5, "YAML syntax error"},
  };
  for (const auto& c : cases) ExpectOneError(c.yaml, c.path, c.line, c.column, c.text);
}

TEST(ParseManifests, ReportsAllErrorsAtOnceInOrder) {
  ParseResult r = ParseManifests(
      "apiVersion: tide/v1\n"  // 1
      "kind: Service\n"
      "metadata: {name: Bad_Name}\n"  // 3
      "spec:\n"
      "  command: []\n"   // 5
      "  replicas: -2\n"  // 6
      "  colour: blue\n"  // 7
      "---\n"
      "apiVersion: tide/v1\n"  // 9
      "kind: Function\n"
      "metadata: {name: ok}\n"
      "spec:\n"
      "  command: [x]\n"
      "  env: {PORT: \"1\"}\n"                    // 14
      "  autoscale: {metric: qps, target: 0}\n",  // 15
      "many.yaml");
  ASSERT_EQ(r.errors.size(), 7u) << Dump(r.errors);
  std::vector<std::string> paths;
  for (const auto& e : r.errors) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"metadata.name", "spec.command", "spec.replicas",
                                             "spec.colour", "spec.env.PORT",
                                             "spec.autoscale.metric", "spec.autoscale.target"}));
  EXPECT_EQ(r.errors[4].line, 14);
  EXPECT_EQ(r.errors[6].line, 15);
  EXPECT_EQ(r.errors[6].column, 36);
  for (const auto& e : r.errors) EXPECT_EQ(e.file, "many.yaml");
  EXPECT_TRUE(r.objects.empty());
  ASSERT_EQ(r.rejected.size(), 1u);  // the Function named itself; the Service did not
  EXPECT_EQ(r.rejected[0].name, "ok");
}

TEST(ParseManifests, MultiDocumentSequencesAndLists) {
  ParseResult r = ParseManifests(
      "---\n"
      "# only a comment\n"
      "---\n"
      "apiVersion: tide/v1\nkind: Layer\nmetadata: {name: one}\nspec: {path: /1}\n"
      "---\n"
      "- apiVersion: tide/v1\n  kind: Layer\n  metadata: {name: two}\n  spec: {path: /2}\n"
      "- {apiVersion: tide/v1, kind: Layer, metadata: {name: three}, spec: {path: /3}}\n"
      "---\n"
      "apiVersion: v1\nkind: List\nitems:\n"
      "- {apiVersion: tide/v1, kind: Layer, metadata: {name: four}, spec: {path: /4}}\n"
      "...\n",
      "multi.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  ASSERT_EQ(r.objects.size(), 4u);
  EXPECT_EQ(r.objects[0].metadata.name, "one");
  EXPECT_EQ(r.objects[1].metadata.name, "two");
  EXPECT_EQ(r.objects[2].metadata.name, "three");
  EXPECT_EQ(r.objects[3].metadata.name, "four");
  EXPECT_EQ(r.sources[1].object.line, 9);
  EXPECT_EQ(r.sources[2].object.line, 13);
  EXPECT_EQ(r.sources[3].object.line, 18);

  EXPECT_TRUE(ParseManifests("", "e.yaml").objects.empty());
  EXPECT_TRUE(ParseManifests("", "e.yaml").ok());

  ExpectOneError("kind: List\nitems:\n- {kind: List, items: []}\n", "items[0]", 3, 3, "nested");
  ExpectOneError("kind: List\nitems: {}\n", "items", 2, 8, "must be a list");
  ExpectOneError("kind: List\napiVersion: v2\nitems: []\n", "apiVersion", 2, 13, "tide/v1");
  ExpectOneError("kind: List\n", "items", 1, 1, "required");
}

TEST(ParseManifests, AcceptsJson) {
  ParseResult r = ParseManifests(
      R"({"apiVersion":"tide/v1","kind":"Service","metadata":{"name":"api","labels":{"tier":"web"}},
"spec":{"command":["./api","--port","${PORT}"],"replicas":3,"resources":{"cpu":"250m","memory":"64Mi"},
"autoscale":null,"readiness":{"httpGet":"/ready"}}})",
      "api.json");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].spec.replicas, 3);
  EXPECT_FALSE(r.objects[0].spec.autoscale.has_value());
  EXPECT_DOUBLE_EQ(r.objects[0].spec.resources.cpu, 0.25);
  EXPECT_EQ(r.objects[0].spec.resources.memory_bytes, 64LL << 20);
  EXPECT_EQ(r.objects[0].spec.readiness->http_path, "/ready");

  // A JSON array of objects, with an error located on its line and column.
  ParseResult bad = ParseManifests(
      "[{\"apiVersion\":\"tide/v1\",\"kind\":\"Layer\",\"metadata\":{\"name\":\"a\"},"
      "\"spec\":{\"path\":\"/a\"}},\n"
      " {\"apiVersion\":\"tide/v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"b\"},"
      "\"spec\":{\"command\":[\"x\"],\"replicas\":\"3\"}}]",
      "arr.json");
  ASSERT_EQ(bad.errors.size(), 1u) << Dump(bad.errors);
  EXPECT_EQ(bad.errors[0].path, "spec.replicas");
  EXPECT_EQ(bad.errors[0].line, 2);
  EXPECT_EQ(bad.errors[0].column, 102);
  EXPECT_EQ(bad.objects.size(), 1u);  // the valid Layer
}

TEST(ValidateBatch, DuplicatesAndSharedWorkloadNames) {
  ParseResult r = ParseManifests(
      "apiVersion: tide/v1\nkind: Layer\nmetadata: {name: lib}\nspec: {path: /a}\n"  // 1-4
      "---\n"
      "apiVersion: tide/v1\nkind: Layer\nmetadata: {name: lib}\nspec: {path: /b}\n"  // 6-9
      "---\n"
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: web}\nspec: {command: [x]}\n"  // 11
      "---\n"
      "apiVersion: tide/v1\nkind: Function\nmetadata: {name: web}\nspec: {command: [x]}\n"  // 16
      "---\n"
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: lib}\nspec: {command: [x]}\n",  // 21
      "dup.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  std::vector<FieldError> errors;
  ValidateBatch(r, {}, &errors);
  ASSERT_EQ(errors.size(), 2u) << Dump(errors);  // a Service may share a Layer's name
  EXPECT_EQ(errors[0].path, "metadata.name");
  EXPECT_EQ(errors[0].line, 8);
  EXPECT_EQ(errors[0].column, 18);
  EXPECT_EQ(errors[0].file, "dup.yaml");
  EXPECT_NE(errors[0].message.find("duplicate Layer \"lib\""), std::string::npos);
  EXPECT_NE(errors[0].message.find("dup.yaml:3:18"), std::string::npos);
  EXPECT_EQ(errors[1].line, 18);
  EXPECT_NE(errors[1].message.find("share one name space"), std::string::npos);
}

TEST(ValidateBatch, LayersMustExist) {
  ParseResult r = ParseManifests(
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: web}\n"
      "spec:\n  command: [x]\n  layers: [here, on-server, nowhere]\n"  // line 6
      "---\n"
      "apiVersion: tide/v1\nkind: Layer\nmetadata: {name: here}\nspec: {path: /h}\n",
      "layers.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  std::vector<FieldError> errors;
  ValidateBatch(r, {"on-server"}, &errors);
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  EXPECT_EQ(errors[0].path, "spec.layers[2]");
  EXPECT_EQ(errors[0].line, 6);
  EXPECT_EQ(errors[0].column, 29);
  EXPECT_NE(errors[0].message.find("unknown layer \"nowhere\""), std::string::npos);

  errors.clear();
  ValidateBatch(r, {}, &errors);
  ASSERT_EQ(errors.size(), 2u) << Dump(errors);
  EXPECT_EQ(errors[0].path, "spec.layers[1]");
}

TEST(ValidateBatch, RejectedLayerDoesNotCascadeAndFilesAreKept) {
  ParseResult a = ParseManifests(
      "apiVersion: tide/v1\nkind: Layer\nmetadata: {name: lib}\nspec: {path: relative}\n",
      "a.yaml");
  ParseResult b = ParseManifests(
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: web}\n"
      "spec: {command: [x], layers: [lib]}\n",
      "b.yaml");
  EXPECT_EQ(a.errors.size(), 1u);
  ASSERT_EQ(a.rejected.size(), 1u);
  EXPECT_TRUE(b.ok());
  AppendParseResult(&a, std::move(b));
  ASSERT_EQ(a.objects.size(), 1u);
  ASSERT_EQ(a.sources.size(), 1u);
  EXPECT_EQ(a.sources[0].name.file, "b.yaml");
  std::vector<FieldError> errors;
  ValidateBatch(a, {}, &errors);
  EXPECT_TRUE(errors.empty()) << Dump(errors);  // only the Layer's own path error stands
  EXPECT_EQ(a.errors.size(), 1u);
  EXPECT_EQ(a.errors[0].file, "a.yaml");
}

TEST(FieldErrors, JsonAndTextForms) {
  std::vector<FieldError> errors = {{"a.yaml", 7, 13, "spec.replicas", "must not be negative"},
                                    {"", 0, 0, "", "too big"}};
  nlohmann::json j = FieldErrorsToJson(errors);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0], (nlohmann::json{{"file", "a.yaml"},
                                  {"line", 7},
                                  {"column", 13},
                                  {"path", "spec.replicas"},
                                  {"message", "must not be negative"}}));
  auto back = FieldErrorsFromJson(j);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].line, 7);
  EXPECT_EQ(back[0].path, "spec.replicas");
  EXPECT_EQ(FormatFieldError(errors[0]), "a.yaml:7:13: spec.replicas: must not be negative");
  EXPECT_EQ(FormatFieldError(errors[1]), "<input>: too big");
  EXPECT_TRUE(FieldErrorsFromJson(nlohmann::json("x")).empty());
}

TEST(Names, Rules) {
  EXPECT_TRUE(IsDnsLabel("a"));
  EXPECT_TRUE(IsDnsLabel("send-message-2"));
  EXPECT_TRUE(IsDnsLabel(std::string(63, 'a')));
  EXPECT_FALSE(IsDnsLabel(std::string(64, 'a')));
  EXPECT_FALSE(IsDnsLabel(""));
  EXPECT_FALSE(IsDnsLabel("2a"));
  EXPECT_FALSE(IsDnsLabel("-a"));
  EXPECT_FALSE(IsDnsLabel("a-"));
  EXPECT_FALSE(IsDnsLabel("A"));
  EXPECT_FALSE(IsDnsLabel("a.b"));
  EXPECT_TRUE(IsEnvVarName("_X1"));
  EXPECT_FALSE(IsEnvVarName("1X"));
  EXPECT_FALSE(IsEnvVarName("A B"));
  std::string why;
  EXPECT_TRUE(IsLabelKey("app.kubernetes.io/name", &why));
  EXPECT_TRUE(IsLabelKey("Team_1.x", &why));
  EXPECT_FALSE(IsLabelKey("Bad.Prefix/x", &why));
  EXPECT_FALSE(IsLabelKey("/x", &why));
  EXPECT_FALSE(IsLabelKey("", &why));
  EXPECT_TRUE(IsLabelValue("", &why));
  EXPECT_FALSE(IsLabelValue("a b", &why));
}

// ---- shipped manifests ---------------------------------------------------------------------

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The text of the first ```lang block after `heading` in markdown `md`.
std::string CodeBlockAfter(const std::string& md, const std::string& heading,
                           const std::string& lang) {
  size_t h = md.find(heading);
  if (h == std::string::npos) return "";
  size_t start = md.find("```" + lang + "\n", h);
  if (start == std::string::npos) return "";
  start += 4 + lang.size();
  size_t end = md.find("```", start);
  return end == std::string::npos ? "" : md.substr(start, end - start);
}

TEST(ShippedManifests, DocsExampleIsValid) {
  std::string md = ReadFile(std::filesystem::path(TIDE_SOURCE_DIR) / "docs/manifests.md");
  ASSERT_FALSE(md.empty());
  std::string yaml = CodeBlockAfter(md, "## A complete example", "yaml");
  ParseResult r = ParseManifests(yaml, "docs/manifests.md");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  ASSERT_EQ(r.objects.size(), 3u);
  std::vector<FieldError> batch;
  ValidateBatch(r, {}, &batch);
  EXPECT_TRUE(batch.empty()) << Dump(batch);
  EXPECT_EQ(r.objects[1].spec.resources.memory_bytes, 256LL << 20);

  ParseResult j =
      ParseManifests(CodeBlockAfter(md, "The same Function in JSON", "json"), "docs/manifests.md");
  ASSERT_TRUE(j.ok()) << Dump(j.errors);
  ASSERT_EQ(j.objects.size(), 1u);
  EXPECT_EQ(j.objects[0].spec.autoscale->max_replicas, 50);
  EXPECT_EQ(j.objects[0].spec.autoscale->min_replicas, 0);
}

TEST(ShippedManifests, ExamplesDirectoryIsValid) {
  std::filesystem::path dir = std::filesystem::path(TIDE_SOURCE_DIR) / "manifests";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "no manifests/ directory";
  ParseResult all;
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    std::string ext = entry.path().extension().string();
    if (!entry.is_regular_file() || (ext != ".yaml" && ext != ".yml" && ext != ".json")) continue;
    ++files;
    AppendParseResult(&all, ParseManifests(ReadFile(entry.path()), entry.path().string()));
  }
  EXPECT_TRUE(all.ok()) << Dump(all.errors);
  std::vector<FieldError> batch;
  ValidateBatch(all, {}, &batch);
  // Files are applied one by one too, so duplicates across files are not errors; unknown
  // layers are.
  for (const auto& e : batch)
    EXPECT_EQ(e.path.find("spec.layers"), std::string::npos) << FormatFieldError(e);
  if (files == 0) GTEST_SKIP() << "no manifests yet";
}

// ---- hostile input: never a crash, never an exception, always an answer ----------------------

TEST(ParseManifests, RejectsOversizedInput) {
  std::string big(kMaxManifestBytes + 1, '#');
  ParseResult r = ParseManifests(big, "big.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("too large"), std::string::npos);
}

TEST(ParseManifests, RejectsDeepNesting) {
  for (const std::string& text : {std::string(100000, '['), std::string(5000, '{'),
                                  "a: " + std::string(3000, '[') + std::string(3000, ']')}) {
    ParseResult r = ParseManifests(text, "deep.yaml");
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.objects.empty());
  }
  std::string block;
  for (int i = 0; i < 1200; ++i) block += std::string(i, ' ') + "a:\n";
  ParseResult r = ParseManifests(block, "deep.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors[0].message.find("nested too deeply"), std::string::npos) << Dump(r.errors);
}

TEST(ParseManifests, SurvivesAliasCycles) {
  // An alias inside its own anchor makes a cyclic node graph.
  ParseResult r = ParseManifests(
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: a}\nspec: &s {command: *s}\n", "c");
  ASSERT_EQ(r.errors.size(), 1u) << Dump(r.errors);
  EXPECT_EQ(r.errors[0].path, "spec.command");
  EXPECT_NE(r.errors[0].message.find("must be a list"), std::string::npos);
}

TEST(ParseManifests, ValueBudgetStopsAliasFanOut) {
  // One anchored object repeated through 200000 aliases: about 1 MB of text, millions of values.
  std::string text =
      "- &o {apiVersion: tide/v1, kind: Service, metadata: {name: a}, spec: {command: [x], "
      "env: {A: b}}}\n";
  for (int i = 0; i < 200000; ++i) text += "- *o\n";
  auto start = std::chrono::steady_clock::now();
  ParseResult r = ParseManifests(text, "budget.yaml");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Dump(r.errors).find("manifest too large"), std::string::npos);
  EXPECT_LE(r.errors.size(), kMaxManifestErrors + 1);
}

TEST(ParseManifests, CapsTheNumberOfErrors) {
  std::string text =
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: a}\nspec:\n"
      "  command: [x]\n  env:\n";
  for (int i = 0; i < 1500; ++i) text += "    \"bad-" + std::to_string(i) + "\": x\n";
  ParseResult r = ParseManifests(text, "many.yaml");
  ASSERT_EQ(r.errors.size(), kMaxManifestErrors + 1);
  EXPECT_NE(r.errors.back().message.find("too many errors"), std::string::npos);
}

TEST(ParseManifests, MutatedInputNeverThrows) {
  std::mt19937 rng(12345);
  const std::string base = kSpecExample;
  const std::string alphabet = "{}[]:,-&*!|>'\"#%@` \n\t\\0aZ9.~?";
  int parsed_ok = 0;
  for (int i = 0; i < 300; ++i) {
    std::string text = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      size_t pos = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          text.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        default:
          text.erase(pos, 1 + rng() % 8);
          break;
      }
#if defined(__GNUC__) && !defined(__clang__)  // GCC bug 105329: at -O3 GCC 12 reports a bogus
#pragma GCC diagnostic push                   // -Wrestrict in assigning a one-character literal
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
      if (text.empty()) text = "x";
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    }
    ParseResult r;
    EXPECT_NO_THROW(r = ParseManifests(text, "m.yaml"));
    if (r.ok()) ++parsed_ok;
    for (const auto& e : r.errors) {
      EXPECT_FALSE(e.message.empty());
      EXPECT_GE(e.line, 0);
    }
  }
  EXPECT_LT(parsed_ok, 300);  // the mutations do break things
  std::string binary;
  for (int i = 0; i < 4096; ++i) binary += static_cast<char>(rng() % 256);
  EXPECT_NO_THROW(ParseManifests(binary, "bin"));
}

}  // namespace
}  // namespace tide

namespace tide {
namespace {

std::string ReadCrash(const std::string& name) {
  std::ifstream in(std::string(TIDE_SOURCE_DIR) + "/tests/fuzz/crashes/" + name, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The fuzzer's findings (tests/fuzz/crashes/): each is now a clear error that serializes.
TEST(ManifestHostileInput, FuzzFindingsAreErrors) {
  for (const char* f :
       {"manifest-yaml-cpp-loops-forever-min.yaml", "manifest-yaml-cpp-loops-forever.yaml",
        "manifest-invalid-utf8-accepted.yaml", "manifest-error-message-splits-utf8.yaml",
        "manifest-describe-cuts-utf8.yaml", "manifest-nul-bytes-taken-for-utf32.yaml"}) {
    std::string text = ReadCrash(f);
    ASSERT_FALSE(text.empty()) << f;
    ParseResult r = ParseManifests(text, f);
    EXPECT_FALSE(r.ok()) << f;
    EXPECT_NO_THROW(FieldErrorsToJson(r.errors).dump()) << f;
  }
  ParseResult comma = ParseManifests(",", "x.yaml");
  ASSERT_EQ(comma.errors.size(), 1u);
  EXPECT_NE(comma.errors[0].message.find("','"), std::string::npos);
  ParseResult bad = ParseManifests("apiVersion: tide/v1\nkind: \xff\n", "x.yaml");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].line, 2);
  EXPECT_EQ(bad.errors[0].column, 7);
}

}  // namespace
}  // namespace tide
