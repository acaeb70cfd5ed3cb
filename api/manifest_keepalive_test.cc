#include <gtest/gtest.h>

#include <string>

#include "api/json.h"
#include "api/manifest.h"
#include "api/manifest_testutil.h"

// spec.keepAlive (issue 13, the frozen tier): defaults, how stopAfterSeconds relates to
// idleTimeoutSeconds, and every bad value rejected with an error at its position.
namespace tide {
namespace {

TEST(ManifestKeepAlive, AbsentByDefault) {
  EXPECT_FALSE(ParseOneSpec(FunctionWith("")).keep_alive.has_value());
}

TEST(ManifestKeepAlive, StopAfterDefaultsToTheIdleTimeout) {
  WorkloadSpec s = ParseOneSpec(FunctionWith("  keepAlive: {freezeAfterSeconds: 1}\n"));
  ASSERT_TRUE(s.keep_alive);
  EXPECT_EQ(s.keep_alive->freeze_after_seconds, 1);
  EXPECT_EQ(s.keep_alive->stop_after_seconds, 60);  // the default idleTimeoutSeconds
  EXPECT_EQ(s.idle_timeout_seconds, 60);

  s = ParseOneSpec(
      FunctionWith("  idleTimeoutSeconds: 30\n  keepAlive: {freezeAfterSeconds: 0.5}\n"));
  EXPECT_EQ(s.keep_alive->freeze_after_seconds, 0.5);
  EXPECT_EQ(s.keep_alive->stop_after_seconds, 30);
}

TEST(ManifestKeepAlive, StopAfterSetsTheIdleTimeout) {
  WorkloadSpec s =
      ParseOneSpec(FunctionWith("  keepAlive: {freezeAfterSeconds: 10, stopAfterSeconds: 600}\n"));
  EXPECT_EQ(s.keep_alive->stop_after_seconds, 600);
  EXPECT_EQ(s.idle_timeout_seconds, 600);  // the scale policy stops the last instance then
  // The same value in both places is fine (that is what GET shows, so it can be applied again).
  s = ParseOneSpec(FunctionWith(
      "  idleTimeoutSeconds: 600\n  keepAlive: {freezeAfterSeconds: 10, stopAfterSeconds: 600}\n"));
  EXPECT_EQ(s.idle_timeout_seconds, 600);
}

TEST(ManifestKeepAlive, ConflictsAndOrderAreErrors) {
  ExpectOneError(FunctionWith("  idleTimeoutSeconds: 60\n  keepAlive: {freezeAfterSeconds: 1, "
                              "stopAfterSeconds: 120}\n"),
                 "spec.keepAlive.stopAfterSeconds", 7, 56,
                 "conflicts with spec.idleTimeoutSeconds (60)");
  ExpectOneError(FunctionWith("  keepAlive: {freezeAfterSeconds: 5, stopAfterSeconds: 5}\n"),
                 "spec.keepAlive.freezeAfterSeconds", 6, 35,
                 "must be less than stopAfterSeconds (5), got 5");
  ExpectOneError(FunctionWith("  keepAlive: {freezeAfterSeconds: 90}\n"),
                 "spec.keepAlive.freezeAfterSeconds", 6, 35,
                 "less than the default idleTimeoutSeconds (60)");
  ExpectOneError(FunctionWith("  idleTimeoutSeconds: 2\n  keepAlive: {freezeAfterSeconds: 3}\n"),
                 "spec.keepAlive.freezeAfterSeconds", 7, 35,
                 "less than spec.idleTimeoutSeconds (2)");
}

TEST(ManifestKeepAlive, BadValuesNameTheField) {
  const std::string at = "  keepAlive: {freezeAfterSeconds: ";
  for (const char* bad : {"0", "-1", "abc", "1e12", "true"}) {
    ExpectOneError(FunctionWith(at + bad + "}\n"), "spec.keepAlive.freezeAfterSeconds", 6, 35, "");
  }
  ExpectOneError(FunctionWith("  keepAlive: {freezeAfterSeconds: 1, stopAfterSeconds: 0}\n"),
                 "spec.keepAlive.stopAfterSeconds", 6, 56, "");
  ExpectOneError(FunctionWith("  keepAlive: {stopAfterSeconds: 10}\n"),
                 "spec.keepAlive.freezeAfterSeconds", 6, 14, "required field is missing");
  ExpectOneError(FunctionWith("  keepAlive: {freezeAfterSeconds: 1, stopAfterSecs: 10}\n"),
                 "spec.keepAlive.stopAfterSecs", 6, 38, "unknown field");
  ExpectOneError(FunctionWith("  keepAlive: 10\n"), "spec.keepAlive", 6, 14, "");
  ExpectOneError(ServiceWith("  keepAlive: {freezeAfterSeconds: 1}\n"), "spec.keepAlive", 6, 14,
                 "only for Functions");
}

TEST(ManifestKeepAlive, SurvivesTheWireAndApplyingGetOutputAgain) {
  WorkloadSpec s =
      ParseOneSpec(FunctionWith("  keepAlive: {freezeAfterSeconds: 2, stopAfterSeconds: 20}\n"));
  json j = s;
  EXPECT_EQ(j["keepAlive"]["freezeAfterSeconds"], 2);
  EXPECT_EQ(j["keepAlive"]["stopAfterSeconds"], 20);
  EXPECT_EQ(j.get<WorkloadSpec>(), s);
  EXPECT_FALSE(json(ParseOneSpec(FunctionWith(""))).contains("keepAlive"));
  // GET output carries idleTimeoutSeconds 20 and keepAlive.stopAfterSeconds 20: no conflict.
  std::string again = FunctionWith("  idleTimeoutSeconds: " + j["idleTimeoutSeconds"].dump() +
                                   "\n  keepAlive: " + j["keepAlive"].dump() + "\n");
  EXPECT_EQ(ParseOneSpec(again).keep_alive, s.keep_alive);
}

}  // namespace
}  // namespace tide
