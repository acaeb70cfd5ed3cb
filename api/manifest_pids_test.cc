#include <gtest/gtest.h>

#include <string>

#include "api/json.h"
#include "api/manifest.h"
#include "api/manifest_testutil.h"

// spec.resources.pids (issue 15): the default, `unlimited`, and every bad value rejected with an
// error naming spec.resources.pids at its position. Enforcement is agent/pids_limit.h.
namespace tide {
namespace {

TEST(ManifestPids, DefaultIs1024ForServicesAndFunctions) {
  EXPECT_EQ(ParseOneSpec(ServiceWith("")).resources.pids, 1024);
  EXPECT_EQ(ParseOneSpec(FunctionWith("")).resources.pids, 1024);
  // Setting another resource leaves the default in place.
  EXPECT_EQ(ParseOneSpec(ServiceWith("  resources: {memory: 64Mi}\n")).resources.pids, 1024);
}

TEST(ManifestPids, NumbersAndUnlimited) {
  EXPECT_EQ(ParseOneSpec(ServiceWith("  resources: {pids: 64}\n")).resources.pids, 64);
  EXPECT_EQ(ParseOneSpec(FunctionWith("  resources: {pids: 1}\n")).resources.pids, 1);
  EXPECT_EQ(ParseOneSpec(ServiceWith("  resources: {pids: \"200\"}\n")).resources.pids, 200);
  EXPECT_EQ(ParseOneSpec(ServiceWith("  resources: {pids: 4194304}\n")).resources.pids, 4194304);
  EXPECT_EQ(ParseOneSpec(ServiceWith("  resources: {pids: unlimited}\n")).resources.pids, 0);
}

TEST(ManifestPids, BadValuesNameTheField) {
  // Line 6 is the resources line; column 21 is where the value of pids starts.
  const std::string at = "  resources: {pids: ";
  for (const char* bad : {"0", "-1", "4194305", "1.5", "64k", "0x40", "+64", "none", "\"\"",
                          "99999999999999999999", "true"}) {
    ExpectOneError(ServiceWith(at + bad + "}\n"), "spec.resources.pids", 6, 21,
                   "whole number of tasks from 1 to 4194304 or \"unlimited\"");
  }
  ExpectOneError(ServiceWith(at + "[64]}\n"), "spec.resources.pids", 6, 21, "got a list");
  ExpectOneError(FunctionWith(at + "{max: 64}}\n"), "spec.resources.pids", 6, 21, "got an object");
  ExpectOneError(ServiceWith("  resources: {pid: 64}\n"), "spec.resources.pid", 6, 15, "pids");
}

TEST(ManifestPids, SurvivesTheWireAndOldSpecsGetTheDefault) {
  WorkloadSpec s = ParseOneSpec(ServiceWith("  resources: {pids: 64}\n"));
  json j = s;
  EXPECT_EQ(j["resources"]["pids"], 64);
  EXPECT_EQ(j.get<WorkloadSpec>().resources.pids, 64);
  WorkloadSpec unlimited = ParseOneSpec(ServiceWith("  resources: {pids: unlimited}\n"));
  EXPECT_EQ(json(unlimited).get<WorkloadSpec>().resources.pids, 0);
  // A spec stored before pids existed reads back with the default, so it equals a fresh parse
  // (no rollout of every workload after an upgrade).
  j["resources"].erase("pids");
  EXPECT_EQ(j.get<WorkloadSpec>().resources.pids, 1024);
  EXPECT_EQ(json(ParseOneSpec(ServiceWith(""))).get<WorkloadSpec>(), ParseOneSpec(ServiceWith("")));
}

}  // namespace
}  // namespace tide
