#include "daemon/store/wal_check.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace tide {
namespace {

namespace fs = std::filesystem;

class WalCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tide-wal-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A real WAL: `n` committed transactions (one row each) written by SQLite and left in the log
  // (no checkpoint), copied with the database while the connection is still open, the way a
  // kill -9 leaves them. Returns the directory holding t.db and t.db-wal.
  std::string RealWal(int n, const std::string& name = "real") {
    const std::string live = dir_ + "/live-" + name;
    fs::create_directories(live);
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open((live + "/t.db").c_str(), &db), SQLITE_OK);
    Exec(db, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; PRAGMA synchronous=FULL;");
    Exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    for (int i = 0; i < n; ++i) {
      Exec(db,
           "INSERT INTO t (v) VALUES ('row-" + std::to_string(i) + std::string(300, 'x') + "')");
    }
    const std::string out = dir_ + "/" + name;
    fs::create_directories(out);
    fs::copy_file(live + "/t.db", out + "/t.db");
    fs::copy_file(live + "/t.db-wal", out + "/t.db-wal");
    sqlite3_close(db);
    return out;
  }

  static void Exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (err ? err : "");
    sqlite3_free(err);
  }

  // Rows SQLite itself sees in the copy (it replays the WAL as it finds it).
  static int Rows(const std::string& dir) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open((dir + "/t.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    int n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }

  static std::vector<unsigned char> Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static void Write(const std::string& path, const std::vector<unsigned char>& b) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  static size_t FrameOffset(const WalReport& r, int64_t frame) {
    return 32 + static_cast<size_t>(frame - 1) * (24 + r.page_size);
  }

  std::string dir_;
};

// The hostile case first: one flipped byte in a middle frame makes SQLite drop every later
// commit without an error; CheckWal refuses and names the file and the frame.
TEST_F(WalCheckTest, DamagedMiddleFrameFollowedByCommitsIsRefusedNamingTheFrame) {
  const std::string d = RealWal(30);
  WalReport intact;
  ASSERT_TRUE(CheckWal(d + "/t.db-wal", &intact).ok());
  ASSERT_GE(intact.commits, 30);
  const int64_t middle = intact.frames / 2;
  auto b = Read(d + "/t.db-wal");
  b[FrameOffset(intact, middle) + 24 + 200] ^= 0x5a;
  Write(d + "/t.db-wal", b);

  WalReport r;
  Status s = CheckWal(d + "/t.db-wal", &r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(d + "/t.db-wal"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("frame " + std::to_string(middle) + " "), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("--repair"), std::string::npos) << s.message();
  EXPECT_EQ(r.first_bad_frame, middle);
  EXPECT_GT(r.lost_commits, 5);
  // What the check protects against: SQLite opens the damaged copy and silently has fewer rows.
  EXPECT_LT(Rows(d), 30);
}

TEST_F(WalCheckTest, WholeLogFromSqliteIsAccepted) {
  const std::string d = RealWal(30);
  WalReport r;
  Status s = CheckWal(d + "/t.db-wal", &r);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(r.present);
  EXPECT_EQ(r.valid_frames, r.frames);
  EXPECT_GE(r.commits, 31);  // the CREATE TABLE and 30 inserts
  EXPECT_EQ(r.first_bad_frame, 0);
  EXPECT_FALSE(r.torn_tail);
  EXPECT_EQ(Rows(d), 30);
}

TEST_F(WalCheckTest, TornTailIsAcceptedAsSqliteDiscardsIt) {
  const std::string d = RealWal(30);
  WalReport intact;
  ASSERT_TRUE(CheckWal(d + "/t.db-wal", &intact).ok());
  fs::resize_file(d + "/t.db-wal", fs::file_size(d + "/t.db-wal") - 100);  // half-written frame
  WalReport r;
  Status s = CheckWal(d + "/t.db-wal", &r);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(r.torn_tail);
  EXPECT_EQ(r.frames, intact.frames - 1);
  EXPECT_EQ(Rows(d), 29);  // only the interrupted last transaction is gone
}

TEST_F(WalCheckTest, DamageInTheLastTransactionOnlyIsATornTail) {
  const std::string d = RealWal(30);
  WalReport intact;
  ASSERT_TRUE(CheckWal(d + "/t.db-wal", &intact).ok());
  auto b = Read(d + "/t.db-wal");
  b[FrameOffset(intact, intact.frames) + 24 + 10] ^= 1;  // the last (commit) frame
  Write(d + "/t.db-wal", b);
  WalReport r;
  ASSERT_TRUE(CheckWal(d + "/t.db-wal", &r).ok());
  EXPECT_EQ(r.first_bad_frame, intact.frames);
  EXPECT_EQ(r.lost_commits, 0);
  EXPECT_TRUE(r.torn_tail);
}

TEST_F(WalCheckTest, DamagedChecksumFieldIsStillFound) {
  const std::string d = RealWal(30);
  WalReport intact;
  ASSERT_TRUE(CheckWal(d + "/t.db-wal", &intact).ok());
  const int64_t k = intact.frames / 3;
  auto b = Read(d + "/t.db-wal");
  b[FrameOffset(intact, k) + 17] ^= 0xff;  // inside the frame's stored checksum
  Write(d + "/t.db-wal", b);
  WalReport r;
  EXPECT_FALSE(CheckWal(d + "/t.db-wal", &r).ok());
  EXPECT_EQ(r.first_bad_frame, k);
  EXPECT_GT(r.lost_commits, 0);
}

TEST_F(WalCheckTest, DamagedHeaderWithFramesIsRefused) {
  const std::string d = RealWal(5);
  auto b = Read(d + "/t.db-wal");
  b[18] ^= 0x01;  // salt-1: the header checksum no longer matches
  Write(d + "/t.db-wal", b);
  WalReport r;
  Status s = CheckWal(d + "/t.db-wal", &r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("header"), std::string::npos) << s.message();
  EXPECT_TRUE(r.header_damaged);
}

TEST_F(WalCheckTest, MissingEmptyAndShortFilesAreFine) {
  WalReport r;
  EXPECT_TRUE(CheckWal(dir_ + "/none-wal", &r).ok());
  EXPECT_FALSE(r.present);
  Write(dir_ + "/empty-wal", {});
  EXPECT_TRUE(CheckWal(dir_ + "/empty-wal", &r).ok());
  Write(dir_ + "/short-wal", std::vector<unsigned char>(20, 0xab));
  EXPECT_TRUE(CheckWal(dir_ + "/short-wal", &r).ok());
  EXPECT_FALSE(r.present);
}

// Crafted logs: frames are built with the format's checksum so each rule can be set up exactly.
struct Crafted {
  bool big_endian = false;
  uint32_t page = 512;
  uint32_t salt1 = 7, salt2 = 9;
  std::vector<unsigned char> bytes;
  uint32_t sum[2] = {0, 0};

  static void Put(std::vector<unsigned char>& b, size_t at, uint32_t v) {
    b[at] = static_cast<unsigned char>(v >> 24);
    b[at + 1] = static_cast<unsigned char>(v >> 16);
    b[at + 2] = static_cast<unsigned char>(v >> 8);
    b[at + 3] = static_cast<unsigned char>(v);
  }
  void Header() {
    bytes.assign(32, 0);
    Put(bytes, 0, big_endian ? 0x377f0683 : 0x377f0682);
    Put(bytes, 4, 3007000);
    Put(bytes, 8, page);
    Put(bytes, 16, salt1);
    Put(bytes, 20, salt2);
    sum[0] = sum[1] = 0;
    WalChecksum(bytes.data(), 24, big_endian, sum);
    Put(bytes, 24, sum[0]);
    Put(bytes, 28, sum[1]);
  }
  // Appends a frame; `salts` other than the header's make it an earlier generation's.
  void Frame(uint32_t pgno, uint32_t commit, unsigned char fill, uint32_t s1 = 0, uint32_t s2 = 0) {
    std::vector<unsigned char> f(24 + page, fill);
    Put(f, 0, pgno);
    Put(f, 4, commit);
    Put(f, 8, s1 ? s1 : salt1);
    Put(f, 12, s2 ? s2 : salt2);
    WalChecksum(f.data(), 8, big_endian, sum);
    WalChecksum(f.data() + 24, page, big_endian, sum);
    Put(f, 16, sum[0]);
    Put(f, 20, sum[1]);
    bytes.insert(bytes.end(), f.begin(), f.end());
  }
  void Damage(int frame) { bytes[32 + (frame - 1) * (24 + page) + 24 + 3] ^= 0x10; }
};

TEST_F(WalCheckTest, CraftedLogsInBothByteOrders) {
  for (bool be : {false, true}) {
    SCOPED_TRACE(be ? "big-endian" : "little-endian");
    Crafted c;
    c.big_endian = be;
    c.Header();
    c.Frame(1, 0, 0x11);
    c.Frame(2, 2, 0x22);  // commit
    c.Frame(1, 0, 0x33);
    c.Frame(3, 3, 0x44);  // commit
    c.Frame(2, 3, 0x55);  // commit
    Write(dir_ + "/c-wal", c.bytes);
    WalReport r;
    ASSERT_TRUE(CheckWal(dir_ + "/c-wal", &r).ok());
    EXPECT_EQ(r.valid_frames, 5);
    EXPECT_EQ(r.commits, 3);
    c.Damage(3);
    Write(dir_ + "/c-wal", c.bytes);
    Status s = CheckWal(dir_ + "/c-wal", &r);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(r.first_bad_frame, 3);
    EXPECT_EQ(r.lost_commits, 2);
    EXPECT_EQ(r.last_lost_frame, 5);
    EXPECT_NE(s.message().find("frame 3 (byte offset " + std::to_string(32 + 2 * (24 + 512))),
              std::string::npos)
        << s.message();
  }
}

TEST_F(WalCheckTest, EarlierGenerationFramesAfterTheLogAreIgnored) {
  Crafted c;
  c.Header();
  c.Frame(1, 1, 0x11);
  // Left over from before a checkpoint reset: other salts, even intact commits, do not count.
  c.Frame(2, 2, 0x22, 6, 1234);
  c.Frame(3, 3, 0x33, 6, 1234);
  Write(dir_ + "/g-wal", c.bytes);
  WalReport r;
  Status s = CheckWal(dir_ + "/g-wal", &r);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(r.valid_frames, 1);
  EXPECT_EQ(r.first_bad_frame, 2);
  EXPECT_FALSE(r.torn_tail);
}

TEST_F(WalCheckTest, UncommittedFramesAfterDamageAreNotALoss) {
  Crafted c;
  c.Header();
  c.Frame(1, 1, 0x11);
  c.Frame(2, 0, 0x22);
  c.Frame(3, 0, 0x33);  // an unfinished transaction: no commit frame ever followed
  c.Frame(4, 0, 0x44);
  c.Damage(2);
  Write(dir_ + "/u-wal", c.bytes);
  WalReport r;
  ASSERT_TRUE(CheckWal(dir_ + "/u-wal", &r).ok());
  EXPECT_EQ(r.first_bad_frame, 2);
  EXPECT_TRUE(r.torn_tail);
}

TEST_F(WalCheckTest, FrameWithPageZeroIsDamage) {
  Crafted c;
  c.Header();
  c.Frame(1, 1, 0x11);
  c.Frame(0, 0, 0x22);  // checksum right, page number impossible
  c.Frame(2, 2, 0x33);
  Write(dir_ + "/z-wal", c.bytes);
  WalReport r;
  Status s = CheckWal(dir_ + "/z-wal", &r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("page number 0"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace tide
