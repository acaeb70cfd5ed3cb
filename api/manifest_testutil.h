// Helpers shared by the manifest tests (api/manifest_test.cc, api/manifest_spec_test.cc): a
// full example, small valid manifests to extend, and checks of one error's path and position.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/manifest.h"

namespace tide {

// A two-workload-and-a-layer example covering most fields (as in docs/manifests.md).
inline const char* const kSpecExample = R"(apiVersion: tide/v1
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
inline std::string ServiceWith(const std::string& extra) {
  return "apiVersion: tide/v1\n"    // 1
         "kind: Service\n"          // 2
         "metadata: {name: app}\n"  // 3
         "spec:\n"                  // 4
         "  command: [run]\n"       // 5
         + extra;
}

inline std::string FunctionWith(const std::string& extra) {
  return "apiVersion: tide/v1\n"
         "kind: Function\n"
         "metadata: {name: fn}\n"
         "spec:\n"
         "  command: [run]\n" +
         extra;
}

inline std::string Dump(const std::vector<FieldError>& errors) {
  std::string s;
  for (const auto& e : errors) s += FormatFieldError(e) + "\n";
  return s;
}

// The spec of the one object `yaml` holds, which must parse without errors.
inline WorkloadSpec ParseOneSpec(const std::string& yaml) {
  ParseResult r = ParseManifests(yaml, "app.yaml");
  EXPECT_TRUE(r.ok()) << Dump(r.errors);
  EXPECT_EQ(r.objects.size(), 1u);
  return r.objects.empty() ? WorkloadSpec{} : r.objects[0].spec;
}

// The source line `line` with a caret under `column`, for failure messages.
inline std::string Caret(const std::string& text, int line, int column) {
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
inline void ExpectOneError(const std::string& yaml, const std::string& path, int line, int column,
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

}  // namespace tide
