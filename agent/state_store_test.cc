#include "agent/state_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "api/json.h"

namespace tide {
namespace {

namespace fs = std::filesystem;

SavedInstance Record(const std::string& id, int pid, InstancePhase phase) {
  SavedInstance r;
  r.assignment.id = id;
  r.assignment.workload = "web";
  r.assignment.generation = 3;
  r.assignment.spec.mut().command = {"web-server", "--port", "${PORT}"};
  r.status.id = id;
  r.status.workload = "web";
  r.status.pid = pid;
  r.status.port = 20000 + pid % 100;
  r.status.restarts = 2;
  r.status.generation = 3;
  r.status.state = InstanceState::kReady;
  r.phase = phase;
  r.start_time = 123456789012ull + static_cast<uint64_t>(pid);
  r.removing = pid % 2 == 0;
  r.relaunch_counts = true;
  return r;
}

AgentState TwoInstances() {
  AgentState s;
  s.node = "node-a";
  s.instances = {Record("web-1", 101, InstancePhase::kRunning),
                 Record("web-2", 102, InstancePhase::kDone)};
  return s;
}

void ExpectSame(const AgentState& a, const AgentState& b) {
  EXPECT_EQ(a.node, b.node);
  ASSERT_EQ(a.instances.size(), b.instances.size());
  for (size_t i = 0; i < a.instances.size(); ++i) {
    const SavedInstance &x = a.instances[i], &y = b.instances[i];
    EXPECT_EQ(x.assignment.id, y.assignment.id);
    EXPECT_EQ(x.assignment.workload, y.assignment.workload);
    EXPECT_EQ(x.assignment.generation, y.assignment.generation);
    EXPECT_EQ(x.assignment.spec->command, y.assignment.spec->command);
    EXPECT_EQ(x.status.pid, y.status.pid);
    EXPECT_EQ(x.status.port, y.status.port);
    EXPECT_EQ(x.status.restarts, y.status.restarts);
    EXPECT_EQ(x.status.state, y.status.state);
    EXPECT_EQ(x.phase, y.phase);
    EXPECT_EQ(x.start_time, y.start_time);
    EXPECT_EQ(x.removing, y.removing);
    EXPECT_EQ(x.relaunch_counts, y.relaunch_counts);
  }
}

class FileStateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tide-state-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/agent";
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string Path() const { return dir_ + "/instances.json"; }
  std::string Read() const {
    std::ifstream in(Path());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string root_, dir_;
};

TEST_F(FileStateStoreTest, NothingSavedYetIsAnEmptyState) {
  FileStateStore store(dir_);
  AgentState st;
  st.node = "stale";
  ASSERT_TRUE(store.Load(&st).ok());
  EXPECT_TRUE(st.instances.empty());
  EXPECT_EQ(st.node, "");
  EXPECT_EQ(store.Where(), Path());
}

TEST_F(FileStateStoreTest, SaveThenLoadRoundTripsEveryField) {
  FileStateStore store(dir_);
  ASSERT_TRUE(store.Save(TwoInstances()).ok());
  AgentState back;
  ASSERT_TRUE(FileStateStore(dir_).Load(&back).ok());
  ExpectSame(TwoInstances(), back);
}

TEST_F(FileStateStoreTest, FileIs0600InA0700DirAndNoTempFileRemains) {
  FileStateStore store(dir_);
  ASSERT_TRUE(store.Save(TwoInstances()).ok());
  struct stat st {};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(Path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(Path() + ".tmp"));
  // A second save replaces the file (rename over it), same mode.
  AgentState one = TwoInstances();
  one.instances.pop_back();
  ASSERT_TRUE(store.Save(one).ok());
  ASSERT_EQ(::stat(Path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  AgentState back;
  ASSERT_TRUE(store.Load(&back).ok());
  EXPECT_EQ(back.instances.size(), 1u);
}

TEST_F(FileStateStoreTest, SharedSpecsAreWrittenOnce) {
  FileStateStore store(dir_);
  ASSERT_TRUE(store.Save(TwoInstances()).ok());
  json doc = json::parse(Read());
  ASSERT_TRUE(doc["specs"].is_array());
  EXPECT_EQ(doc["specs"].size(), 1u);  // both replicas run the same spec
  EXPECT_EQ(doc["instances"][0]["phase"], "running");
  EXPECT_EQ(doc["instances"][1]["phase"], "done");
}

TEST_F(FileStateStoreTest, CorruptFileIsAnErrorNamingThePathNeverAnEmptyState) {
  fs::create_directories(dir_);
  for (const std::string text :
       {"{not json", "", "[]", R"({"instances":{}})", R"({"instances":[{"id":"x"}]})",
        R"({"instances":[{"assignment":{"id":"a"},"status":{},"phase":"flying"}]})",
        R"({"specs":[],"instances":[{"id":"a","specRef":7,"status":{}}]})"}) {
    std::ofstream(Path(), std::ios::trunc) << text;
    AgentState st;
    Status s = FileStateStore(dir_).Load(&st);
    EXPECT_FALSE(s.ok()) << "accepted: " << text;
    EXPECT_NE(s.message().find(Path()), std::string::npos) << s.message();
  }
}

TEST_F(FileStateStoreTest, UnreadableFileIsAnError) {
  fs::create_directories(Path());  // a directory where the file belongs: read fails
  AgentState st;
  Status s = FileStateStore(dir_).Load(&st);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(Path()), std::string::npos) << s.message();
}

TEST_F(FileStateStoreTest, FailedWriteKeepsThePreviousState) {
  FileStateStore store(dir_);
  ASSERT_TRUE(store.Save(TwoInstances()).ok());
  fs::create_directories(Path() + ".tmp");  // the temp file cannot be created
  AgentState empty;
  // A new store (an agent restart) saves a snapshot first: that is the write that fails.
  Status s = FileStateStore(dir_).Save(empty);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("instances.json.tmp"), std::string::npos) << s.message();
  AgentState back;
  ASSERT_TRUE(store.Load(&back).ok());
  ExpectSame(TwoInstances(), back);
}

TEST_F(FileStateStoreTest, DataDirThatIsAFileFailsToSave) {
  fs::create_directories(root_);
  std::ofstream(dir_) << "x";
  EXPECT_FALSE(FileStateStore(dir_).Save(TwoInstances()).ok());
}

// Agents before the shared-spec form wrote each record's assignment inline, without "specs".
TEST_F(FileStateStoreTest, ReadsTheInlineFormOfEarlierVersions) {
  fs::create_directories(dir_);
  const AgentState want = TwoInstances();
  json records = json::array();
  for (const auto& r : want.instances) {
    records.push_back({{"assignment", r.assignment},
                       {"status", r.status},
                       {"phase", InstancePhaseName(r.phase)},
                       {"startTime", r.start_time},
                       {"removing", r.removing},
                       {"relaunchCounts", r.relaunch_counts}});
  }
  std::ofstream(Path()) << json{{"node", "node-a"}, {"instances", records}}.dump();
  AgentState back;
  ASSERT_TRUE(FileStateStore(dir_).Load(&back).ok());
  ExpectSame(want, back);
}

AgentState FourInstances() {
  AgentState s;
  s.node = "node-a";
  for (int i = 1; i <= 4; ++i)
    s.instances.push_back(Record("web-" + std::to_string(i), 100 + i, InstancePhase::kRunning));
  return s;
}

AgentState SortedById(AgentState s) {
  std::sort(s.instances.begin(), s.instances.end(),
            [](const auto& a, const auto& b) { return a.assignment.id < b.assignment.id; });
  return s;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A cold start's save (one record more) is one appended line, not a rewrite of the document.
TEST_F(FileStateStoreTest, SmallChangesAreAppendedToTheJournalAndReplayedByLoad) {
  FileStateStore store(dir_);
  AgentState want = FourInstances();
  ASSERT_TRUE(store.Save(want).ok());
  const std::string snapshot = Read();
  want.instances[1].status.pid = 777;  // a restart
  want.instances[1].start_time = 999;
  ASSERT_TRUE(store.Save(want).ok());
  want.instances.push_back(Record("web-5", 105, InstancePhase::kRunning));  // a cold start
  ASSERT_TRUE(store.Save(want).ok());
  want.instances.erase(want.instances.begin());  // web-1 gone
  ASSERT_TRUE(store.Save(want).ok());
  ASSERT_TRUE(store.Save(want).ok());  // nothing changed: nothing written
  EXPECT_EQ(store.snapshots(), 1);
  EXPECT_EQ(store.appends(), 3);
  EXPECT_EQ(Read(), snapshot);  // the snapshot was not rewritten
  std::string journal = ReadAll(dir_ + "/instances.journal");
  EXPECT_EQ(std::count(journal.begin(), journal.end(), '\n'), 3);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/instances.journal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  AgentState back;
  ASSERT_TRUE(FileStateStore(dir_).Load(&back).ok());
  ExpectSame(SortedById(want), SortedById(back));

  // A new store (an agent restart) starts with a snapshot of its own; the old lines are stale.
  FileStateStore again(dir_);
  AgentState fresh = TwoInstances();
  ASSERT_TRUE(again.Save(fresh).ok());
  EXPECT_EQ(again.snapshots(), 1);
  std::ofstream(dir_ + "/instances.journal", std::ios::app) << journal;  // stale lines back
  ASSERT_TRUE(FileStateStore(dir_).Load(&back).ok());
  ExpectSame(SortedById(fresh), SortedById(back));
}

TEST_F(FileStateStoreTest, ATornLastJournalLineIsASaveThatNeverCompleted) {
  FileStateStore store(dir_);
  AgentState want = FourInstances();
  ASSERT_TRUE(store.Save(want).ok());
  want.instances[0].status.pid = 4242;
  ASSERT_TRUE(store.Save(want).ok());
  ASSERT_EQ(store.appends(), 1);
  const std::string journal = ReadAll(dir_ + "/instances.journal");
  std::ofstream(dir_ + "/instances.journal", std::ios::app) << journal.substr(0, 40);
  AgentState back;
  ASSERT_TRUE(FileStateStore(dir_).Load(&back).ok());
  ExpectSame(SortedById(want), SortedById(back));

  // Damage before the last line is damage: an error naming the journal, never a guess.
  std::ofstream(dir_ + "/instances.journal", std::ios::trunc) << "{\"half\n" << journal << journal;
  Status s = FileStateStore(dir_).Load(&back);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kInvalid);
  EXPECT_NE(s.message().find("instances.journal: line 1"), std::string::npos) << s.message();
}

// A journal that cannot be appended to fails the save (so nothing of it is reported); the next
// save is a snapshot, which makes the journal again.
TEST_F(FileStateStoreTest, AJournalThatWentAwayFailsTheSaveAndTheNextIsASnapshot) {
  FileStateStore store(dir_);
  AgentState want = FourInstances();
  ASSERT_TRUE(store.Save(want).ok());
  fs::remove(dir_ + "/instances.journal");
  fs::create_directory(dir_ + "/instances.journal");  // not writable as a file, even for root
  want.instances[0].status.pid = 4343;
  Status s = store.Save(want);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("instances.journal"), std::string::npos) << s.message();
  fs::remove(dir_ + "/instances.journal");
  AgentState back;
  ASSERT_TRUE(FileStateStore(dir_).Load(&back).ok());
  ExpectSame(SortedById(FourInstances()), SortedById(back));  // the failed save is not there
  ASSERT_TRUE(store.Save(want).ok());
  EXPECT_EQ(store.snapshots(), 2);
  want.instances[1].status.pid = 4444;
  ASSERT_TRUE(store.Save(want).ok());
  EXPECT_EQ(store.appends(), 1);
  ASSERT_TRUE(FileStateStore(dir_).Load(&back).ok());
  ExpectSame(SortedById(want), SortedById(back));
}

// A cold start's save is one appended line; its fdatasync (milliseconds on a busy disk) runs
// on the store's syncer thread, so Save returns without waiting for it, and what it wrote is
// already what a new store (an agent restarted after kill -9) loads.
TEST_F(FileStateStoreTest, AnAppendDoesNotWaitForItsSync) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int syncs = 0;
  FileStateStore store(dir_, [&](int fd) {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, std::chrono::seconds(10), [&] { return release; });
    ++syncs;
    return ::fdatasync(fd);
  });
  AgentState want = FourInstances();
  ASSERT_TRUE(store.Save(want).ok());  // the first save is a snapshot, synced in Save
  want.instances.push_back(Record("web-5", 105, InstancePhase::kRunning));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(store.Save(want).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(store.appends(), 1);
  AgentState back;
  ASSERT_TRUE(FileStateStore(dir_).Load(&back).ok());
  ExpectSame(SortedById(want), SortedById(back));
  {
    std::lock_guard<std::mutex> lk(mu);
    EXPECT_EQ(syncs, 0);
    release = true;
  }
  cv.notify_all();
  EXPECT_TRUE(store.Flush());
  std::lock_guard<std::mutex> lk(mu);
  EXPECT_EQ(syncs, 1);
}

// An fdatasync that fails is not lost: the next save is a snapshot, synced before it returns.
TEST_F(FileStateStoreTest, AFailedSyncMakesTheNextSaveASnapshot) {
  bool fail = true;
  FileStateStore store(dir_, [&](int fd) {
    if (!fail) return ::fdatasync(fd);
    errno = EIO;
    return -1;
  });
  AgentState want = FourInstances();
  ASSERT_TRUE(store.Save(want).ok());
  want.instances[0].status.pid = 4545;
  ASSERT_TRUE(store.Save(want).ok());
  EXPECT_FALSE(store.Flush());
  fail = false;  // read by the syncer only after the next append, which Flush ordered
  want.instances[1].status.pid = 4646;
  ASSERT_TRUE(store.Save(want).ok());
  EXPECT_EQ(store.snapshots(), 2);
  EXPECT_EQ(store.appends(), 1);
  AgentState back;
  ASSERT_TRUE(FileStateStore(dir_).Load(&back).ok());
  ExpectSame(SortedById(want), SortedById(back));
}

TEST_F(FileStateStoreTest, ChangingMostRecordsWritesASnapshot) {
  FileStateStore store(dir_);
  AgentState want;
  want.node = "node-a";
  // A node's only instance replaced by another (a cold start from zero) is a journal line...
  want.instances.push_back(Record("web-0", 100, InstancePhase::kRunning));
  ASSERT_TRUE(store.Save(want).ok());
  want.instances[0] = Record("web-1", 101, InstancePhase::kRunning);
  ASSERT_TRUE(store.Save(want).ok());
  EXPECT_EQ(store.appends(), 1);
  // ...and a sampling round that changes most of many records is a snapshot.
  const int many = static_cast<int>(FileStateStore::kMinSnapshotRecords);
  for (int i = 2; i < 2 + many; ++i)
    want.instances.push_back(Record("web-" + std::to_string(i), 100 + i, InstancePhase::kRunning));
  ASSERT_TRUE(store.Save(want).ok());
  EXPECT_EQ(store.snapshots(), 2);
  for (auto& r : want.instances) r.status.memory_bytes = 1 << 20;
  ASSERT_TRUE(store.Save(want).ok());
  EXPECT_EQ(store.snapshots(), 3);
  EXPECT_EQ(store.appends(), 1);
  EXPECT_EQ(ReadAll(dir_ + "/instances.journal"), "");
  AgentState back;
  ASSERT_TRUE(FileStateStore(dir_).Load(&back).ok());
  ExpectSame(want, back);
}

TEST(MemoryStateStoreTest, RoundTripsAndInjectsFailures) {
  MemoryStateStore store;
  AgentState st;
  ASSERT_TRUE(store.Load(&st).ok());
  EXPECT_TRUE(st.instances.empty());
  ASSERT_TRUE(store.Save(TwoInstances()).ok());
  ASSERT_TRUE(store.Load(&st).ok());
  ExpectSame(TwoInstances(), st);

  store.FailSaves(1, Status::Internal("disk full"));
  Status s = store.Save(AgentState{});
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "disk full");
  ASSERT_TRUE(store.Load(&st).ok());
  ExpectSame(TwoInstances(), st);  // the failed save changed nothing
  EXPECT_TRUE(store.Save(AgentState{}).ok());
  EXPECT_EQ(store.saves(), 2);

  store.Corrupt();
  EXPECT_FALSE(store.Load(&st).ok());
}

}  // namespace
}  // namespace tide
