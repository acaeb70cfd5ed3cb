// Store: Secrets (daemon/store/store_secrets.cc): sealed at rest, applied with the other kinds,
// their users rolled when the data changes, re-sealed by a key rotation.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "daemon/store/secret_cipher.h"
#include "daemon/store/store.h"

namespace tide {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tide-ssec-XXXXXX").string();
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr const char* kValue = "v4lue-that-must-not-leak";

std::shared_ptr<const SecretCipher> Cipher(char fill, const std::string& label) {
  std::unique_ptr<SecretCipher> c;
  EXPECT_TRUE(SecretCipher::FromKey(std::string(32, fill), label, &c).ok());
  return std::shared_ptr<const SecretCipher>(std::move(c));
}

Object SecretObj(const std::string& name, StringMap data) {
  Object o;
  o.kind = Kind::kSecret;
  o.metadata.name = name;
  o.secret.data = std::move(data);
  return o;
}

Object Workload(const std::string& name, const std::string& secret) {
  Object o;
  o.metadata.name = name;
  o.spec.command = {"./app"};
  if (!secret.empty()) o.spec.secret_env["PW"] = {secret, "pw"};
  return o;
}

std::string DirBytes(const std::string& dir) {
  std::string all;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return all;
}

class StoreSecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Store::Open(dir_.path(), clock_, &store_).ok());
    store_->SetSecretCipher(Cipher('a', "a.key"));
  }
  std::vector<ApplyResult> Apply(std::vector<Object> objs) {
    std::vector<ApplyResult> out;
    Status s = store_->Apply(objs, false, &out);
    EXPECT_TRUE(s.ok()) << s.message();
    return out;
  }
  int64_t Generation(const std::string& name) {
    StoredObject so;
    EXPECT_TRUE(store_->Get(name, &so).ok());
    return so.generation;
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreSecretsTest, AppliedSecretsAreSealedOnDiskAndOpenInMemory) {
  auto r = Apply({SecretObj("db", {{"pw", kValue}, {"user", "app"}})});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].action, "created");
  EXPECT_EQ(r[0].kind, Kind::kSecret);
  std::map<std::string, StringMap> values;
  ASSERT_TRUE(store_->SecretValues(&values).ok());
  EXPECT_EQ(values["db"]["pw"], kValue);
  SecretInfo info;
  ASSERT_TRUE(store_->GetSecret("db", &info).ok());
  EXPECT_EQ(info.keys, (std::vector<std::string>{"pw", "user"}));
  EXPECT_EQ(info.generation, 1);
  EXPECT_EQ(info.key_id, Cipher('a', "a.key")->key_id());
  EXPECT_EQ(DirBytes(dir_.path()).find(kValue), std::string::npos);
  EXPECT_EQ(Apply({SecretObj("db", {{"pw", kValue}, {"user", "app"}})})[0].action, "unchanged");
  EXPECT_EQ(store_->GetSecret("nope", &info).code(), Status::Code::kNotFound);
}

TEST_F(StoreSecretsTest, ChangedDataRollsItsUsersNotOthersNorThoseChangedInTheSameApply) {
  Apply({SecretObj("db", {{"pw", "1"}}), Workload("user", "db"), Workload("other", ""),
         Workload("fresh", "db")});
  EXPECT_EQ(Generation("user"), 1);  // created together: nothing to roll
  Object fresh = Workload("fresh", "db");
  fresh.spec.replicas = 3;
  auto r = Apply({SecretObj("db", {{"pw", "2"}}), fresh});
  EXPECT_EQ(r[0].action, "configured");
  EXPECT_EQ(r[0].generation, 2);
  EXPECT_EQ(Generation("user"), 2);
  EXPECT_EQ(Generation("other"), 1);
  EXPECT_EQ(Generation("fresh"), 2);  // its own change, once
  // Labels only: configured, same generation, nobody rolls.
  Object labelled = SecretObj("db", {{"pw", "2"}});
  labelled.metadata.labels["team"] = "a";
  r = Apply({labelled});
  EXPECT_EQ(r[0].action, "configured");
  EXPECT_EQ(r[0].generation, 2);
  EXPECT_EQ(Generation("user"), 2);
}

TEST_F(StoreSecretsTest, DeleteInUseIsAConflictNamingTheUser) {
  Apply({SecretObj("db", {{"pw", "1"}}), Workload("user", "db")});
  Status s = store_->DeleteSecret("db");
  EXPECT_EQ(s.code(), Status::Code::kConflict);
  EXPECT_NE(s.message().find("user"), std::string::npos);
  ASSERT_TRUE(store_->Delete("user").ok());
  EXPECT_TRUE(store_->DeleteSecret("db").ok());
  EXPECT_EQ(store_->DeleteSecret("db").code(), Status::Code::kNotFound);
}

TEST_F(StoreSecretsTest, NoCipherNoSecretAndABadBatchLeavesNothing) {
  std::unique_ptr<Store> bare;
  TempDir other;
  ASSERT_TRUE(Store::Open(other.path(), clock_, &bare).ok());
  std::vector<ApplyResult> out;
  Status s = bare->Apply({SecretObj("db", {{"pw", kValue}})}, false, &out);
  EXPECT_EQ(s.code(), Status::Code::kInvalid);
  EXPECT_NE(s.message().find("secrets key"), std::string::npos);
  // A batch that fails later (unknown layer) stores its Secret neither.
  Object w = Workload("w", "db");
  w.spec.layers = {"missing"};
  s = store_->Apply({SecretObj("db", {{"pw", kValue}}), w}, false, &out);
  EXPECT_FALSE(s.ok());
  std::vector<SecretInfo> all;
  ASSERT_TRUE(store_->ListSecrets(&all).ok());
  EXPECT_TRUE(all.empty());
}

TEST_F(StoreSecretsTest, RotationReSealsEverythingAndAWrongKeyIsRefused) {
  Apply({SecretObj("db", {{"pw", kValue}}), SecretObj("cache", {{"pw", "x"}})});
  auto old_key = Cipher('a', "old.key");
  store_->SetSecretCipher(Cipher('b', "new.key"));
  int rotated = -1;
  Status s = store_->OpenSecrets(nullptr, &rotated);
  ASSERT_FALSE(s.ok());  // sealed with a, opened with b, no rotation asked
  EXPECT_NE(s.message().find("new.key"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(old_key->key_id()), std::string::npos) << s.message();
  ASSERT_TRUE(store_->OpenSecrets(old_key.get(), &rotated).ok());
  EXPECT_EQ(rotated, 2);
  ASSERT_TRUE(store_->OpenSecrets(old_key.get(), &rotated).ok());
  EXPECT_EQ(rotated, 0);  // nothing left under the old key
  std::map<std::string, StringMap> values;
  ASSERT_TRUE(store_->SecretValues(&values).ok());
  EXPECT_EQ(values["db"]["pw"], kValue);
  store_->SetSecretCipher(Cipher('a', "old.key"));
  EXPECT_FALSE(store_->OpenSecrets(nullptr, &rotated).ok());
}

}  // namespace
}  // namespace tide
