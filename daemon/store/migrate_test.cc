// Export/import (migrate.h) between real stores: SQLite -> file -> etcd keeps every object,
// generation and scale override; a non-empty target is refused unless told; hostile or corrupt
// files are refused naming the problem and change nothing.
#include "daemon/store/migrate.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "daemon/store/etcd_store.h"
#include "daemon/store/etcd_testutil.h"
#include "daemon/store/secret_cipher.h"
#include "daemon/store/store.h"

namespace tide {
namespace {

Object Service(const std::string& name, int replicas, const std::string& layer = "") {
  Object o;
  o.kind = Kind::kService;
  o.metadata.name = name;
  o.metadata.labels = {{"team", "a"}};
  o.spec.command = {"./srv", "--port", "${PORT}"};
  o.spec.replicas = replicas;
  if (!layer.empty()) o.spec.layers = {layer};
  return o;
}

Object Layer(const std::string& name) {
  Object o;
  o.kind = Kind::kLayer;
  o.metadata.name = name;
  o.layer.path = "/opt/" + name;
  return o;
}

class MigrateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tide-migrate-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(Store::Open(dir_ + "/sqlite", clock_, &sqlite_).ok());
    ASSERT_TRUE(etcd_.ok()) << etcd_.error();
    client_ = std::make_unique<etcd::EtcdClient>(etcd::EtcdClient::Options{{etcd_.url()}, 2});
    ASSERT_TRUE(EtcdStore::Open(*client_, clock_, {}, &target_).ok());
  }
  void TearDown() override {
    target_.reset();
    sqlite_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Fill() {
    std::vector<ApplyResult> out;
    ASSERT_TRUE(
        sqlite_->Apply({Layer("base"), Service("web", 2, "base"), Service("api", 1)}, false, &out)
            .ok());
    clock_.Advance(1000);
    ASSERT_TRUE(sqlite_->Apply({Service("web", 3, "base")}, false, &out).ok());  // generation 2
    ASSERT_TRUE(sqlite_->SetScale("api", 5).ok());
  }
  std::string Write(const std::string& text) {
    const std::string p = dir_ + "/in.json";
    std::ofstream(p) << text;
    return p;
  }
  int Held() {
    std::vector<StoredObject> w, l;
    EXPECT_TRUE(target_->List(std::nullopt, &w).ok());
    EXPECT_TRUE(target_->ListLayers(&l).ok());
    return static_cast<int>(w.size() + l.size());
  }

  FakeClock clock_;
  std::string dir_;
  std::unique_ptr<Store> sqlite_;
  TestEtcd etcd_;
  std::unique_ptr<etcd::EtcdClient> client_;
  std::unique_ptr<EtcdStore> target_;
};

TEST_F(MigrateTest, SqliteToFileToEtcdKeepsEveryObjectGenerationAndScale) {
  Fill();
  std::string summary;
  const std::string file = dir_ + "/export.json";
  ASSERT_TRUE(ExportStore(*sqlite_, file, &summary).ok()) << summary;
  EXPECT_EQ(summary, "exported 2 workload(s) and 1 layer(s) to " + file);
  EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  ASSERT_TRUE(ImportStore(*target_, file, false, &summary).ok()) << summary;
  for (const char* name : {"web", "api"}) {
    StoredObject a, b;
    ASSERT_TRUE(sqlite_->Get(name, &a).ok());
    ASSERT_TRUE(target_->Get(name, &b).ok()) << name;
    EXPECT_EQ(json(a.object).dump(), json(b.object).dump());
    EXPECT_EQ(a.generation, b.generation);
    EXPECT_EQ(a.created_ms, b.created_ms);
    EXPECT_EQ(a.updated_ms, b.updated_ms);
    EXPECT_EQ(a.scale_replicas, b.scale_replicas);
  }
  StoredObject web, api, base;
  ASSERT_TRUE(target_->Get("web", &web).ok());
  ASSERT_TRUE(target_->Get("api", &api).ok());
  EXPECT_EQ(web.generation, 2);
  EXPECT_EQ(web.object.spec.replicas, 3);
  EXPECT_EQ(api.scale_replicas, std::optional<int>(5));
  ASSERT_TRUE(target_->GetLayer("base", &base).ok());
  EXPECT_EQ(base.object.layer.path, "/opt/base");
  // The imported store behaves as one applied to: the same apply is unchanged.
  std::vector<ApplyResult> out;
  ASSERT_TRUE(target_->Apply({Service("web", 3, "base")}, false, &out).ok());
  EXPECT_EQ(out[0].action, "unchanged");

  // A second import into the now non-empty target is refused, and changes nothing ...
  Status st = ImportStore(*target_, file, false, &summary);
  EXPECT_EQ(st.code(), Status::Code::kConflict);
  EXPECT_NE(st.message().find("--import-replace"), std::string::npos) << st.message();
  // ... unless told: then the target holds exactly the file's objects.
  ASSERT_TRUE(target_->Apply({Service("extra", 1)}, false, &out).ok());
  ASSERT_TRUE(ImportStore(*target_, file, true, &summary).ok());
  EXPECT_EQ(target_->Get("extra", &web).code(), Status::Code::kNotFound);
  EXPECT_EQ(Held(), 3);
  // And back: etcd -> file -> an empty SQLite store.
  ASSERT_TRUE(ExportStore(*target_, dir_ + "/back.json", &summary).ok());
  std::unique_ptr<Store> fresh;
  ASSERT_TRUE(Store::Open(dir_ + "/fresh", clock_, &fresh).ok());
  ASSERT_TRUE(ImportStore(*fresh, dir_ + "/back.json", false, &summary).ok()) << summary;
  ASSERT_TRUE(fresh->Get("api", &api).ok());
  EXPECT_EQ(api.scale_replicas, std::optional<int>(5));
}

TEST_F(MigrateTest, HostileOrCorruptFilesAreRefusedNamingTheProblemAndChangeNothing) {
  Fill();
  const std::string file = dir_ + "/export.json";
  std::string summary;
  ASSERT_TRUE(ExportStore(*sqlite_, file, &summary).ok());
  std::ifstream in(file);
  const json good = json::parse(in);
  auto with = [&](const std::function<void(json&)>& edit) {
    json j = good;
    edit(j);
    return j.dump();
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{not json", "not JSON"},
      {"[]", "not a Tide export"},
      {with([](json& j) { j["version"] = 99; }), "export version 99"},
      {with([](json& j) { j.erase("objects"); }), "\"objects\""},
      {with([](json& j) { j["objects"][1]["generation"] = "x"; }), "objects[1]"},
      {with([](json& j) { j["objects"][1]["generation"] = 0; }), "generation >= 1"},
      {with([](json& j) { j["objects"][2]["object"]["metadata"]["name"] = "Bad_Name"; }),
       "objects[2]"},
      {with([](json& j) { j["objects"][1]["object"]["spec"]["replicas"] = -4; }), "replicas"},
      {with([](json& j) { j["objects"][1]["object"]["spec"]["bogus"] = 1; }), "bogus"},
      {with([](json& j) { j["objects"].push_back(j["objects"][1]); }), "more than once"},
      {with([](json& j) { j["objects"].erase(0); }), "base"},  // a layer reference dangles
      {with([](json& j) { j["objects"][1]["scale_replicas"] = -1; }), "scale_replicas"},
      {with([](json& j) { j["objects"][0]["object"]["kind"] = "Secret"; }), "objects[0]"},
  };
  for (const auto& [text, want] : cases) {
    Status st = ImportStore(*target_, Write(text), false, &summary);
    EXPECT_FALSE(st.ok()) << text;
    EXPECT_NE(st.message().find(want), std::string::npos) << st.message() << "\n" << text;
    EXPECT_EQ(Held(), 0) << text;
  }
  EXPECT_FALSE(ImportStore(*target_, dir_ + "/missing.json", false, &summary).ok());
}

TEST_F(MigrateTest, ExportRefusesAStoreWithSecretsNamingThem) {
  // A SQLite store with a Secret (sealed): an export would carry it in clear, etcd cannot hold it.
  std::unique_ptr<SecretCipher> c;
  ASSERT_TRUE(SecretCipher::FromKey(std::string(32, 'k'), "k.key", &c).ok());
  sqlite_->SetSecretCipher(std::shared_ptr<const SecretCipher>(std::move(c)));
  Object sec;
  sec.kind = Kind::kSecret;
  sec.metadata.name = "db";
  sec.secret.data = {{"pw", "do-not-export"}};
  std::vector<ApplyResult> out;
  ASSERT_TRUE(sqlite_->Apply({sec, Service("web", 1)}, false, &out).ok());
  std::string summary;
  const std::string file = dir_ + "/export.json";
  Status st = ExportStore(*sqlite_, file, &summary);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_NE(st.message().find("Secret(s) (db)"), std::string::npos) << st.message();
  EXPECT_FALSE(std::filesystem::exists(file));
}

}  // namespace
}  // namespace tide
