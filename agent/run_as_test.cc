#include "agent/run_as.h"

#include <gtest/gtest.h>
#include <pwd.h>

namespace tide {
namespace {

bool Has(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

TEST(RunAsTest, NamesResolveWithTheirGroups) {
  passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr) << "this test needs a 'nobody' user";
  RunAs r;
  ASSERT_TRUE(ResolveRunAs("nobody", {}, 0, &r).ok());
  EXPECT_TRUE(r.switch_user);
  EXPECT_EQ(r.uid, nobody->pw_uid);
  EXPECT_EQ(r.gid, nobody->pw_gid);
  // getgrouplist always includes the primary group.
  EXPECT_NE(std::find(r.groups.begin(), r.groups.end(), nobody->pw_gid), r.groups.end());
}

TEST(RunAsTest, NumericIds) {
  RunAs r;
  ASSERT_TRUE(ResolveRunAs("1000:5", {}, 0, &r).ok());
  EXPECT_EQ(r.uid, 1000u);
  EXPECT_EQ(r.gid, 5u);
  EXPECT_TRUE(r.groups.empty());
  // A uid the node does not know gets the same number as its group, never group 0.
  ASSERT_EQ(::getpwuid(54321), nullptr);
  ASSERT_TRUE(ResolveRunAs("54321", {}, 0, &r).ok());
  EXPECT_EQ(r.uid, 54321u);
  EXPECT_EQ(r.gid, 54321u);
  // A known uid takes its passwd group.
  passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  ASSERT_TRUE(ResolveRunAs(std::to_string(nobody->pw_uid), {}, 0, &r).ok());
  EXPECT_EQ(r.gid, nobody->pw_gid);
}

TEST(RunAsTest, RootOnlyWhenTheNodeAllowsIt) {
  RunAs r;
  for (const char* root : {"root", "0", "0:0"}) {
    Status s = ResolveRunAs(root, {}, 0, &r);
    EXPECT_EQ(s.code(), Status::Code::kForbidden) << root;
    EXPECT_TRUE(Has(s, "--allow-root")) << s.message();
    EXPECT_FALSE(r.switch_user);
    ASSERT_TRUE(ResolveRunAs(root, {"", true}, 0, &r).ok()) << root;
    EXPECT_TRUE(r.switch_user);
    EXPECT_EQ(r.uid, 0u);
  }
  // The node's default counts too, and the message says where the user came from.
  Status s = ResolveRunAs("", {"root", false}, 0, &r);
  EXPECT_EQ(s.code(), Status::Code::kForbidden);
  EXPECT_TRUE(Has(s, "--default-user")) << s.message();
}

TEST(RunAsTest, DefaultUserAndNoSwitch) {
  RunAs r;
  ASSERT_TRUE(ResolveRunAs("", {"", true}, 0, &r).ok());
  EXPECT_FALSE(r.switch_user);  // no default: the agent's own user
  ASSERT_TRUE(ResolveRunAs("", {}, 1000, &r).ok());
  EXPECT_FALSE(r.switch_user);
  // ... which must not be a way around the root policy.
  Status s = ResolveRunAs("", {}, 0, &r);
  EXPECT_EQ(s.code(), Status::Code::kForbidden);
  EXPECT_TRUE(Has(s, "--allow-root")) << s.message();
  ASSERT_TRUE(ResolveRunAs("", {"65534", false}, 0, &r).ok());
  EXPECT_TRUE(r.switch_user);
  EXPECT_EQ(r.uid, 65534u);
  // The manifest's user wins over the default.
  ASSERT_TRUE(ResolveRunAs("1000:1000", {"65534", false}, 0, &r).ok());
  EXPECT_EQ(r.uid, 1000u);
}

TEST(RunAsTest, UnknownAndInvalidUsersAreClearErrors) {
  RunAs r;
  Status s = ResolveRunAs("no-such-user-tide", {}, 0, &r);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_TRUE(Has(s, "spec.user \"no-such-user-tide\": no such user")) << s.message();
  s = ResolveRunAs("a b", {}, 0, &r);
  EXPECT_EQ(s.code(), Status::Code::kInvalid);
  EXPECT_TRUE(Has(s, "not a valid user name")) << s.message();
}

TEST(RunAsTest, AnAgentThatIsNotRootCannotSwitch) {
  RunAs r;
  ASSERT_TRUE(ResolveRunAs("1000", {}, 1000, &r).ok());
  EXPECT_FALSE(r.switch_user);  // already that user
  Status s = ResolveRunAs("65534", {}, 1000, &r);
  EXPECT_EQ(s.code(), Status::Code::kForbidden);
  EXPECT_TRUE(Has(s, "the agent runs as uid 1000")) << s.message();
}

}  // namespace
}  // namespace tide
