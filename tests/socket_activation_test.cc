// spec.socketActivation end to end: the agent listens on $PORT before the program starts and
// hands the socket over as fd 3 (LISTEN_FDS), so an instance is Ready as soon as it runs and a
// Function's first request waits in the kernel's accept queue instead of behind a readiness
// probe. The program (bench/tiny_http) takes START_DELAY_MS before it accepts anything.
#include <gtest/gtest.h>

#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

std::string FunctionYaml(const std::string& name, bool activation) {
  return "apiVersion: tide/v1\nkind: Function\nmetadata: {name: " + name +
         "}\nspec:\n  command: [\"" + TIDE_TINY_HTTP_BIN +
         "\"]\n  env: {START_DELAY_MS: \"700\", BODY_BYTES: \"16\"}\n"
         "  resources: {memory: 64Mi}\n  idleTimeoutSeconds: 60\n" +
         (activation ? "  socketActivation: true\n" : "");
}

// Milliseconds from the instance's start to its Ready, from GET /v1/instances.
int64_t StartToReadyMs(const Tided& tided, const std::string& name) {
  json items = tided.Instances(name);
  if (items.size() != 1) return -1;
  return items[0].value("readyAtMs", int64_t{0}) - items[0].value("startedAtMs", int64_t{0});
}

TEST(SocketActivationTest, AnActivatedFunctionIsReadyBeforeItsProgramListens) {
  TempDir dir;
  Tided::Options o;
  o.local_agent = true;
  Tided tided(dir.path(), o);
  for (const auto& [name, on] : {std::pair{"activated", true}, std::pair{"probed", false}}) {
    auto applied = tided.Post("/v1/apply", FunctionYaml(name, on));
    ASSERT_EQ(applied.status, 200) << applied.body;
  }
  const auto first = Http("GET", tided.gateway() + "/function/activated/");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.body.size(), 16u);
  const int64_t activated = StartToReadyMs(tided, "activated");
  EXPECT_GE(activated, 0) << tided.Instances("activated").dump(1);
  EXPECT_LT(activated, 400) << "Ready waited for the program (700 ms) instead of the socket";

  const auto probed_answer = Http("GET", tided.gateway() + "/function/probed/");
  ASSERT_EQ(probed_answer.status, 200) << probed_answer.body;
  EXPECT_GE(StartToReadyMs(tided, "probed"), 650) << "without activation Ready waits for the probe";
}

TEST(SocketActivationTest, TheFieldIsABoolean) {
  TempDir dir;
  Tided::Options o;
  o.local_agent = true;
  Tided tided(dir.path(), o);
  auto bad = tided.Post("/v1/apply",
                        "apiVersion: tide/v1\nkind: Function\nmetadata: {name: f}\nspec:\n"
                        "  command: [\"x\"]\n  socketActivation: \"yes\"\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("spec.socketActivation"), std::string::npos) << bad.body;
  EXPECT_NE(bad.body.find("must be true or false"), std::string::npos) << bad.body;
}

}  // namespace
}  // namespace tide::testing
