#include "api/quantity.h"

#include <gtest/gtest.h>

namespace tide {
namespace {

int64_t Mem(std::string_view s) {
  int64_t v = -1;
  std::string err;
  EXPECT_TRUE(ParseMemory(s, &v, &err)) << s << ": " << err;
  return v;
}

std::string MemErr(std::string_view s) {
  int64_t v = -1;
  std::string err;
  EXPECT_FALSE(ParseMemory(s, &v, &err)) << s;
  EXPECT_EQ(v, -1);
  return err;
}

TEST(ParseMemory, PlainBytesAndUnits) {
  EXPECT_EQ(Mem("134217728"), 134217728);
  EXPECT_EQ(Mem("0"), 0);
  EXPECT_EQ(Mem("256Mi"), 256LL << 20);
  EXPECT_EQ(Mem("2Gi"), 2LL << 30);
  EXPECT_EQ(Mem("1Ki"), 1024);
  EXPECT_EQ(Mem("3Ti"), 3LL << 40);
  EXPECT_EQ(Mem("1k"), 1000);
  EXPECT_EQ(Mem("1K"), 1000);
  EXPECT_EQ(Mem("128M"), 128000000);
  EXPECT_EQ(Mem("1G"), 1000000000);
  EXPECT_EQ(Mem("2T"), 2000000000000LL);
  EXPECT_EQ(Mem("1.5Gi"), 3LL << 29);
  EXPECT_EQ(Mem("0.5Ki"), 512);
}

TEST(ParseMemory, Errors) {
  EXPECT_NE(MemErr("-1").find("negative"), std::string::npos);
  EXPECT_NE(MemErr("128m").find("did you mean 128Mi"), std::string::npos);
  EXPECT_NE(MemErr("12XB").find("unknown unit"), std::string::npos);
  EXPECT_NE(MemErr("1.5").find("whole number"), std::string::npos);
  EXPECT_NE(MemErr("").find("not a memory size"), std::string::npos);
  EXPECT_NE(MemErr("Gi").find("not a memory size"), std::string::npos);
  EXPECT_NE(MemErr("9999999Pi").find("too large"), std::string::npos);
  EXPECT_NE(MemErr("99999999999999999999999").find("too large"), std::string::npos);
  MemErr(" 1Gi");
  MemErr("1 Gi");
  MemErr("1.Gi");
}

TEST(FormatMemory, PicksExactUnitAndRoundTrips) {
  EXPECT_EQ(FormatMemory(256LL << 20), "256Mi");
  EXPECT_EQ(FormatMemory(2LL << 30), "2Gi");
  EXPECT_EQ(FormatMemory(1536), "1536");  // 1.5Ki: no unit divides it exactly
  EXPECT_EQ(FormatMemory(128000000), "128M");
  EXPECT_EQ(FormatMemory(1001), "1001");
  EXPECT_EQ(FormatMemory(1000), "1k");
  EXPECT_EQ(FormatMemory(1024000), "1024k");  // shorter than 1000Ki
  EXPECT_EQ(FormatMemory(1LL << 30), "1Gi");
  EXPECT_EQ(FormatMemory(0), "0");
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{1000}, int64_t{1024}, int64_t{134217728},
                    int64_t{123456789}, int64_t{5} << 40, int64_t{3000000000000}}) {
    EXPECT_EQ(Mem(FormatMemory(v)), v) << v;
  }
}

double Cpu(std::string_view s) {
  double v = -1;
  std::string err;
  EXPECT_TRUE(ParseCpu(s, &v, &err)) << s << ": " << err;
  return v;
}

TEST(ParseCpu, CoresAndMillicores) {
  EXPECT_DOUBLE_EQ(Cpu("0.5"), 0.5);
  EXPECT_DOUBLE_EQ(Cpu("500m"), 0.5);
  EXPECT_DOUBLE_EQ(Cpu("2"), 2);
  EXPECT_DOUBLE_EQ(Cpu("1500m"), 1.5);
  EXPECT_DOUBLE_EQ(Cpu("0"), 0);
  double v = -1;
  std::string err;
  EXPECT_FALSE(ParseCpu("-1", &v, &err));
  EXPECT_NE(err.find("negative"), std::string::npos);
  EXPECT_FALSE(ParseCpu("0.5m", &v, &err));
  EXPECT_FALSE(ParseCpu("2cores", &v, &err));
  EXPECT_NE(err.find("unknown unit"), std::string::npos);
  EXPECT_FALSE(ParseCpu("", &v, &err));
  EXPECT_FALSE(ParseCpu("1e9", &v, &err));
  EXPECT_EQ(v, -1);
}

TEST(FormatCpu, RoundTrips) {
  EXPECT_EQ(FormatCpu(0.5), "500m");
  EXPECT_EQ(FormatCpu(0.25), "250m");
  EXPECT_EQ(FormatCpu(2), "2");
  EXPECT_EQ(FormatCpu(1.5), "1.5");
  for (double v : {0.0, 0.001, 0.1, 0.5, 1.0, 1.25, 4.0, 64.0}) {
    EXPECT_DOUBLE_EQ(Cpu(FormatCpu(v)), v) << v;
  }
}

int64_t Dur(std::string_view s) {
  int64_t v = -1;
  std::string err;
  EXPECT_TRUE(ParseDuration(s, &v, &err)) << s << ": " << err;
  return v;
}

TEST(ParseDuration, Units) {
  EXPECT_EQ(Dur("10s"), 10000);
  EXPECT_EQ(Dur("1.5s"), 1500);
  EXPECT_EQ(Dur("250ms"), 250);
  EXPECT_EQ(Dur("2m"), 120000);
  EXPECT_EQ(Dur("1h"), 3600000);
  EXPECT_EQ(Dur("1m30s"), 90000);
  EXPECT_EQ(Dur("1h2m3s4ms"), 3723004);
  EXPECT_EQ(Dur("0"), 0);
  EXPECT_EQ(Dur("0s"), 0);
  EXPECT_EQ(Dur("0.5ms"), 1);  // rounded to the nearest millisecond
}

TEST(ParseDuration, Errors) {
  int64_t v = -1;
  std::string err;
  EXPECT_FALSE(ParseDuration("10", &v, &err));
  EXPECT_NE(err.find("no unit"), std::string::npos);
  EXPECT_FALSE(ParseDuration("10d", &v, &err));
  EXPECT_NE(err.find("unknown unit"), std::string::npos);
  EXPECT_FALSE(ParseDuration("-5s", &v, &err));
  EXPECT_NE(err.find("negative"), std::string::npos);
  EXPECT_FALSE(ParseDuration("", &v, &err));
  EXPECT_FALSE(ParseDuration("s", &v, &err));
  EXPECT_FALSE(ParseDuration("1s ", &v, &err));
  EXPECT_FALSE(ParseDuration("99999999999999999999h", &v, &err));
  EXPECT_EQ(v, -1);
}

TEST(FormatDuration, RoundTrips) {
  EXPECT_EQ(FormatDuration(10000), "10s");
  EXPECT_EQ(FormatDuration(250), "250ms");
  EXPECT_EQ(FormatDuration(1500), "1.5s");
  EXPECT_EQ(FormatDuration(90000), "1m30s");
  EXPECT_EQ(FormatDuration(3600000), "1h");
  EXPECT_EQ(FormatDuration(0), "0s");
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{1000}, int64_t{1001},
                    int64_t{61500}, int64_t{3723004}, int64_t{86400000}}) {
    EXPECT_EQ(Dur(FormatDuration(v)), v) << v;
  }
}

}  // namespace
}  // namespace tide
