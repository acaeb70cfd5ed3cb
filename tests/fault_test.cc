// Fault-tolerance integration tests (issue: "Nothing lost, nothing disrupted"): real tided and
// tide-agent processes on loopback are killed with SIGKILL and restarted; the tests check that
// running instances survive with their exact PIDs where they must, are replaced (by count) where
// they must, that nothing is duplicated or orphaned, that crash loops back off as configured, and
// that every answered apply survives a crash of tided.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <set>
#include <thread>

#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::set<int> PidSet(const std::map<std::string, int>& by_id) {
  std::set<int> s;
  for (const auto& [id, pid] : by_id) s.insert(pid);
  return s;
}

std::set<int> Set(const std::vector<int>& v) { return {v.begin(), v.end()}; }

class FaultTest : public ::testing::Test {
 protected:
  // tided (local agent or not) plus `agents` tide-agents named node-a, node-b, ...
  void StartCluster(int agents, bool local_agent = false, const std::string& node_grace = "10s") {
    Tided::Options o;
    o.local_agent = local_agent;
    o.node_grace = node_grace;
    tided_ = std::make_unique<Tided>(dir_.path(), o);
    // Below the kernel's ephemeral range (32768+), so a TCP readiness probe can never succeed
    // by connecting to itself or to some client socket on an instance's port.
    int base = ReservePortBlock();
    ASSERT_LE(agents * 50, kPortBlock);
    for (int i = 0; i < agents; ++i) {
      std::string name = std::string("node-") + static_cast<char>('a' + i);
      agents_.push_back(std::make_unique<AgentProc>(dir_.path(), *tided_, name, base + i * 50,
                                                    base + i * 50 + 49));
    }
    size_t want = agents + (local_agent ? 1 : 0);
    ASSERT_TRUE(WaitFor(
        [&] {
          json n = tided_->Get("/v1/nodes").Json();
          return n.contains("items") && n["items"].size() == want;
        },
        10s))
        << tided_->proc()->Log();
  }
  void Apply(const std::string& yaml) {
    auto r = tided_->Post("/v1/apply", yaml);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // Ready instances by id once exactly `n` instances exist and all are Ready.
  std::map<std::string, int> WaitAllReady(const std::string& workload, size_t n,
                                          std::chrono::milliseconds timeout = 20s) {
    std::map<std::string, int> ready;
    bool ok = WaitFor(
        [&] {
          json inst = tided_->Instances(workload);
          ready = PidsById(inst);
          return inst.size() == n && ready.size() == n;
        },
        timeout);
    EXPECT_TRUE(ok) << tided_->Instances(workload).dump(2);
    return ready;
  }
  void TearDown() override {
    if (HasFailure() && tided_) {
      std::cerr << "---- events ----\n" << Events(*tided_).dump(1).substr(0, 15000) << "\n";
      PrintInstanceLogTails(dir_.path());
      std::cerr << "---- instances ----\n"
                << tided_->Get("/v1/instances").body.substr(0, 8000) << "\n";
      std::cerr << "---- tided log ----\n" << tided_->proc()->Log().substr(0, 20000) << "\n";
      for (auto& a : agents_) {
        std::string log = a->proc()->Log();
        std::cerr << "---- " << a->name() << " log ----\n"
                  << log.substr(log.size() > 8000 ? log.size() - 8000 : 0) << "\n";
      }
    }
    agents_.clear();
    tided_.reset();
  }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
  std::vector<std::unique_ptr<AgentProc>> agents_;
};

// While tided is down nothing happens to the instances; once it is back, the agents re-register
// and it shows exactly the instances that ran before: same ids, same pids, no restart, no extra.
void ExpectSameInstancesAfterRestart(Tided& tided, const std::string& workload,
                                     const std::map<std::string, int>& before) {
  std::map<std::string, uint64_t> start_times;
  for (const auto& [id, pid] : before) start_times[id] = ProcStartTime(pid);
  auto churn = [&] {
    return CountEvents(tided, workload, "Scheduled") + CountEvents(tided, workload, "Killing");
  };
  const int churn_before = churn();

  tided.Kill9();
  // Down for 1.5 s: every instance keeps running (a window, not a sleep: any death fails).
  bool someone_died = WaitFor(
      [&] {
        for (const auto& [id, pid] : before)
          if (!PidAlive(pid)) return true;
        return false;
      },
      1500ms);
  EXPECT_FALSE(someone_died) << "an instance died while tided was down";
  EXPECT_EQ(Set(PidsOfWorkload(workload)), PidSet(before));

  tided.Start();  // returns once /healthz answers
  auto up = Clock::now();
  bool same = WaitFor([&] { return PidsById(tided.Instances(workload)) == before; }, 10s);
  int64_t took = MsSince(up);
  ASSERT_TRUE(same) << tided.Instances(workload).dump(2);
  EXPECT_LE(took, 1200) << "tided took " << took << " ms after coming up to re-adopt "
                        << before.size() << " Ready instances";

  // Stays that way: no restart, no replacement, no duplicate (watched for 1.5 s).
  std::string why;
  bool disturbed = WaitFor(
      [&] {
        json inst = tided.Instances(workload);
        if (inst.size() != before.size()) return why = "instance count " + inst.dump(), true;
        for (const auto& i : inst) {
          if (i.value("restarts", -1) != 0) return why = "restarted " + i.dump(), true;
          if (i.value("state", "") != "Ready") return why = "not ready " + i.dump(), true;
        }
        if (Set(PidsOfWorkload(workload)) != PidSet(before))
          return why = "processes differ from the adopted ones", true;
        return false;
      },
      1500ms);
  EXPECT_FALSE(disturbed) << why;
  EXPECT_EQ(PidsById(tided.Instances(workload)), before);
  EXPECT_EQ(churn(), churn_before)
      << "tided created and/or stopped instances while re-adopting running ones";
  for (const auto& [id, pid] : before) {
    EXPECT_EQ(ProcStartTime(pid), start_times[id]) << "pid " << pid << " was replaced";
  }
}

// 1. kill -9 tided with remote agents: instances survive and are re-adopted, not restarted.
TEST_F(FaultTest, ControlPlaneRestartWithRemoteAgentsKeepsInstances) {
  StartCluster(2);
  Apply(TestappManifest("web", 4));
  auto before = WaitAllReady("web", 4);
  ASSERT_EQ(before.size(), 4u);
  ExpectSameInstancesAfterRestart(*tided_, "web", before);
  EXPECT_GE(CountEvents(*tided_, "web", "Adopted"), 4);
  // And it still manages them: the gateway routes to them.
  EXPECT_TRUE(
      WaitFor([&] { return Http("GET", tided_->gateway() + "/service/web/").status == 200; }, 5s));
}

// 2. kill -9 tided with its in-process agent: the restarted local agent re-adopts the same PIDs.
TEST_F(FaultTest, ControlPlaneRestartWithLocalAgentKeepsInstances) {
  StartCluster(0, /*local_agent=*/true);
  Apply(TestappManifest("web", 3));
  auto before = WaitAllReady("web", 3);
  ASSERT_EQ(before.size(), 3u);
  ExpectSameInstancesAfterRestart(*tided_, "web", before);
  auto r = Http("GET", tided_->gateway() + "/service/web/");
  EXPECT_EQ(r.status, 200) << r.body;
}

// 3. kill -9 one agent: its instances keep running, are re-adopted with the same PIDs and
// restarts, logs keep flowing; one killed meanwhile is restarted by its policy.
TEST_F(FaultTest, AgentRestartReadoptsAndNoticesDeaths) {
  StartCluster(2);
  Apply(TickerManifest(dir_.path(), "tick", 4));
  auto before = WaitAllReady("tick", 4);
  ASSERT_EQ(before.size(), 4u);
  std::vector<std::string> on_a;
  for (const auto& i : tided_->Instances("tick"))
    if (i["node"] == "node-a") on_a.push_back(i["id"]);
  ASSERT_EQ(on_a.size(), 2u);
  const std::string victim = on_a[0], survivor = on_a[1];

  agents_[0]->Kill9();
  for (const auto& [id, pid] : before) EXPECT_TRUE(PidAlive(pid)) << id;
  ASSERT_EQ(kill(before[victim], SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] { return !PidAlive(before[victim]); }, 5s));
  agents_[0]->Start();

  // The survivor: same pid, restarts 0. The victim: restarted in place (same id, new pid).
  ASSERT_TRUE(WaitFor(
      [&] {
        json inst = tided_->Instances("tick");
        if (inst.size() != 4) return false;
        for (const auto& i : inst) {
          std::string id = i["id"];
          if (!before.count(id) || i["state"] != "Ready") return false;
          if (id == victim) {
            if (i["restarts"] != 1 || i["pid"] == before[victim]) return false;
          } else if (i["restarts"] != 0 || i["pid"] != before[id]) {
            return false;
          }
        }
        return true;
      },
      10s))
      << tided_->Instances("tick").dump(2);
  // Its exit status is unknowable (it was no longer the agent's child), but the restart is an
  // event like any other.
  bool restart_event = false;
  for (const auto& e : Events(*tided_, "tick"))
    restart_event |= e["object"] == "instance/" + victim &&
                     e.value("message", "").find("restarts=1") != std::string::npos;
  EXPECT_TRUE(restart_event) << Events(*tided_, "tick").dump(1);

  // No orphan, no duplicate: exactly the 4 reported processes run.
  std::set<int> reported;
  for (const auto& i : tided_->Instances("tick")) reported.insert(i["pid"].get<int>());
  EXPECT_TRUE(WaitFor([&] { return Set(PidsOfWorkload("tick")) == reported; }, 5s))
      << PidsOfWorkload("tick").size();

  // Logs of the re-adopted survivor still work and new lines keep arriving.
  auto last_tick = [&](const std::string& id) {
    auto r = tided_->Get("/v1/workloads/tick/logs?instance=" + id + "&tail=5");
    if (r.status != 200) return -1;
    size_t p = r.body.rfind("tick ");
    return p == std::string::npos ? -1 : std::atoi(r.body.c_str() + p + 5);
  };
  int seen = last_tick(survivor);
  ASSERT_GE(seen, 0) << tided_->Get("/v1/workloads/tick/logs?instance=" + survivor).body;
  EXPECT_TRUE(WaitFor([&] { return last_tick(survivor) >= seen + 5; }, 5s));
  // And the restarted victim logs too.
  EXPECT_TRUE(WaitFor([&] { return last_tick(victim) >= 0; }, 5s));
}

// 4. Node loss: NotReady, then Lost after --node-grace; its instances are replaced elsewhere;
// when the agent comes back, its old (still running) instances are stopped as surplus.
TEST_F(FaultTest, NodeLossReplacesInstancesAndTrimsSurplusOnReturn) {
  StartCluster(2, false, "2s");
  Apply(TestappManifest("web", 4));
  auto before = WaitAllReady("web", 4);
  ASSERT_EQ(before.size(), 4u);
  std::set<int> old_a;
  for (const auto& i : tided_->Instances("web"))
    if (i["node"] == "node-a") old_a.insert(i["pid"].get<int>());
  ASSERT_EQ(old_a.size(), 2u);

  agents_[0]->Kill9();
  auto killed = Clock::now();
  EXPECT_TRUE(WaitFor([&] { return NodeStateOf(*tided_, "node-a") == "NotReady"; }, 3s));
  EXPECT_TRUE(WaitFor([&] { return NodeStateOf(*tided_, "node-a") == "Lost"; }, 3s));
  // Replaced on node-b within grace + ~1 s of the kill.
  bool replaced = WaitFor(
      [&] {
        json inst = tided_->Instances("web");
        if (inst.size() != 4) return false;
        for (const auto& i : inst)
          if (i["node"] != "node-b" || i["state"] != "Ready") return false;
        return true;
      },
      5s);
  int64_t took = MsSince(killed);
  ASSERT_TRUE(replaced) << tided_->Instances("web").dump(2);
  EXPECT_LE(took, 3500) << "replacement took " << took << " ms with --node-grace 2s";
  std::cout << "node lost and its instances replaced " << took << " ms after kill -9\n";
  EXPECT_GE(CountEvents(*tided_, "", "NodeLost"), 1);
  for (int pid : old_a) EXPECT_TRUE(PidAlive(pid)) << "nothing may stop instances of a lost node";

  // The node returns: its old instances are surplus and stopped; the count converges to 4.
  agents_[0]->Start();
  EXPECT_TRUE(WaitFor([&] { return NodeStateOf(*tided_, "node-a") == "Ready"; }, 5s));
  EXPECT_TRUE(WaitFor(
      [&] {
        for (int pid : old_a)
          if (PidAlive(pid)) return false;
        return true;
      },
      10s))
      << "old instances of the returning node still run";
  EXPECT_TRUE(WaitFor(
      [&] {
        json inst = tided_->Instances("web");
        return inst.size() == 4 && PidsById(inst).size() == 4 && PidsOfWorkload("web").size() == 4;
      },
      10s))
      << tided_->Instances("web").dump(2) << " processes: " << PidsOfWorkload("web").size();
}

// 7. Crash loop: exit code 3 at once -> CrashLoopBackOff, lastExitCode 3, restarts spaced by the
// workload's own backoff {initialSeconds: 0.2, maxSeconds: 1}: growing gaps, capped at 1 s.
TEST_F(FaultTest, CrashLoopBacksOffWithWorkloadBackoff) {
  StartCluster(1);
  // Exits with code 3 before it ever listens (tide-testapp --exit-after-ms 0 races its own
  // listen and is sometimes Ready for a moment).
  Apply(R"yaml(apiVersion: tide/v1
kind: Service
metadata: {name: crashy}
spec:
  command: ["/usr/bin/python3", "-c", "import sys; sys.exit(3)"]
  replicas: 1
  backoff: {initialSeconds: 0.2, maxSeconds: 1}
)yaml");
  ASSERT_TRUE(WaitFor(
      [&] {
        json inst = tided_->Instances("crashy");
        return inst.size() == 1 && inst[0]["state"] == "CrashLoopBackOff" &&
               inst[0]["lastExitCode"] == 3;
      },
      10s))
      << tided_->Instances("crashy").dump(2);
  // Restart events, one per restart, stamped when tided heard of them.
  std::vector<int64_t> times;
  ASSERT_TRUE(WaitFor(
      [&] {
        times.clear();
        for (const auto& e : Events(*tided_, "crashy")) {
          if (e.value("message", "").find("instance restarted") != std::string::npos)
            times.push_back(e["timeMs"].get<int64_t>());
        }
        return times.size() >= 6;
      },
      15s))
      << Events(*tided_, "crashy").dump(1);
  json inst = tided_->Instances("crashy");
  ASSERT_EQ(inst.size(), 1u);
  EXPECT_GE(inst[0]["restarts"].get<int>(), 6);
  EXPECT_EQ(inst[0]["lastExitCode"], 3);
  std::vector<int64_t> gaps;
  for (size_t i = 1; i < times.size(); ++i) gaps.push_back(times[i] - times[i - 1]);
  std::string g;
  for (auto x : gaps) g += std::to_string(x) + " ";
  std::cout << "restart gaps (ms): " << g << "\n";
  // Expected about 400, 800, 1000, 1000, ... ms.
  EXPECT_LT(gaps[0], gaps[1]) << g;
  EXPECT_LT(gaps[1], gaps[2]) << g;
  EXPECT_GE(gaps[0], 300) << g;
  EXPECT_LE(gaps[0], 700) << g;
  // Uncapped, the delays would go on doubling (1.6 s, 3.2 s, 6.4 s...). The bound leaves room for
  // a loaded machine (under ASan on 2 busy cores one gap measured 1957 ms) and still fails
  // without the cap.
  for (size_t i = 2; i < gaps.size(); ++i) {
    EXPECT_GE(gaps[i], 700) << g;
    EXPECT_LE(gaps[i], 2500) << "maxSeconds: 1 not respected: " << g;
  }
  // The workload says it is unhealthy.
  EXPECT_TRUE(WaitFor(
      [&] { return tided_->Get("/v1/workloads/crashy").Json()["status"]["phase"] == "Degraded"; },
      3s))
      << tided_->Get("/v1/workloads/crashy").Json()["status"].dump();
}

// 8. Every apply answered 200 survives kill -9 of tided in the middle of a stream of applies.
TEST_F(FaultTest, AnsweredAppliesSurviveControlPlaneCrash) {
  StartCluster(0);
  std::vector<std::string> answered;
  std::mutex mu;
  std::atomic<bool> killed{false};
  std::atomic<int> count{0};
  std::thread writer([&] {
    for (int i = 0; i < 400; ++i) {
      std::string name = "dur-" + std::to_string(i);
      auto r = Http("POST", tided_->api() + "/v1/apply", TestappManifest(name, 0), tided_->token(),
                    "application/yaml", 5);
      if (r.status == 200) {
        std::lock_guard<std::mutex> lk(mu);
        answered.push_back(name);
        ++count;
      } else if (killed) {
        break;
      }
    }
  });
  ASSERT_TRUE(WaitFor([&] { return count >= 50; }, 20s));
  tided_->Kill9();
  killed = true;
  writer.join();
  ASSERT_GE(answered.size(), 50u);
  tided_->Start();
  json items = tided_->Get("/v1/workloads").Json()["items"];
  std::set<std::string> present;
  for (const auto& w : items) present.insert(w["metadata"]["name"].get<std::string>());
  for (const auto& n : answered) EXPECT_TRUE(present.count(n)) << n << " was answered 200 but lost";
  EXPECT_LE(present.size(), answered.size() + 1) << "more workloads than applies";

  const std::string sqlite = "/usr/bin/sqlite3";
  if (!std::filesystem::exists(sqlite)) GTEST_SKIP() << "no sqlite3 CLI: integrity check skipped";
  Proc check({sqlite, tided_->data_dir() + "/tide.db", "PRAGMA integrity_check;"},
             dir_.path() + "/integrity.log");
  ASSERT_TRUE(WaitFor([&] { return !check.Alive(); }, 10s));
  EXPECT_EQ(check.Log(), "ok\n");
}

}  // namespace
}  // namespace tide::testing
