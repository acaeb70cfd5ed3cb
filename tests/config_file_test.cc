// tided --config FILE: every flag is a key (its name in camelCase), checked as the flag is, and
// the command line wins. Real tided processes.
#include <gtest/gtest.h>

#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

// Runs tided with only --config and --data-dir; returns its exit status (it must exit at once).
int RunWithConfig(const TempDir& dir, const std::string& yaml, std::string* log) {
  WriteFile(dir.path() + "/tided.yaml", yaml);
  Proc p({TidedBin(), "--config", dir.path() + "/tided.yaml", "--data-dir", dir.path() + "/data",
          "--api-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0"},
         dir.path() + "/tided.log");
  int code = p.Terminate(0, 10s);  // signal 0: only waits for it to exit
  *log = p.Log();
  return code;
}

TEST(ConfigFileTest, UnknownOrNegatedKeysAreRefusedByName) {
  TempDir dir;
  std::string log;
  EXPECT_EQ(RunWithConfig(dir, "bogusSetting: 1\n", &log), 2);
  EXPECT_NE(log.find("unknown setting 'bogusSetting'"), std::string::npos) << log;
  // A negated flag name would flip its option the other way round: not a key.
  EXPECT_EQ(RunWithConfig(dir, "noAllowRoot: true\n", &log), 2);
  EXPECT_NE(log.find("unknown setting 'noAllowRoot'"), std::string::npos) << log;
  EXPECT_EQ(RunWithConfig(dir, "config: other.yaml\n", &log), 2);
  EXPECT_NE(log.find("unknown setting 'config'"), std::string::npos) << log;
}

TEST(ConfigFileTest, ValuesAreCheckedAsTheFlagChecksThem) {
  TempDir dir;
  std::string log;
  EXPECT_EQ(RunWithConfig(dir, "apiMaxConnections: 0\n", &log), 2);
  EXPECT_NE(log.find("apiMaxConnections"), std::string::npos) << log;
  EXPECT_EQ(RunWithConfig(dir, "gatewayIoThreads: many\n", &log), 2);
  EXPECT_NE(log.find("gatewayIoThreads"), std::string::npos) << log;
  EXPECT_EQ(RunWithConfig(dir, "apiListen: [a, b]\n", &log), 2);
  EXPECT_NE(log.find("apiListen: expected a single value"), std::string::npos) << log;
}

// The API limits (--api-*) are keys too: a rate of 1 request per second per token, burst 2,
// answers 429 to the third of a quick run of calls.
TEST(ConfigFileTest, ApiLimitsTakeEffectFromTheFile) {
  TempDir dir;
  WriteFile(dir.path() + "/tided.yaml", "apiRatePerToken: 1\n");
  Tided::Options o;
  o.extra_args = {"--config", dir.path() + "/tided.yaml"};
  Tided tided(dir.path(), o);
  int limited = 0;
  for (int i = 0; i < 10; ++i) limited += tided.Get("/v1/workloads").status == 429 ? 1 : 0;
  EXPECT_GE(limited, 5);
}

TEST(ConfigFileTest, TheCommandLineWins) {
  TempDir dir;
  WriteFile(dir.path() + "/tided.yaml", "apiRatePerToken: 1\n");
  Tided::Options o;
  o.extra_args = {"--config", dir.path() + "/tided.yaml", "--api-rate-per-token", "0"};
  Tided tided(dir.path(), o);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(tided.Get("/v1/workloads").status, 200);
}

}  // namespace
}  // namespace tide::testing
