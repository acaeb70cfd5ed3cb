#include "api/cron.h"

#include <gtest/gtest.h>

namespace tide {
namespace {

TEST(ValidateCron, AcceptsTheForms) {
  std::string err;
  for (const char* ok : {"*/5 * * * *", "0 0 * * *", "0-30/10 8-18 1,15 1-12 0-7", "* * * * *",
                         "59 23 31 12 7", "5,10,15 * * * 1-5", "  0   0  * * *  "}) {
    EXPECT_TRUE(ValidateCron(ok, &err)) << ok << ": " << err;
  }
}

TEST(ValidateCron, RejectsWithTheField) {
  std::string err;
  EXPECT_FALSE(ValidateCron("* * * *", &err));
  EXPECT_NE(err.find("5 fields"), std::string::npos);
  EXPECT_FALSE(ValidateCron("60 * * * *", &err));
  EXPECT_NE(err.find("minute"), std::string::npos);
  EXPECT_NE(err.find("0-59"), std::string::npos);
  EXPECT_FALSE(ValidateCron("* 24 * * *", &err));
  EXPECT_NE(err.find("hour"), std::string::npos);
  EXPECT_FALSE(ValidateCron("* * 0 * *", &err));
  EXPECT_NE(err.find("day-of-month"), std::string::npos);
  EXPECT_FALSE(ValidateCron("* * * 13 *", &err));
  EXPECT_NE(err.find("month"), std::string::npos);
  EXPECT_FALSE(ValidateCron("* * * * 8", &err));
  EXPECT_NE(err.find("day-of-week"), std::string::npos);
  EXPECT_FALSE(ValidateCron("*/0 * * * *", &err));
  EXPECT_FALSE(ValidateCron("30-10 * * * *", &err));
  EXPECT_FALSE(ValidateCron("1,,2 * * * *", &err));
  EXPECT_FALSE(ValidateCron("5/2 * * * *", &err));
  EXPECT_FALSE(ValidateCron("a * * * *", &err));
  EXPECT_FALSE(ValidateCron("@hourly", &err));
  EXPECT_FALSE(ValidateCron("* * * * * *", &err));
}

}  // namespace
}  // namespace tide

namespace tide {
namespace {

int64_t At(int y, int mon, int d, int h, int m) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = m;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

TEST(CronScheduleTest, NextAfter) {
  CronSchedule c;
  std::string err;
  ASSERT_TRUE(CronSchedule::Parse("*/5 * * * *", &c, &err)) << err;
  EXPECT_EQ(c.NextAfter(At(2026, 11, 27, 21, 3) + 17000), At(2026, 11, 27, 21, 5));
  EXPECT_EQ(c.NextAfter(At(2026, 11, 27, 21, 5)), At(2026, 11, 27, 21, 10));
  ASSERT_TRUE(CronSchedule::Parse("30 2 * * 1", &c, &err));  // Mondays 02:30
  EXPECT_EQ(c.NextAfter(At(2026, 11, 27, 21, 0)), At(2026, 11, 30, 2, 30));
  ASSERT_TRUE(CronSchedule::Parse("0 0 1 1 *", &c, &err));
  EXPECT_EQ(c.NextAfter(At(2026, 11, 27, 21, 0)), At(2027, 1, 1, 0, 0));
  ASSERT_TRUE(CronSchedule::Parse("0 12 13 * 5", &c, &err));  // 13th OR Friday
  EXPECT_EQ(c.NextAfter(At(2026, 11, 27, 21, 0)), At(2026, 12, 4, 12, 0));
  ASSERT_TRUE(CronSchedule::Parse("0 0 31 2 *", &c, &err));
  EXPECT_EQ(c.NextAfter(At(2026, 11, 27, 21, 0)), -1);
  EXPECT_FALSE(CronSchedule::Parse("61 * * * *", &c, &err));
}

}  // namespace
}  // namespace tide
