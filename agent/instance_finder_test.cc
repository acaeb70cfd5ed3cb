#include "agent/instance_finder.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>

namespace tide {
namespace {

namespace fs = std::filesystem;

class InstanceFinderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tide-finder-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    proc_ = dir_ + "/proc";
    data_ = dir_ + "/data";
    fs::create_directories(proc_);
    fs::create_directories(data_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A fake /proc/PID with an environ block (entries joined by NUL) and a stat line.
  void Proc(int pid, const std::vector<std::string>& env, int pgrp, uint64_t start,
            char state = 'S') {
    const std::string d = proc_ + "/" + std::to_string(pid);
    fs::create_directories(d);
    std::string block;
    for (const auto& e : env) block += e + '\0';
    std::ofstream(d + "/environ", std::ios::binary) << block;
    std::ofstream(d + "/stat") << pid << " (srv (x) y) " << state << " 1 " << pgrp
                               << " 1 0 -1 0 0 0 0 0 10 5 0 0 20 0 1 0 " << start << " 1000 50 0\n";
  }
  static std::vector<std::string> Env(const std::string& node, const std::string& id,
                                      const std::string& port = "20001") {
    return {"PATH=/usr/bin", "PORT=" + port, "TIDE_WORKLOAD=web", "TIDE_INSTANCE=" + id,
            "TIDE_NODE=" + node};
  }

  std::string dir_, proc_, data_;
};

TEST_F(InstanceFinderTest, FindsOnlyThisNodesGroupLeadersOnePerId) {
  Proc(100, Env("node-a", "web-1"), 100, 5000);
  Proc(101, Env("node-a", "web-1"), 100, 5001);  // web-1's child: same env, not the leader
  Proc(200, Env("node-a", "web-2", "20002"), 200, 6000);
  Proc(300, Env("node-b", "web-3"), 300, 7000);           // another node's instance
  Proc(400, Env("node-a", "web-4"), 400, 8000, 'Z');      // a zombie is not running
  Proc(500, Env("node-a", "web-2", "20009"), 500, 9000);  // a younger duplicate of web-2
  FoundInstances f = FindInstances(proc_, "node-a");
  ASSERT_EQ(f.instances.size(), 2u);
  EXPECT_EQ(f.instances[0].id, "web-1");
  EXPECT_EQ(f.instances[0].pid, 100);
  EXPECT_EQ(f.instances[0].start_time, 5000u);
  EXPECT_EQ(f.instances[0].port, 20001);
  EXPECT_EQ(f.instances[0].workload, "web");
  EXPECT_EQ(f.instances[1].id, "web-2");
  EXPECT_EQ(f.instances[1].pid, 200);  // the oldest
  ASSERT_EQ(f.duplicates.size(), 1u);
  EXPECT_EQ(f.duplicates[0].pid, 500);
}

// Hostile environments: look-alike keys and node names must not be taken for ours.
TEST_F(InstanceFinderTest, LookAlikeVariablesAndNamesAreNotMatches) {
  Proc(100, {"XTIDE_NODE=node-a", "TIDE_INSTANCE=a-1"}, 100, 1);
  Proc(101, {"TIDE_NODE=node-a-evil", "TIDE_INSTANCE=a-2"}, 101, 1);
  Proc(102, {"TIDE_NODE", "TIDE_NODE=", "TIDE_INSTANCE=a-3"}, 102, 1);
  Proc(103, {"TIDE_NODE=node-a", "TIDE_INSTANCE="}, 103, 1);  // no id
  Proc(104, {"TIDE_NODE=node-a", "TIDE_INSTANCE=a-5", "PORT=99999"}, 104, 1);
  Proc(105, {"TIDE_NODE=node-a", "TIDE_INSTANCE=a-6", "PORT=80x"}, 105, 1);
  fs::create_directories(proc_ + "/self");
  fs::create_directories(proc_ + "/12abc");
  fs::create_directories(proc_ + "/106");  // vanished between readdir and read: no files
  FoundInstances f = FindInstances(proc_, "node-a");
  ASSERT_EQ(f.instances.size(), 2u);
  EXPECT_EQ(f.instances[0].id, "a-5");
  EXPECT_EQ(f.instances[0].port, 0);  // out of range: unknown, never wrapped
  EXPECT_EQ(f.instances[1].id, "a-6");
  EXPECT_EQ(f.instances[1].port, 0);
  EXPECT_TRUE(FindInstances(dir_ + "/no-proc", "node-a").instances.empty());
}

TEST_F(InstanceFinderTest, CorruptStateFileIsMovedAsideAndReplacedByWhatWasFound) {
  Proc(100, Env("node-a", "web-1"), 100, 5000);
  Proc(200, Env("node-a", "web-2", "20002"), 200, 6000);
  std::ofstream(data_ + "/instances.json") << "{\"node\": \"node-a\", \"instances\": [{\"id";
  FoundInstances found;
  std::string moved;
  Status st = RecoverInstanceState(data_, "node-a", proc_, 1796268000000, &found, &moved);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(moved, data_ + "/instances.json.corrupt-20261203T032000Z");
  EXPECT_TRUE(fs::exists(moved));
  ASSERT_EQ(found.instances.size(), 2u);

  FileStateStore store(data_);
  AgentState saved;
  ASSERT_TRUE(store.Load(&saved).ok());
  EXPECT_EQ(saved.node, "node-a");
  ASSERT_EQ(saved.instances.size(), 2u);
  const SavedInstance& r = saved.instances[1];
  EXPECT_EQ(r.assignment.id, "web-2");
  EXPECT_EQ(r.assignment.workload, "web");
  EXPECT_EQ(r.status.pid, 200);
  EXPECT_EQ(r.status.port, 20002);
  EXPECT_EQ(r.start_time, 6000u);
  EXPECT_EQ(r.phase, InstancePhase::kRunning);
  EXPECT_EQ(r.status.state, InstanceState::kStarting);
  EXPECT_FALSE(r.removing);
}

TEST_F(InstanceFinderTest, ReadableOrMissingStateIsLeftAlone) {
  FoundInstances found;
  std::string moved;
  EXPECT_FALSE(RecoverInstanceState(data_, "node-a", proc_, 0, &found, &moved).ok());
  FileStateStore store(data_);
  ASSERT_TRUE(store.Save(AgentState{"node-a", {}}).ok());
  Status st = RecoverInstanceState(data_, "node-a", proc_, 0, &found, &moved);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_TRUE(moved.empty());
  EXPECT_TRUE(fs::exists(data_ + "/instances.json"));
}

// Only processes whose stdout is this agent's log file for their id are its instances.
TEST_F(InstanceFinderTest, WithALogsDirOnlyProcessesWritingThereAreFound) {
  const std::string logs = dir_ + "/data/logs";
  Proc(100, Env("node-a", "web-1"), 100, 5000);
  Proc(200, Env("node-a", "web-2"), 200, 6000);
  Proc(300, Env("node-a", "web-3"), 300, 7000);  // no fd/ at all
  Proc(400, Env("node-a", "../logs/web-1"), 400, 8000);
  fs::create_directories(proc_ + "/100/fd");
  fs::create_symlink(logs + "/web-1.log", proc_ + "/100/fd/1");
  fs::create_directories(proc_ + "/200/fd");
  fs::create_symlink(dir_ + "/other-agent/logs/web-2.log", proc_ + "/200/fd/1");
  fs::create_directories(proc_ + "/400/fd");
  fs::create_symlink(logs + "/web-1.log", proc_ + "/400/fd/1");
  FoundInstances f = FindInstances(proc_, "node-a", logs);
  ASSERT_EQ(f.instances.size(), 1u);
  EXPECT_EQ(f.instances[0].pid, 100);
}

// A full disk: web-2 was launched but never recorded, web-3 restarted without its new pid being
// recorded. Both are added, web-1 (recorded as it runs) is left as it is.
TEST_F(InstanceFinderTest, UnrecordedInstancesAreAddedToTheSavedState) {
  Proc(100, Env("node-a", "web-1"), 100, 5000);
  Proc(200, Env("node-a", "web-2", "20002"), 200, 6000);
  Proc(301, Env("node-a", "web-3", "20003"), 301, 7001);
  AgentState saved;
  saved.node = "node-a";
  for (auto [id, pid, start] : {std::tuple{"web-1", 100, 5000}, std::tuple{"web-3", 300, 7000}}) {
    SavedInstance r;
    r.assignment.id = r.status.id = id;
    r.status.pid = pid;
    r.start_time = start;
    r.phase = InstancePhase::kRunning;
    saved.instances.push_back(r);
  }
  FileStateStore store(data_);
  ASSERT_TRUE(store.Save(saved).ok());
  std::vector<FoundInstance> added;
  ASSERT_TRUE(AdoptUnrecorded(data_, "node-a", proc_, "", &added).ok());
  ASSERT_EQ(added.size(), 2u);
  AgentState now;
  ASSERT_TRUE(store.Load(&now).ok());
  std::map<std::string, std::pair<int, uint64_t>> got;
  for (const auto& r : now.instances) got[r.assignment.id] = {r.status.pid, r.start_time};
  EXPECT_EQ(got["web-1"], std::make_pair(100, uint64_t{5000}));
  EXPECT_EQ(got["web-2"], std::make_pair(200, uint64_t{6000}));
  EXPECT_EQ(got["web-3"], std::make_pair(301, uint64_t{7001}));
  added.clear();
  ASSERT_TRUE(AdoptUnrecorded(data_, "node-a", proc_, "", &added).ok());
  EXPECT_TRUE(added.empty());
  // A corrupt file is not this function's to fix: Invalid, and nothing is written.
  std::ofstream(data_ + "/instances.json", std::ios::trunc) << "{";
  EXPECT_EQ(AdoptUnrecorded(data_, "node-a", proc_, "", &added).code(), Status::Code::kInvalid);
}

}  // namespace
}  // namespace tide
