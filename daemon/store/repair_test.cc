#include "daemon/store/repair.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "api/clock.h"
#include "daemon/store/store.h"

namespace tide {
namespace {

namespace fs = std::filesystem;

Object Service(const std::string& name) {
  Object o;
  o.kind = Kind::kService;
  o.metadata.name = name;
  o.spec.command = {"./srv", "--port", "${PORT}"};
  o.spec.replicas = 1;
  return o;
}

std::string Name(int i) { return "w-" + std::string(i < 10 ? "0" : "") + std::to_string(i); }

class RepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tide-repair-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A store with `n` workloads applied one per transaction, copied while still open (its log
  // not checkpointed), as kill -9 leaves it. Returns the copy's data dir.
  std::string CrashedStore(int n) {
    std::unique_ptr<Store> live;
    EXPECT_TRUE(Store::Open(dir_ + "/live", clock_, &live).ok());
    for (int i = 0; i < n; ++i) {
      std::vector<ApplyResult> out;
      EXPECT_TRUE(live->Apply({Service(Name(i))}, false, &out).ok());
    }
    const std::string d = dir_ + "/crashed";
    fs::create_directories(d);
    fs::copy_file(dir_ + "/live/tide.db", d + "/tide.db");
    fs::copy_file(dir_ + "/live/tide.db-wal", d + "/tide.db-wal");
    return d;
  }
  // Flips a byte in the page of the log's middle frame.
  static int64_t DamageMiddleFrame(const std::string& wal) {
    WalReport r;
    EXPECT_TRUE(CheckWal(wal, &r).ok());
    const int64_t k = r.frames / 2;
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    const std::streamoff at = 32 + (k - 1) * (24 + static_cast<int64_t>(r.page_size)) + 24 + 100;
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(at);
    f.write(&c, 1);
    return k;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  std::string dir_;
  FakeClock clock_;
};

TEST_F(RepairTest, DamagedLogIsRefusedThenRepairedKeepingTheCommitsAfterTheDamage) {
  const std::string d = CrashedStore(30);
  const int64_t frame = DamageMiddleFrame(d + "/tide.db-wal");
  const std::string damaged = Slurp(d + "/tide.db-wal");
  std::unique_ptr<Store> s;
  Status open = Store::Open(d, clock_, &s);
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.message().find("frame " + std::to_string(frame) + " "), std::string::npos)
      << open.message();

  RepairReport r;
  Status st = RepairStore(d, 1796268000000, &r);  // 2026-12-03T03:20:00Z
  ASSERT_TRUE(st.ok()) << st.message();
  const std::string text = r.Text();
  EXPECT_EQ(r.kept_aside, d + "/damaged-20261203T032000Z");
  EXPECT_EQ(Slurp(r.kept_aside + "/tide.db-wal"), damaged);  // kept as found, byte for byte
  struct stat sb {};
  ASSERT_EQ(::stat(r.kept_aside.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0700u);
  ASSERT_EQ(r.skipped_frames.size(), 1u) << text;
  EXPECT_EQ(r.skipped_frames[0].rfind("frame " + std::to_string(frame) + " ", 0), 0u);
  EXPECT_EQ(r.quick_check, "ok") << text;
  // A plain start keeps only the commits before the damage; the repair saves the ones after it.
  EXPECT_FALSE(r.saved_beyond_replay.empty()) << text;
  EXPECT_TRUE(r.missing_from_replay.empty()) << text;
  EXPECT_NE(text.find("a plain start would have dropped"), std::string::npos) << text;
  EXPECT_NE(text.find("left out (damaged): frame " + std::to_string(frame)), std::string::npos)
      << text;
  EXPECT_FALSE(fs::exists(d + "/repair-20261203T032000Z.tmp"));

  // The repaired store opens; every workload recovered is whole.
  ASSERT_TRUE(Store::Open(d, clock_, &s).ok());
  std::vector<StoredObject> all;
  ASSERT_TRUE(s->List(std::nullopt, &all).ok());
  EXPECT_EQ(all.size(), r.workloads.size());
  EXPECT_GE(all.size(), 29u) << text;  // at most the damaged frame's own transaction is lost
  for (const auto& o : all) EXPECT_EQ(o.object.spec.command[0], "./srv");
}

TEST_F(RepairTest, HealthyStoreIsRebuiltWithNothingLost) {
  const std::string d = CrashedStore(12);
  RepairReport r;
  ASSERT_TRUE(RepairStore(d, 1796268000000, &r).ok());
  EXPECT_EQ(r.workloads.size(), 12u);
  EXPECT_TRUE(r.lost.empty());
  EXPECT_TRUE(r.skipped_frames.empty());
  EXPECT_TRUE(r.saved_beyond_replay.empty());
  EXPECT_NE(r.Text().find("lost: nothing"), std::string::npos) << r.Text();
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(d, clock_, &s).ok());
  StoredObject got;
  EXPECT_TRUE(s->Get(Name(11), &got).ok());
}

TEST_F(RepairTest, NoStoreIsNotFoundAndChangesNothing) {
  RepairReport r;
  Status s = RepairStore(dir_ + "/empty", 1796268000000, &r);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ + "/empty"));
}

// A running tided has the store open: --repair refuses and moves nothing.
TEST_F(RepairTest, StoreOpenInAnotherProcessIsRefused) {
  const std::string d = CrashedStore(3);
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::unique_ptr<Store> s;
    FakeClock clock;
    const bool ok = Store::Open(d, clock, &s).ok();
    char c = ok ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(release[0], &c, 1);
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  RepairReport r;
  Status st = RepairStore(d, 1796268000000, &r);
  (void)!::write(release[1], "x", 1);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(st.code(), Status::Code::kConflict) << st.message();
  EXPECT_NE(st.message().find(std::to_string(child)), std::string::npos) << st.message();
  EXPECT_TRUE(fs::exists(d + "/tide.db"));
  EXPECT_FALSE(fs::exists(d + "/damaged-20261203T032000Z"));
}

TEST_F(RepairTest, DamagedLogHeaderRecoversTheCheckpointedPartAndSaysTheLogWasLost) {
  const std::string d = CrashedStore(5);
  {
    std::fstream f(d + "/tide.db-wal", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f.write("XXXX", 4);
  }
  RepairReport r;
  ASSERT_TRUE(RepairStore(d, 1796268000000, &r).ok());
  EXPECT_FALSE(r.wal_used);
  EXPECT_NE(r.Text().find("lost: every write still in the write-ahead log"), std::string::npos)
      << r.Text();
  EXPECT_EQ(r.quick_check, "ok");
}

TEST_F(RepairTest, HealWalLeavesOutOnlyTheDamagedFrame) {
  const std::string d = CrashedStore(10);
  WalReport before;
  ASSERT_TRUE(CheckWal(d + "/tide.db-wal", &before).ok());
  const int64_t k = DamageMiddleFrame(d + "/tide.db-wal");
  std::vector<std::string> skipped;
  ASSERT_TRUE(HealWal(d + "/tide.db-wal", dir_ + "/healed-wal", &skipped).ok());
  WalReport after;
  Status s = CheckWal(dir_ + "/healed-wal", &after);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(after.frames, before.frames - 1);
  EXPECT_EQ(after.valid_frames, after.frames);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].rfind("frame " + std::to_string(k) + " ", 0), 0u);
  EXPECT_FALSE(HealWal(dir_ + "/missing-wal", dir_ + "/x", nullptr).ok());
}

}  // namespace
}  // namespace tide
