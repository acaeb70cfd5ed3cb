#include "api/manifest_files.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "api/manifest.h"

namespace tide {
namespace {

namespace fs = std::filesystem;

class ManifestFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tide-manifest-files-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << text;
  }
  fs::path dir_;
};

TEST_F(ManifestFilesTest, DirectoryIsSortedNonRecursiveAndFiltered) {
  Write("b.yaml", "B");
  Write("a.yml", "A");
  Write("c.json", "C");
  Write("B0.yaml", "upper case sorts first");
  Write("notes.txt", "ignored");
  Write("yaml", "ignored: no extension");
  Write("sub/d.yaml", "ignored: in a subdirectory");
  fs::create_directories(dir_ / "e.yaml");  // a directory named like a manifest
  std::vector<ManifestFile> files;
  ASSERT_TRUE(ReadManifestPath(dir_.string(), &files).ok());
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].name, (dir_ / "B0.yaml").string());
  EXPECT_EQ(files[1].name, (dir_ / "a.yml").string());
  EXPECT_EQ(files[1].content, "A");
  EXPECT_EQ(files[2].content, "B");
  EXPECT_EQ(files[3].content, "C");
}

TEST_F(ManifestFilesTest, AFileIsReadWhateverItsNameAndAppended) {
  Write("app.conf", "kind: Service\n");
  std::vector<ManifestFile> files{{"earlier", "x"}};
  ASSERT_TRUE(ReadManifestPath((dir_ / "app.conf").string(), &files).ok());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[1].name, (dir_ / "app.conf").string());
  EXPECT_EQ(files[1].content, "kind: Service\n");
}

// tided --manifests and tidectl -f used to differ here: an empty directory is an error for both.
TEST_F(ManifestFilesTest, DirectoryWithoutManifestsIsAnError) {
  std::vector<ManifestFile> files;
  Status st = ReadManifestPath(dir_.string(), &files);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_NE(st.message().find("no *.yaml, *.yml or *.json files in directory " + dir_.string()),
            std::string::npos)
      << st.message();
  Write("README.md", "not a manifest");
  EXPECT_FALSE(ReadManifestPath(dir_.string(), &files).ok());
  EXPECT_TRUE(files.empty());
}

TEST_F(ManifestFilesTest, MissingEmptyAndOversizedPaths) {
  std::vector<ManifestFile> files;
  Status st = ReadManifestPath((dir_ / "nope.yaml").string(), &files);
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_NE(st.message().find("nope.yaml"), std::string::npos);
  EXPECT_EQ(ReadManifestPath("", &files).code(), Status::Code::kInvalid);
  Write("big.yaml", std::string(kMaxManifestBytes + 1, '#'));
  st = ReadManifestPath((dir_ / "big.yaml").string(), &files);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_NE(st.message().find("larger than"), std::string::npos) << st.message();
  // An endless device is cut off at the same bound instead of exhausting memory.
  st = ReadManifestPath("/dev/zero", &files);
  EXPECT_NE(st.message().find("larger than"), std::string::npos) << st.message();
  EXPECT_TRUE(files.empty());
}

}  // namespace
}  // namespace tide
