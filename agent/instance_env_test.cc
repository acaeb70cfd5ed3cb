#include "agent/instance_env.h"

#include <gtest/gtest.h>

namespace tide {
namespace {

InstanceAssignment Assignment() {
  InstanceAssignment a;
  a.id = "users-3f2a";
  a.workload = "users";
  a.spec.mut().command = {"./users-svc", "--port", "${PORT}"};
  a.spec.mut().env = {{"LOG_LEVEL", "info"}, {"PORT", "1"}};
  return a;
}

TEST(InstanceEnvTest, BaseEnvSpecEnvAndTideVariables) {
  StringMap agent = {
      {"PATH", "/opt/bin:/usr/bin"}, {"HOME", "/root"}, {"LANG", "C.UTF-8"}, {"SECRET_TOKEN", "x"}};
  StringMap env = BuildInstanceEnv(Assignment(), "node-a", 20001, agent);
  EXPECT_EQ(env["PATH"], "/opt/bin:/usr/bin");
  EXPECT_EQ(env["HOME"], "/root");
  EXPECT_EQ(env["LANG"], "C.UTF-8");
  EXPECT_EQ(env.count("SECRET_TOKEN"), 0u);
  EXPECT_EQ(env["LOG_LEVEL"], "info");
  EXPECT_EQ(env["PORT"], "20001");  // the agent's PORT wins over spec.env
  EXPECT_EQ(env["TIDE_WORKLOAD"], "users");
  EXPECT_EQ(env["TIDE_INSTANCE"], "users-3f2a");
  EXPECT_EQ(env["TIDE_NODE"], "node-a");
  EXPECT_EQ(env.count("LD_LIBRARY_PATH"), 0u);
}

TEST(InstanceEnvTest, DefaultPathWhenAgentHasNone) {
  StringMap env = BuildInstanceEnv(Assignment(), "n", 1, {});
  EXPECT_EQ(env["PATH"], "/usr/local/bin:/usr/bin:/bin");
  EXPECT_EQ(env.count("HOME"), 0u);
}

TEST(InstanceEnvTest, LayersPrependedFirstLayerFirst) {
  InstanceAssignment a = Assignment();
  a.spec.mut().env["LD_LIBRARY_PATH"] = "/usr/local/lib";
  a.layers = {{"common-py", "/layers/common"}, {"extra", "/layers/extra"}};
  StringMap env = BuildInstanceEnv(a, "n", 1, {{"PATH", "/usr/bin"}});
  EXPECT_EQ(env["PATH"], "/layers/common/bin:/layers/extra/bin:/usr/bin");
  EXPECT_EQ(env["LD_LIBRARY_PATH"], "/layers/common/lib:/layers/extra/lib:/usr/local/lib");
  EXPECT_EQ(env["PYTHONPATH"], "/layers/common:/layers/extra");
  EXPECT_EQ(env["NODE_PATH"], "/layers/common:/layers/extra");
  EXPECT_EQ(env["TIDE_LAYER_COMMON_PY"], "/layers/common");
  EXPECT_EQ(env["TIDE_LAYER_EXTRA"], "/layers/extra");
}

TEST(InstanceEnvTest, LayerEnvName) {
  EXPECT_EQ(LayerEnvName("my-layer2"), "TIDE_LAYER_MY_LAYER2");
}

TEST(InstanceEnvTest, ExpandVars) {
  StringMap env = {{"PORT", "8080"}, {"A", "x"}};
  EXPECT_EQ(ExpandVars("--port=${PORT}", env), "--port=8080");
  EXPECT_EQ(ExpandVars("${A}${A}-${MISSING}-", env), "xx--");
  EXPECT_EQ(ExpandVars("$$PORT costs $$5", env), "$PORT costs $5");
  EXPECT_EQ(ExpandVars("$$${PORT}", env), "$8080");
  EXPECT_EQ(ExpandVars("$PORT $ ${unterminated", env), "$PORT $ ${unterminated");
  EXPECT_EQ(ExpandVars("end$", env), "end$");
  EXPECT_EQ(ExpandVars("", env), "");
}

TEST(InstanceEnvTest, ExpandArgvFromBuiltEnv) {
  InstanceAssignment a = Assignment();
  StringMap env = BuildInstanceEnv(a, "n", 20005, {});
  auto argv = ExpandArgv(a.spec->command, env);
  ASSERT_EQ(argv.size(), 3u);
  EXPECT_EQ(argv[0], "./users-svc");
  EXPECT_EQ(argv[2], "20005");
}

TEST(InstanceEnvTest, CurrentProcessEnvSeesSetenv) {
  ::setenv("TIDE_ENV_TEST_VAR", "a=b", 1);
  StringMap env = CurrentProcessEnv();
  EXPECT_EQ(env["TIDE_ENV_TEST_VAR"], "a=b");
  ::unsetenv("TIDE_ENV_TEST_VAR");
}

}  // namespace
}  // namespace tide
