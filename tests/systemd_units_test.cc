// The shipped systemd units (deploy/systemd), as installed: `systemd-analyze verify` accepts
// them, and `systemd-analyze security --offline=true` rates tided.service at most 3.0 and
// tide-agent.service at most kAgentCeiling (its exceptions are in the unit's comments and in
// docs/security.md). The binaries' installed paths are replaced by the built ones, since verify
// checks that ExecStart= names an executable. Skipped where systemd-analyze is absent.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/harness.h"

namespace tide::testing {
namespace {

// What tide-agent.service measured when written (3.0): hardening it lost would show here.
constexpr double kAgentCeiling = 3.0;
constexpr double kTidedCeiling = 3.0;

std::string Analyzer() {
  for (const char* p : {"/usr/bin/systemd-analyze", "/bin/systemd-analyze"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// Runs argv (no shell) in `dir` and returns its exit code with stdout and stderr together.
int RunCapture(const std::vector<std::string>& argv, const std::string& dir, std::string* output) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    ::setenv("SYSTEMD_COLORS", "0", 1);
    ::setenv("SYSTEMD_PAGER", "", 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  output->clear();
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) output->append(buf, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SystemdUnitsTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    analyzer_ = Analyzer();
    if (analyzer_.empty()) GTEST_SKIP() << "systemd-analyze is not installed (package systemd)";
  }
  // The unit as installed, with the built binary in place of /usr/local/bin/NAME.
  std::string Install(const std::string& unit) {
    std::string text = ReadFile(std::string(TIDE_SOURCE_DIR) + "/deploy/systemd/" + unit);
    EXPECT_FALSE(text.empty()) << unit;
    for (const auto& [installed, built] :
         {std::pair<std::string, std::string>{"/usr/local/bin/tided", TidedBin()},
          {"/usr/local/bin/tide-agent", AgentBin()}}) {
      for (size_t at; (at = text.find(installed)) != std::string::npos;) {
        text.replace(at, installed.size(), built);
      }
    }
    WriteFile(dir_.path() + "/" + unit, text);
    return text;
  }

  std::string analyzer_;
  TempDir dir_;
};

TEST_P(SystemdUnitsTest, VerifiesCleanly) {
  const std::string unit = GetParam();
  std::string text = Install(unit);
  EXPECT_NE(text.find("Type=notify"), std::string::npos);
  EXPECT_NE(text.find("WatchdogSec="), std::string::npos);
  std::string out;
  int rc = RunCapture({analyzer_, "verify", "--man=no", "./" + unit}, dir_.path(), &out);
  EXPECT_EQ(rc, 0) << out;
  // Warnings (unknown keys, bad values) leave the exit code 0 but name the unit: none allowed.
  EXPECT_EQ(out.find(unit), std::string::npos) << out;
}

TEST_P(SystemdUnitsTest, ExposureIsWithinItsCeiling) {
  const std::string unit = GetParam();
  Install(unit);
  std::string out;
  int rc = RunCapture({analyzer_, "security", "--offline=true", "--no-pager", "./" + unit},
                      dir_.path(), &out);
  std::smatch m;
  std::regex overall("Overall exposure level for " +
                     std::regex_replace(unit, std::regex("\\."), "\\.") + ": ([0-9]+\\.[0-9])");
  if (rc != 0 && !std::regex_search(out, m, overall) && out.find("offline") != std::string::npos) {
    GTEST_SKIP() << "this systemd-analyze has no --offline: " << out.substr(0, 300);
  }
  ASSERT_TRUE(std::regex_search(out, m, overall)) << out;
  double exposure = std::stod(m[1].str());
  double ceiling = unit == "tided.service" ? kTidedCeiling : kAgentCeiling;
  std::cout << unit << " exposure " << exposure << " (ceiling " << ceiling << ")\n";
  EXPECT_LE(exposure, ceiling) << out;
}

INSTANTIATE_TEST_SUITE_P(Units, SystemdUnitsTest,
                         ::testing::Values("tided.service", "tide-agent.service"),
                         [](const auto& info) {
                           return std::string(info.param) == "tided.service" ? "Tided" : "Agent";
                         });

// The agent's unit listens on loopback by default and takes its token as a credential.
TEST(SystemdUnits, AgentDefaultsToLoopbackAndCredentials) {
  std::string agent = ReadFile(std::string(TIDE_SOURCE_DIR) + "/deploy/systemd/tide-agent.service");
  EXPECT_NE(agent.find("--listen 127.0.0.1:7401"), std::string::npos);
  EXPECT_EQ(agent.find("0.0.0.0"), std::string::npos);
  EXPECT_NE(agent.find("LoadCredential=agent-token:"), std::string::npos);
  EXPECT_NE(agent.find("--token-file %d/agent-token"), std::string::npos);
  std::string tided = ReadFile(std::string(TIDE_SOURCE_DIR) + "/deploy/systemd/tided.service");
  EXPECT_NE(tided.find("--tokens-file %d/tokens.yaml"), std::string::npos);
  EXPECT_NE(tided.find("DynamicUser=yes"), std::string::npos);
}

}  // namespace
}  // namespace tide::testing
