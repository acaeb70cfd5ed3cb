// Recovery from damaged state (docs/operations.md "Recovering from damaged state"):
//  - tided refuses a store whose write-ahead log lost committed transactions behind a damaged
//    frame, says which, and `tided --repair` recovers them; a torn tail (the normal crash case)
//    starts with every committed workload.
//  - an agent whose instances.json is corrupt finds its running instances again from /proc:
//    same pids, no duplicates, and no orphans once they are deleted.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "daemon/store/wal_check.h"
#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string Name(int i) { return "w-" + std::string(i < 10 ? "0" : "") + std::to_string(i); }

std::string Workload(const std::string& name) {
  return "apiVersion: tide/v1\nkind: Service\nmetadata:\n  name: " + name +
         "\nspec:\n  command: [\"/bin/sleep\", \"600\"]\n  replicas: 1\n";
}

class RecoveryTest : public ::testing::Test {
 protected:
  // 30 workloads, one acknowledged apply each, then a marker so the last transaction in the log
  // is not one of the 30; then kill -9 (the log is left as it is, not checkpointed).
  void ThirtyWorkloadsThenCrash() {
    tided_ = std::make_unique<Tided>(dir_.path());
    for (int i = 0; i < 30; ++i) {
      auto r = tided_->Post("/v1/apply", Workload(Name(i)));
      ASSERT_EQ(r.status, 200) << r.body;
    }
    ASSERT_EQ(tided_->Post("/v1/apply", Workload("marker")).status, 200);
    tided_->Kill9();
    wal_ = tided_->data_dir() + "/tide.db-wal";
    ASSERT_TRUE(CheckWal(wal_, &report_).ok());
    ASSERT_GE(report_.commits, 31) << report_.Summary();
  }
  size_t FrameOffset(int64_t frame) const {
    return 32 + static_cast<size_t>(frame - 1) * (24 + report_.page_size);
  }
  std::set<std::string> Workloads() const {
    std::set<std::string> names;
    for (const auto& w : tided_->Get("/v1/workloads").Json().value("items", json::array())) {
      names.insert(w["metadata"]["name"].get<std::string>());
    }
    return names;
  }
  void TearDown() override {
    if (HasFailure() && tided_ && tided_->proc()) {
      std::cerr << "---- tided log ----\n" << tided_->proc()->Log().substr(0, 20000) << "\n";
    }
  }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
  std::string wal_;
  WalReport report_;
};

TEST_F(RecoveryTest, DamagedWalIsRefusedNamingTheFrameAndRepairRecoversTheWorkloads) {
  ThirtyWorkloadsThenCrash();
  const int64_t frame = report_.valid_frames / 2;
  {
    std::fstream f(wal_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(FrameOffset(frame) + 24 + 64));
    f.write("\xde\xad\xbe\xef", 4);
  }
  // A start on it exits at once (before listening), naming the file and the frame.
  Proc start({TidedBin(), "--data-dir", tided_->data_dir(), "--no-local-agent", "--api-listen",
              "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0"},
             dir_.path() + "/start.log");
  EXPECT_EQ(start.Terminate(0, 20s), 1);  // signal 0: waits for its own exit
  const std::string log = start.Log();
  EXPECT_NE(log.find(wal_ + " is damaged: frame " + std::to_string(frame) + " "), std::string::npos)
      << log;
  EXPECT_NE(log.find("--repair"), std::string::npos) << log;

  Proc repair({TidedBin(), "--data-dir", tided_->data_dir(), "--repair"}, dir_.path() + "/r.log");
  EXPECT_EQ(repair.Terminate(0, 60s), 0) << repair.Log();
  const std::string out = repair.Log();
  std::cout << out;
  EXPECT_NE(out.find("left out (damaged): frame " + std::to_string(frame)), std::string::npos)
      << out;
  EXPECT_NE(out.find("a plain start would have dropped"), std::string::npos) << out;
  EXPECT_NE(out.find("PRAGMA quick_check: ok"), std::string::npos) << out;
  int aside = 0;
  for (const auto& e : fs::directory_iterator(tided_->data_dir())) {
    aside += e.path().filename().string().starts_with("damaged-") &&
             fs::exists(e.path() / "tide.db-wal");
  }
  EXPECT_EQ(aside, 1);

  tided_->Start();
  const std::set<std::string> names = Workloads();
  int of_thirty = 0;
  for (int i = 0; i < 30; ++i) of_thirty += names.count(Name(i)) ? 1 : 0;
  // Every transaction but, at worst, the one the damaged frame belonged to.
  EXPECT_GE(of_thirty, 29) << out;
  for (const auto& n : names) EXPECT_NE(out.find(" " + n), std::string::npos) << n;
}

TEST_F(RecoveryTest, TornTailStartsWithEveryCommittedWorkload) {
  ThirtyWorkloadsThenCrash();
  // Cut the last frame of the log in half: a write the crash interrupted.
  fs::resize_file(wal_, FrameOffset(report_.valid_frames) + 24 + report_.page_size / 2);
  tided_->Start();
  const std::set<std::string> names = Workloads();
  for (int i = 0; i < 30; ++i) EXPECT_TRUE(names.count(Name(i))) << Name(i);
}

TEST_F(RecoveryTest, CorruptInstancesFileAgentFindsItsInstancesAgain) {
  tided_ = std::make_unique<Tided>(dir_.path());
  const int base = ReservePortBlock();
  AgentProc agent(dir_.path(), *tided_, "node-a", base, base + 49);
  ASSERT_TRUE(WaitFor(
      [&] { return tided_->Get("/v1/nodes").Json().value("items", json::array()).size() == 1; },
      10s));
  ASSERT_EQ(tided_->Post("/v1/apply", TestappManifest("web", 3)).status, 200);
  std::map<std::string, int> before;
  ASSERT_TRUE(WaitFor(
      [&] {
        before = PidsById(tided_->Instances("web"));
        return before.size() == 3;
      },
      20s))
      << tided_->Instances("web").dump(2);

  agent.Kill9();
  const std::string data = dir_.path() + "/agent-node-a/data";
  {
    std::ofstream f(data + "/instances.json", std::ios::trunc);
    f << "{\"node\": \"node-a\", \"specs\": [{\"command\": [\"/bin/";  // cut short
  }
  agent.Start();
  auto registrations = [&] {
    const std::string log = agent.proc()->Log();
    int n = 0;
    for (size_t p = log.find("registered with"); p != std::string::npos;
         p = log.find("registered with", p + 1)) {
      ++n;
    }
    return n;
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        return agent.proc()->Log().find("found 3 running instance(s)") != std::string::npos &&
               registrations() >= 2;
      },
      15s))
      << agent.proc()->Log();

  // Same ids, same pids, all Ready again; exactly those three processes run.
  ASSERT_TRUE(WaitFor([&] { return PidsById(tided_->Instances("web")) == before; }, 15s))
      << tided_->Instances("web").dump(2) << agent.proc()->Log();
  std::set<int> want;
  for (const auto& [id, pid] : before) want.insert(pid);
  std::set<int> running;
  for (int pid : PidsOfWorkload("web")) running.insert(pid);
  EXPECT_EQ(running, want);
  int corrupt_kept = 0;
  for (const auto& e : fs::directory_iterator(data)) {
    corrupt_kept += e.path().filename().string().starts_with("instances.json.corrupt-");
  }
  EXPECT_EQ(corrupt_kept, 1);
  for (const auto& i : tided_->Instances("web")) EXPECT_EQ(i.value("restarts", -1), 0);

  // Deleting stops the re-adopted processes: nothing is left behind.
  ASSERT_EQ(tided_->Delete("/v1/workloads/web").status, 200);
  EXPECT_TRUE(WaitFor([&] { return PidsOfWorkload("web").empty(); }, 15s))
      << PidsOfWorkload("web").size();
  for (const auto& [id, pid] : before) EXPECT_FALSE(PidAlive(pid)) << id;
}

// The documented invariant: an agent that cannot save (here instances.json.tmp and
// instances.journal are directories, so every save fails even for root, like a full disk) does
// not report the process it launched; and killed in that state, it finds the process again at
// its next start instead of starting a copy.
TEST_F(RecoveryTest, AgentThatCannotRecordDoesNotReportAndReadoptsAfterRestart) {
  tided_ = std::make_unique<Tided>(dir_.path());
  const int base = ReservePortBlock();
  AgentProc agent(dir_.path(), *tided_, "node-a", base, base + 49);
  ASSERT_TRUE(WaitFor(
      [&] { return tided_->Get("/v1/nodes").Json().value("items", json::array()).size() == 1; },
      10s));
  const std::string data = dir_.path() + "/agent-node-a/data";
  // The agent's own save briefly has a file by that name (written, then renamed): retry past it.
  ASSERT_TRUE(WaitFor(
      [&] {
        std::error_code ec;
        fs::create_directory(data + "/instances.json.tmp", ec);
        if (!fs::is_directory(data + "/instances.journal", ec)) {
          fs::remove(data + "/instances.journal", ec);  // appends open it by name
          fs::create_directory(data + "/instances.journal", ec);
        }
        return fs::is_directory(data + "/instances.json.tmp", ec) &&
               fs::is_directory(data + "/instances.journal", ec);
      },
      5s));
  ASSERT_EQ(tided_->Post("/v1/apply", TestappManifest("solo", 1)).status, 200);
  std::vector<int> pids;
  ASSERT_TRUE(WaitFor(
      [&] {
        pids = PidsOfWorkload("solo");
        return pids.size() == 1;
      },
      15s));
  const int pid = pids[0];
  auto reported_pid = [&] {
    for (const auto& i : tided_->Instances("solo")) {
      if (i.value("pid", 0) > 0) return true;
    }
    return false;
  };
  // Reports go out every second and at once on a change: three seconds see several.
  EXPECT_FALSE(WaitFor(reported_pid, 3s)) << tided_->Instances("solo").dump(2);

  agent.Kill9();
  fs::remove_all(data + "/instances.json.tmp");
  fs::remove_all(data + "/instances.journal");
  agent.Start();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto ready = PidsById(tided_->Instances("solo"));
        return ready.size() == 1 && ready.begin()->second == pid;
      },
      15s))
      << tided_->Instances("solo").dump(2) << agent.proc()->Log();
  EXPECT_EQ(PidsOfWorkload("solo"), std::vector<int>{pid});  // no second copy
  EXPECT_NE(agent.proc()->Log().find("runs but was not recorded"), std::string::npos)
      << agent.proc()->Log();

  ASSERT_EQ(tided_->Delete("/v1/workloads/solo").status, 200);
  EXPECT_TRUE(WaitFor([&] { return !PidAlive(pid) && PidsOfWorkload("solo").empty(); }, 15s));
}

// --repair is an action for one run, never a standing setting in --config.
TEST_F(RecoveryTest, RepairIsNotAConfigKey) {
  WriteFile(dir_.path() + "/tided.yaml", "repair: true\n");
  Proc p({TidedBin(), "--config", dir_.path() + "/tided.yaml", "--data-dir", dir_.path() + "/d"},
         dir_.path() + "/cfg.log");
  EXPECT_EQ(p.Terminate(0, 20s), 2);
  EXPECT_NE(p.Log().find("unknown setting 'repair'"), std::string::npos) << p.Log();
  EXPECT_FALSE(fs::exists(dir_.path() + "/d/tide.db"));
}

}  // namespace
}  // namespace tide::testing
