#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/json.h"
#include "api/manifest.h"
#include "api/manifest_testutil.h"

// What each field of an object accepts and defaults to, and every kind of error with its path and
// position; documents, Lists, batches and hostile input are in api/manifest_test.cc.
namespace tide {
namespace {

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

TEST(ParseManifests, IdleTimeoutIsSecondsOrAuto) {
  ParseResult r = ParseManifests(FunctionWith("  idleTimeoutSeconds: auto\n"), "f.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  EXPECT_TRUE(r.objects[0].spec.idle_timeout_auto);
  // The wire form says auto, and reads back as auto (GET output can be applied again).
  nlohmann::json j = r.objects[0];
  EXPECT_EQ(j["spec"]["idleTimeoutSeconds"], "auto");
  Object back = j.get<Object>();
  EXPECT_TRUE(back.spec.idle_timeout_auto);
  EXPECT_EQ(back.spec, r.objects[0].spec);
  ParseResult again = ParseManifests(j.dump(), "f.json");
  ASSERT_TRUE(again.ok()) << Dump(again.errors);
  EXPECT_TRUE(again.objects[0].spec.idle_timeout_auto);

  ParseResult num = ParseManifests(FunctionWith("  idleTimeoutSeconds: 2.5\n"), "f.yaml");
  ASSERT_TRUE(num.ok()) << Dump(num.errors);
  EXPECT_FALSE(num.objects[0].spec.idle_timeout_auto);
  EXPECT_EQ(num.objects[0].spec.idle_timeout_seconds, 2.5);
  nlohmann::json nj = num.objects[0];
  EXPECT_EQ(nj["spec"]["idleTimeoutSeconds"], 2.5);
  EXPECT_FALSE(nj.get<Object>().spec.idle_timeout_auto);
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
      {FunctionWith("  idleTimeoutSeconds: Auto\n"), "spec.idleTimeoutSeconds", 6, 23,
       "must be a number of seconds or auto, got string \"Auto\""},
      {FunctionWith("  idleTimeoutSeconds: \"10\"\n"), "spec.idleTimeoutSeconds", 6, 23,
       "must be a number of seconds or auto"},
      {FunctionWith("  idleTimeoutSeconds: [auto]\n"), "spec.idleTimeoutSeconds", 6, 23,
       "must be a number"},
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

}  // namespace
}  // namespace tide
