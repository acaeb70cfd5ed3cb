#include "cli/format.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace tide::cli {
namespace {

TEST(FormatTest, Ages) {
  EXPECT_EQ(FormatAge(0), "0s");
  EXPECT_EQ(FormatAge(45'000), "45s");
  EXPECT_EQ(FormatAge(119'000), "119s");
  EXPECT_EQ(FormatAge(192'000), "3m12s");
  EXPECT_EQ(FormatAge(47 * 60'000), "47m");
  EXPECT_EQ(FormatAge((5 * 60 + 3) * 60'000LL), "5h3m");
  EXPECT_EQ(FormatAge(26 * 3600'000LL), "26h");
  EXPECT_EQ(FormatAge((3 * 24 + 4) * 3600'000LL), "3d4h");
  EXPECT_EQ(FormatAge(45 * 24 * 3600'000LL), "45d");
  EXPECT_EQ(FormatAge(-5), "0s");
}

TEST(FormatTest, TimesFromNumbersAndRfc3339) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(ParseRfc3339("2026-11-27T21:07:26.123Z"), 1795813646123);
  EXPECT_EQ(ParseRfc3339("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_FALSE(ParseRfc3339("yesterday"));
  EXPECT_FALSE(ParseRfc3339(""));
  EXPECT_EQ(ParseTimeMs(json(1234)), 1234);
  EXPECT_FALSE(ParseTimeMs(json(0)));
  EXPECT_FALSE(ParseTimeMs(json()));
  EXPECT_EQ(AgeOf(json("1970-01-01T00:00:10Z"), 70'000), "60s");
  EXPECT_EQ(AgeOf(json(""), 70'000), "-");
}

TEST(FormatTest, Quantities) {
  EXPECT_EQ(FormatBytes(0), "0");
  EXPECT_EQ(FormatBytes(512), "512");
  EXPECT_EQ(FormatBytes(1536), "1.5Ki");
  EXPECT_EQ(FormatBytes(128.0 * 1024 * 1024), "128Mi");
  EXPECT_EQ(FormatBytes(2.0 * 1024 * 1024 * 1024), "2Gi");
  EXPECT_EQ(FormatCpu(0.5), "500m");
  EXPECT_EQ(FormatCpu(2), "2");
  EXPECT_EQ(FormatCpu(0), "0");
  EXPECT_EQ(FormatSeconds(30), "30s");
  EXPECT_EQ(FormatSeconds(90), "1m30s");
  EXPECT_EQ(FormatSeconds(0.5), "500ms");
  EXPECT_EQ(FormatSeconds(3600), "1h");
  EXPECT_EQ(NumText(2.0), "2");
  EXPECT_EQ(NumText(0.25), "0.25");
}

TEST(FormatTest, Durations) {
  double s = 0;
  ASSERT_TRUE(ParseDuration("60s", &s).ok());
  EXPECT_DOUBLE_EQ(s, 60);
  ASSERT_TRUE(ParseDuration("1m30s", &s).ok());
  EXPECT_DOUBLE_EQ(s, 90);
  ASSERT_TRUE(ParseDuration("2h", &s).ok());
  EXPECT_DOUBLE_EQ(s, 7200);
  ASSERT_TRUE(ParseDuration("500ms", &s).ok());
  EXPECT_DOUBLE_EQ(s, 0.5);
  ASSERT_TRUE(ParseDuration("15", &s).ok());
  EXPECT_DOUBLE_EQ(s, 15);
  EXPECT_FALSE(ParseDuration("", &s).ok());
  EXPECT_FALSE(ParseDuration("10x", &s).ok());
  EXPECT_FALSE(ParseDuration("s10", &s).ok());
}

TEST(FormatTest, JsonToYamlRoundTrips) {
  json j = json::parse(R"({"name":"users","replicas":2,"cpu":0.5,"on":true,"tag":"123",
                           "yes":"yes","empty":"","list":["a","b"],"none":[],"map":{"k":"v"},
                           "multi":"a\nb","text":"line 1\nline 2\n","nil":null})");
  std::string y = JsonToYaml(j);
  YAML::Node n = YAML::Load(y);
  EXPECT_EQ(n["name"].as<std::string>(), "users");
  EXPECT_EQ(n["replicas"].as<int>(), 2);
  EXPECT_DOUBLE_EQ(n["cpu"].as<double>(), 0.5);
  EXPECT_TRUE(n["on"].as<bool>());
  EXPECT_EQ(n["tag"].as<std::string>(), "123");
  EXPECT_EQ(n["tag"].Tag(), "!");  // quoted: stays a string for YAML readers
  EXPECT_EQ(n["yes"].Tag(), "!");
  EXPECT_EQ(n["empty"].as<std::string>(), "");
  EXPECT_EQ(n["list"][1].as<std::string>(), "b");
  EXPECT_EQ(n["none"].size(), 0u);
  EXPECT_EQ(n["map"]["k"].as<std::string>(), "v");
  EXPECT_EQ(n["multi"].as<std::string>(), "a\nb");
  EXPECT_EQ(n["text"].as<std::string>(), "line 1\nline 2\n");
  EXPECT_TRUE(n["nil"].IsNull());
}

TEST(FormatTest, LenientAccess) {
  json j = json::parse(R"({"status":{"ready":2,"phase":"Running","cmd":["a","b"],"e":""},
                           "metadata":{"labels":{"team":"core","tier":"web"}}})");
  EXPECT_EQ(Str(j, "status.ready"), "2");
  EXPECT_EQ(Str(j, "status.phase"), "Running");
  EXPECT_EQ(Str(j, "status.cmd"), "a b");
  EXPECT_EQ(Str(j, "status.e"), "-");
  EXPECT_EQ(Str(j, "status.missing"), "-");
  EXPECT_EQ(Str(j, "status.phase.deeper", "x"), "x");
  EXPECT_DOUBLE_EQ(Num(j, "status.ready"), 2);
  EXPECT_DOUBLE_EQ(Num(j, "status.phase", 7), 7);
  EXPECT_EQ(LabelsText(At(j, "metadata.labels")), "team=core,tier=web");
  EXPECT_EQ(LabelsText(json::object()), "<none>");
}

}  // namespace
}  // namespace tide::cli
