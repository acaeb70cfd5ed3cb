#include "daemon/control/secret_env.h"

#include <gtest/gtest.h>

namespace tide {
namespace {

#if defined(__GNUC__) && !defined(__clang__)  // GCC bug 105651: at -O3 GCC 12 reports a bogus
#pragma GCC diagnostic push                   // -Wrestrict in the string copies inlined here
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
WorkloadSpec SpecWith(std::map<std::string, SecretRef> refs) {
  WorkloadSpec s;
  s.env["PLAIN"] = "x";
  s.secret_env = std::move(refs);
  return s;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

TEST(SecretEnvTest, ResolvesEveryReferenceToItsValue) {
  std::map<std::string, StringMap> secrets = {{"db", {{"password", "pw1"}, {"user", "app"}}}};
  StringMap out;
  EXPECT_EQ(
      ResolveSecretEnv(SpecWith({{"DB_PASSWORD", {"db", "password"}}, {"DB_USER", {"db", "user"}}}),
                       secrets, &out),
      "");
  EXPECT_EQ(out, (StringMap{{"DB_PASSWORD", "pw1"}, {"DB_USER", "app"}}));
}

TEST(SecretEnvTest, MissingSecretOrKeyIsNamedWithoutAnyValue) {
  std::map<std::string, StringMap> secrets = {{"db", {{"user", "very-secret-user"}}}};
  StringMap out;
  std::string why = ResolveSecretEnv(SpecWith({{"A", {"nope", "k"}}}), secrets, &out);
  EXPECT_EQ(why, "env A: secret \"nope\" does not exist");
  EXPECT_TRUE(out.empty());
  why = ResolveSecretEnv(SpecWith({{"B", {"db", "password"}}}), secrets, &out);
  EXPECT_EQ(why, "env B: secret \"db\" has no key \"password\" (it has: user)");
  EXPECT_EQ(why.find("very-secret-user"), std::string::npos);
}

TEST(SecretEnvTest, NoReferencesNothingToResolve) {
  StringMap out = {{"stale", "x"}};
  EXPECT_EQ(ResolveSecretEnv(SpecWith({}), {}, &out), "");
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace tide
