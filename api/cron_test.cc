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
