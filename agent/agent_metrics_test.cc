#include "agent/agent_metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace tide {
namespace {

InstanceStatus Inst(const std::string& id, const std::string& workload, InstanceState state) {
  InstanceStatus s;
  s.id = id;
  s.workload = workload;
  s.state = state;
  s.memory_bytes = 64 << 20;
  s.cpu_seconds_total = 1.5;
  s.limit_enforcer = "cgroup1";
  s.pids_enforcer = "cgroup2";
  return s;
}

TEST(AgentMetricsTest, EveryDeclaredFamilyIsServedWithHelpAndType) {
  const std::string text =
      RenderAgentMetrics("node-a", {Inst("web-1", "web", InstanceState::kReady)});
  for (const AgentMetricFamily* f : kAgentMetricFamilies) {
    EXPECT_NE(text.find(std::string("# HELP ") + f->name + " "), std::string::npos) << f->name;
    EXPECT_NE(text.find(std::string("# TYPE ") + f->name + " "), std::string::npos) << f->name;
  }
  EXPECT_NE(text.find("# TYPE tide_agent_instance_cpu_seconds_total counter"), std::string::npos);
  EXPECT_NE(text.find(R"(tide_agent_instances{node="node-a",state="Ready"} 1)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(tide_agent_instance_memory_bytes{instance="web-1",workload="web"} )"),
            std::string::npos)
      << text;
}

TEST(AgentMetricsTest, LimitsInfoSaysWhatEnforcesMemoryAndPids) {
  InstanceStatus unstarted = Inst("web-2", "web", InstanceState::kPending);
  unstarted.limit_enforcer.clear();
  unstarted.pids_enforcer.clear();
  const std::string text =
      RenderAgentMetrics("n", {Inst("web-1", "web", InstanceState::kReady), unstarted});
  EXPECT_NE(text.find(R"(tide_agent_instance_limits_info{instance="web-1",workload="web",)"
                      R"(memory="cgroup1",pids="cgroup2"} 1)"),
            std::string::npos)
      << text;
  // An instance that never started has no enforcer yet: no series.
  EXPECT_EQ(text.find(R"(tide_agent_instance_limits_info{instance="web-2")"), std::string::npos)
      << text;
}

TEST(AgentMetricsTest, InstancesAreCountedByState) {
  const std::string text = RenderAgentMetrics(
      "n", {Inst("a-1", "a", InstanceState::kReady), Inst("a-2", "a", InstanceState::kReady),
            Inst("a-3", "a", InstanceState::kCrashLoopBackOff)});
  EXPECT_NE(text.find(R"(tide_agent_instances{node="n",state="Ready"} 2)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(tide_agent_instances{node="n",state="CrashLoopBackOff"} 1)"),
            std::string::npos)
      << text;
}

// Label values come from operators (--name) and the API (workload names are validated, but
// the agent does not rely on it): quotes, backslashes and newlines must be escaped, or one bad
// name breaks the whole scrape.
TEST(AgentMetricsTest, HostileLabelValuesAreEscaped) {
  const std::string node = "evil\"node\\x\nnext";
  const std::string text =
      RenderAgentMetrics(node, {Inst("i\"d", "w\\l\nx", InstanceState::kReady)});
  EXPECT_NE(text.find(R"(node="evil\"node\\x\nnext")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(instance="i\"d",workload="w\\l\nx")"), std::string::npos) << text;
  // Every line is a comment or one complete sample: no raw newline inside a label value.
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_EQ(line.rfind("tide_agent_", 0), 0u) << "broken line: " << line;
  }
}

// promtool's own verdict on the exposition (skipped where promtool is not installed).
TEST(AgentMetricsTest, PromtoolAcceptsTheExposition) {
  const std::string text =
      RenderAgentMetrics("node \"a\"", {Inst("web-1", "web", InstanceState::kReady),
                                        Inst("job-1", "job\\x", InstanceState::kFailed)});
  char dir_tmpl[] = "/tmp/tide-agent-metrics-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_tmpl), nullptr);
  const std::string dir = dir_tmpl, in = dir + "/metrics.txt", out = dir + "/promtool.out";
  std::ofstream(in) << text;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  char* argv[] = {const_cast<char*>("promtool"), const_cast<char*>("check"),
                  const_cast<char*>("metrics"), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "promtool", &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << "promtool not installed";
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  std::ifstream o(out);
  std::stringstream verdict;
  verdict << o.rdbuf();
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << verdict.str() << "\n" << text;
  EXPECT_EQ(verdict.str(), "") << text;
}

}  // namespace
}  // namespace tide
