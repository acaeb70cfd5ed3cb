#include "api/private_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace tide {
namespace {

namespace fs = std::filesystem;

mode_t ModeOf(const fs::path& p) {
  struct stat st;
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST(PrivateDirTest, CreatesAndTightensAnExistingTree) {
  char tmpl[] = "/tmp/tide-private-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  fs::path root(tmpl);
  fs::path dir = root / "data";
  fs::create_directories(dir / "agent" / "logs");
  std::ofstream(dir / "tide.db") << "x";
  std::ofstream(dir / "agent" / "logs" / "a.log") << "x";
  std::ofstream(root / "outside") << "x";
  ::chmod((dir / "tide.db").c_str(), 0644);
  ::chmod((dir / "agent" / "logs" / "a.log").c_str(), 04755);
  ::chmod((dir / "agent").c_str(), 0755);
  ::chmod(dir.c_str(), 0777);
  ::chmod((root / "outside").c_str(), 0644);
  fs::create_symlink(root / "outside", dir / "link");

  ASSERT_TRUE(MakePrivateDir(dir.string()).ok());
  EXPECT_EQ(ModeOf(dir), 0700u);
  EXPECT_EQ(ModeOf(dir / "agent"), 0700u);
  EXPECT_EQ(ModeOf(dir / "agent" / "logs"), 0700u);
  EXPECT_EQ(ModeOf(dir / "tide.db"), 0600u);
  EXPECT_EQ(ModeOf(dir / "agent" / "logs" / "a.log"), 0600u);
  EXPECT_EQ(ModeOf(root / "outside"), 0644u);  // a symlink's target is left alone

  // A fresh path is created private.
  ASSERT_TRUE(MakePrivateDir((root / "new" / "deep").string()).ok());
  EXPECT_EQ(ModeOf(root / "new" / "deep"), 0700u);
  fs::remove_all(root);
}

TEST(PrivateDirTest, ErrorsNameTheDirectory) {
  Status s = MakePrivateDir("/proc/self/not-here/x");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/proc/self/not-here/x"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace tide
