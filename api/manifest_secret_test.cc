// The Secret kind and secretRef env (api/manifest_secret.cc, api/manifest_fields.cc) and their
// JSON (api/json.h): values parse, never show, and one mistake gives one error.
#include <gtest/gtest.h>

#include "api/json.h"
#include "api/manifest.h"

namespace tide {
namespace {

constexpr const char* kValue = "pa55-w0rd-value";

ParseResult Parse(const std::string& text) { return ParseManifests(text, "m.yaml"); }

std::string AllErrors(const ParseResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += FormatFieldError(e) + "\n";
  return s;
}

TEST(ManifestSecretTest, ASecretParsesAndItsJsonHasKeysOnly) {
  auto r = Parse(std::string("apiVersion: tide/v1\nkind: Secret\nmetadata: {name: db}\nspec:\n"
                             "  data: {password: \"") +
                 kValue + "\", port: 5432, empty: \"\"}\n");
  ASSERT_TRUE(r.ok()) << AllErrors(r);
  ASSERT_EQ(r.objects.size(), 1u);
  const Object& o = r.objects[0];
  EXPECT_EQ(o.kind, Kind::kSecret);
  EXPECT_EQ(o.secret.data, (StringMap{{"password", kValue}, {"port", "5432"}, {"empty", ""}}));
  const std::string text = json(o).dump();
  EXPECT_EQ(text.find(kValue), std::string::npos) << text;
  EXPECT_EQ(json(o)["spec"], json({{"keys", {"empty", "password", "port"}}}));
}

TEST(ManifestSecretTest, SecretRefEnvParsesAndRoundTripsWithoutValues) {
  auto r = Parse(
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: app}\nspec:\n  command: [./app]\n"
      "  env:\n    PLAIN: x\n    DB_PASSWORD: {secretRef: {name: db, key: password}}\n");
  ASSERT_TRUE(r.ok()) << AllErrors(r);
  const WorkloadSpec& s = r.objects[0].spec;
  EXPECT_EQ(s.env, (StringMap{{"PLAIN", "x"}}));
  ASSERT_EQ(s.secret_env.size(), 1u);
  EXPECT_EQ(s.secret_env.at("DB_PASSWORD"), (SecretRef{"db", "password"}));
  json j = r.objects[0];
  EXPECT_EQ(j["spec"]["env"]["DB_PASSWORD"],
            json({{"secretRef", {{"name", "db"}, {"key", "password"}}}}));
  Object back = j.get<Object>();
  EXPECT_EQ(back.spec, s);
  // GET output of a workload applies again unchanged.
  auto again = Parse(j.dump());
  ASSERT_TRUE(again.ok()) << AllErrors(again);
  EXPECT_EQ(again.objects[0].spec, s);
}

TEST(ManifestSecretTest, AssignmentsCarryValuesOnlyOnTheWireToAgents) {
  InstanceAssignment a;
  a.id = "app-1";
  a.workload = "app";
  a.spec.mut().secret_env["DB_PASSWORD"] = {"db", "password"};
  a.secret_env["DB_PASSWORD"] = kValue;
  EXPECT_EQ(json(a).dump().find(kValue), std::string::npos);  // e.g. instances.json
  json specs;
  EXPECT_EQ(EncodeSharedAssignments({&a}, &specs).dump().find(kValue), std::string::npos);
  EXPECT_EQ(specs.dump().find(kValue), std::string::npos);
  AssignmentSet set;
  set.instances.push_back(a);
  for (const json& wire : {json(set), SharedAssignmentSetJson(set)}) {
    AssignmentSet got = wire.get<AssignmentSet>();
    ASSERT_EQ(got.instances.size(), 1u);
    EXPECT_EQ(got.instances[0].secret_env.at("DB_PASSWORD"), kValue);
  }
}

struct BadCase {
  const char* name;
  std::string yaml;
  std::string path;
  std::string want;
};

TEST(ManifestSecretTest, EachMistakeIsOneErrorNamingTheFieldAndNeverTheValue) {
  const std::string svc =
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: app}\nspec:\n  command: [./app]\n";
  const std::string sec = "apiVersion: tide/v1\nkind: Secret\nmetadata: {name: db}\n";
  const std::string v = kValue;
  const std::vector<BadCase> cases = {
      {"k8s valueFrom", svc + "  env:\n    P: {valueFrom: {secretKeyRef: {name: db, key: p}}}\n",
       "spec.env.P", "valueFrom.secretKeyRef"},
      {"extra field", svc + "  env:\n    P: {secretRef: {name: db, key: p}, other: 1}\n",
       "spec.env.P", "2 fields"},
      {"no key", svc + "  env:\n    P: {secretRef: {name: db}}\n", "spec.env.P.secretRef.key",
       "required"},
      {"bad name", svc + "  env:\n    P: {secretRef: {name: Db_1, key: p}}\n",
       "spec.env.P.secretRef.name", "DNS label"},
      {"unknown ref field",
       svc + "  env:\n    P: {secretRef: {name: db, key: p, optional: true}}\n",
       "spec.env.P.secretRef.optional", ""},
      {"argv",
       "apiVersion: tide/v1\nkind: Service\nmetadata: {name: app}\nspec:\n"
       "  command: [./app, \"--pw=${P}\"]\n  env:\n    P: {secretRef: {name: db, key: p}}\n",
       "spec.command[1]", "/proc/PID/cmdline"},
      {"data a string", sec + "spec:\n  data: \"" + v + "\"\n", "spec.data", "not shown"},
      {"spec a string", sec + "spec: \"" + v + "\"\n", "spec", "not shown"},
      {"value a list", sec + "spec:\n  data:\n    p: [\"" + v + "\"]\n", "spec.data.p",
       "not shown"},
      {"bad key", sec + "spec:\n  data:\n    \"a/b\": \"" + v + "\"\n", "spec.data[\"a/b\"]",
       "Secret data key"},
      {"no data", sec + "spec: {}\n", "spec.data", "required"},
      {"redacted form", sec + "spec: {keys: [password]}\n", "spec.keys", "redacted"},
      {"null value", sec + "spec:\n  data:\n    p:\n", "spec.data.p", "missing"},
  };
  for (const auto& c : cases) {
    auto r = Parse(c.yaml);
    ASSERT_EQ(r.errors.size(), 1u) << c.name << ":\n" << AllErrors(r);
    EXPECT_EQ(r.errors[0].path, c.path) << c.name << ": " << AllErrors(r);
    EXPECT_NE(r.errors[0].message.find(c.want), std::string::npos)
        << c.name << ": " << AllErrors(r);
    EXPECT_EQ(AllErrors(r).find(v), std::string::npos) << c.name << ": " << AllErrors(r);
    EXPECT_TRUE(r.objects.empty()) << c.name;
  }
}

TEST(ManifestSecretTest, SecretsHaveTheirOwnNameSpaceInABatch) {
  auto r = Parse(
      "apiVersion: tide/v1\nkind: Secret\nmetadata: {name: app}\nspec: {data: {a: b}}\n---\n"
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: app}\nspec: {command: [./x]}\n---\n"
      "apiVersion: tide/v1\nkind: Secret\nmetadata: {name: app}\nspec: {data: {a: c}}\n");
  ASSERT_TRUE(r.ok()) << AllErrors(r);
  std::vector<FieldError> errors;
  ValidateBatch(r, {}, &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("duplicate Secret"), std::string::npos) << errors[0].message;
}

}  // namespace
}  // namespace tide
