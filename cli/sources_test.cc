#include "cli/sources.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace tide::cli {
namespace {

namespace fs = std::filesystem;

class SourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tide-sources-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "sub");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  fs::path dir_;
};

// The directory rule itself is api/manifest_files.h's (tested there); -f hands paths to it.
TEST_F(SourcesTest, DirectoriesAndFilesMix) {
  Write("b.yaml", "B");
  Write("a.yml", "A");
  Write("sub/x.json", "X");
  std::istringstream in;
  std::vector<ManifestFile> files;
  ASSERT_TRUE(ReadManifestFiles({(dir_ / "sub/x.json").string(), dir_.string()}, in, &files).ok());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].content, "X");
  EXPECT_EQ(files[1].name, (dir_ / "a.yml").string());
  EXPECT_EQ(files[2].content, "B");
}

TEST_F(SourcesTest, FilesAndStdinInOrder) {
  Write("x.yaml", "X");
  std::istringstream in("from stdin");
  std::vector<ManifestFile> files;
  ASSERT_TRUE(ReadManifestFiles({"-", (dir_ / "x.yaml").string()}, in, &files).ok());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].name, "stdin");
  EXPECT_EQ(files[0].content, "from stdin");
  EXPECT_EQ(files[1].content, "X");
}

TEST_F(SourcesTest, Errors) {
  std::istringstream in;
  std::vector<ManifestFile> files;
  Status st = ReadManifestFiles({(dir_ / "nope.yaml").string()}, in, &files);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("nope.yaml"), std::string::npos);
  Write("notes.txt", "not a manifest");
  st = ReadManifestFiles({dir_.string()}, in, &files);  // no *.yaml|yml|json directly inside
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no *.yaml"), std::string::npos) << st.message();
  EXPECT_FALSE(ReadManifestFiles({"-", "-"}, in, &files).ok());
}

TEST(ApplyRequestTest, OneFileIsSentAsIs) {
  ApplyRequest r = BuildApplyRequest({{"a.yaml", "kind: Service\n"}});
  EXPECT_EQ(r.body, "kind: Service\n");
  EXPECT_EQ(r.content_type, "application/yaml");
  ASSERT_EQ(r.headers.count("X-Tide-Filename"), 1u);
  EXPECT_EQ(r.headers.find("x-tide-filename")->second, "a.yaml");
  EXPECT_EQ(BuildApplyRequest({{"a.json", "{}"}}).content_type, "application/json");
}

TEST(ApplyRequestTest, SeveralFilesGoInOneJsonBody) {
  ApplyRequest r = BuildApplyRequest({{"a.yaml", "A"}, {"b.yaml", "B"}});
  EXPECT_EQ(r.content_type, "application/vnd.tide.files+json");
  auto j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["files"].size(), 2u);
  EXPECT_EQ(j["files"][1]["name"], "b.yaml");
  EXPECT_EQ(j["files"][1]["content"], "B");
  EXPECT_TRUE(r.headers.empty());
}

TEST(ListObjectsTest, KindsAndNames) {
  std::vector<ObjectRef> objs;
  ASSERT_TRUE(ListObjects({"m.yaml",
                           "kind: Service\nmetadata: {name: users}\n---\n"
                           "---\nkind: Layer\nmetadata:\n  name: common\n"},
                          &objs)
                  .ok());
  ASSERT_EQ(objs.size(), 2u);
  EXPECT_EQ(objs[0].kind, "Service");
  EXPECT_EQ(objs[0].name, "users");
  EXPECT_EQ(objs[1].kind, "Layer");
  EXPECT_EQ(objs[1].name, "common");

  objs.clear();
  Status st = ListObjects({"bad.yaml", "kind: Service\n"}, &objs);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("bad.yaml: document 1"), std::string::npos) << st.message();
  st = ListObjects({"broken.yaml", "kind: [\n"}, &objs);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("broken.yaml:"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace tide::cli
