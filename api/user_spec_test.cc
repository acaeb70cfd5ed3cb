#include "api/user_spec.h"

#include <gtest/gtest.h>

namespace tide {
namespace {

TEST(UserSpecTest, AcceptsNamesUidsAndUidGid) {
  UserSpec u;
  std::string err;
  ASSERT_TRUE(ParseUserSpec("nobody", &u, &err)) << err;
  EXPECT_EQ(u.name, "nobody");
  EXPECT_FALSE(u.uid);
  ASSERT_TRUE(ParseUserSpec("svc_app-1.x$", &u, &err)) << err;
  EXPECT_EQ(u.name, "svc_app-1.x$");
  ASSERT_TRUE(ParseUserSpec("65534", &u, &err)) << err;
  EXPECT_TRUE(u.name.empty());
  EXPECT_EQ(*u.uid, 65534u);
  EXPECT_FALSE(u.gid);
  ASSERT_TRUE(ParseUserSpec("0", &u, &err)) << err;  // root is the node's policy, not syntax
  EXPECT_EQ(*u.uid, 0u);
  ASSERT_TRUE(ParseUserSpec("1000:100", &u, &err)) << err;
  EXPECT_EQ(*u.uid, 1000u);
  EXPECT_EQ(*u.gid, 100u);
  ASSERT_TRUE(ParseUserSpec("4294967294:4294967294", &u, &err)) << err;
}

TEST(UserSpecTest, RefusesWhatTheKernelOrUseraddWouldNot) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"", "must not be empty"},
      {"4294967295", "0 to 4294967294"},  // (uid_t)-1
      {"99999999999", "0 to 4294967294"},
      {"1000:", "uid and gid must be numbers"},
      {":1000", "numeric uid"},
      {"1000:-1", "uid and gid must be numbers"},
      {"1000:1000:1", "uid and gid must be numbers"},
      {"www:www", "a group can only follow a numeric uid"},
      {"-rf", "not a valid user name"},
      {"1abc", "not a valid user name"},
      {".hidden", "not a valid user name"},
      {"a b", "not a valid user name"},
      {"a/b", "not a valid user name"},
      {"$", "not a valid user name"},
      {"a\nb", "not a valid user name"},
      {"abcdefghijklmnopqrstuvwxyzabcdefg", "1-32 characters"},
  };
  for (const auto& c : cases) {
    UserSpec u;
    std::string err;
    EXPECT_FALSE(ParseUserSpec(c.text, &u, &err)) << c.text;
    EXPECT_NE(err.find(c.want), std::string::npos) << c.text << ": " << err;
    EXPECT_NE(err.find("NAME, UID or UID:GID"), std::string::npos) << c.text << ": " << err;
  }
}

}  // namespace
}  // namespace tide
