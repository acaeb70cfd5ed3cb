// Issue 12's done-when test for members (docs/ha.md): three tided on one real etcd, two
// tide-agent processes listing all three members. A client applies manifests in a loop through
// a member list, another sends requests through a surviving member's gateway to a warm Service,
// async invocations are accepted by that gateway; then the leader is killed with SIGKILL. A new
// leader within 5 s, every apply answered 2xx present, no failed request, no instance started
// again (same pids), every acknowledged invocation delivered.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "api/client.h"
#include "daemon/store/etcd_testutil.h"
#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kNodes[] = {"n1", "n2"};

std::string Token(const std::string& node) { return "ha-agent-token-" + node; }

// Loops `step` until stopped; waits `pace` between steps on a condition, so Stop() ends it
// at once.
class Loop {
 public:
  Loop(std::chrono::milliseconds pace, std::function<void()> step)
      : thread_([this, pace, step = std::move(step)] {
          std::unique_lock<std::mutex> lk(mu_);
          while (!stop_) {
            lk.unlock();
            step();
            lk.lock();
            cv_.wait_for(lk, pace, [this] { return stop_; });
          }
        }) {}
  ~Loop() { Stop(); }
  void Stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The parameter: the members' store is one etcd (false) or a 3-member etcd cluster (true).
class HaFailoverTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    std::string store_url;
    if (GetParam()) {
      cluster_ = std::make_unique<TestEtcdCluster>();
      ASSERT_TRUE(cluster_->ok()) << cluster_->error();
      store_url = cluster_->store_url();
    } else {
      etcd_ = std::make_unique<TestEtcd>();
      ASSERT_TRUE(etcd_->ok()) << etcd_->error();
      store_url = etcd_->store_url();
    }
    std::string tokens;
    for (const char* n : kNodes) {
      tokens += std::string("  - {name: agent-") + n + ", token: \"" + Token(n) +
                "\", role: agent, node: " + n + "}\n";
    }
    for (int i = 0; i < 3; ++i) {
      const std::string d = dir_.path() + "/m" + std::to_string(i);
      std::filesystem::create_directories(d);
      Tided::Options o;
      o.extra_tokens = tokens;
      o.extra_args = {"--store",      store_url, "--name", "m" + std::to_string(i),
                      "--leader-ttl", "2s"};
      members_.push_back(std::make_unique<Tided>(d, o));
    }
    std::string list;
    for (auto& m : members_) list += (list.empty() ? "" : ",") + m->api();
    member_list_ = list;
    const int base = ReservePortBlock();
    int lo = base;
    for (const char* n : kNodes) {
      const std::string d = dir_.path() + "/agent-" + n;
      std::filesystem::create_directories(d);
      WriteFile(d + "/token", Token(n) + "\n");
      std::vector<std::string> argv = {AgentBin(),
                                       "--server",
                                       list,
                                       "--name",
                                       n,
                                       "--token-file",
                                       d + "/token",
                                       "--listen",
                                       "127.0.0.1:" + std::to_string(FreePort()),
                                       "--advertise",
                                       "127.0.0.1",
                                       "--data-dir",
                                       d + "/data",
                                       "--port-range",
                                       std::to_string(lo) + "-" + std::to_string(lo + 49),
                                       "--allow-root",
                                       "--default-user",
                                       ""};
      lo += 50;
      agents_.push_back(std::make_unique<Proc>(argv, d + "/agent.log"));
    }
  }
  void TearDown() override {
    if (HasFailure()) {
      for (auto& a : agents_) std::fprintf(stderr, "--- agent log\n%s\n", a->Log().c_str());
      for (auto& m : members_) {
        if (m->proc()) std::fprintf(stderr, "--- member log\n%s\n", m->proc()->Log().c_str());
      }
    }
  }
  std::string AgreedLeader(const std::vector<size_t>& live) {
    std::string leader;
    for (size_t i : live) {
      HttpResult r = members_[i]->Get("/v1/leader");
      if (r.status != 200) return "";
      const std::string l = r.Json().value("leader", "");
      if (l.empty() || (!leader.empty() && l != leader)) return "";
      leader = l;
    }
    return leader;
  }
  // id -> pid of the workload's Ready instances as member i shows them.
  std::map<std::string, int> ReadyPids(size_t i, const std::string& workload) {
    std::map<std::string, int> out;
    for (const auto& inst : members_[i]->Instances(workload)) {
      if (inst.value("state", "") == "Ready") out[inst.value("id", "")] = inst.value("pid", 0);
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<TestEtcd> etcd_;
  std::unique_ptr<TestEtcdCluster> cluster_;
  std::vector<std::unique_ptr<Tided>> members_;
  std::vector<std::unique_ptr<Proc>> agents_;
  std::string member_list_;
};

TEST_P(HaFailoverTest, Kill9OfTheLeaderLosesNothingAndRestartsNothing) {
  std::string leader;
  ASSERT_TRUE(WaitFor([&] { return !(leader = AgreedLeader({0, 1, 2})).empty(); }, 15s));
  const size_t li = static_cast<size_t>(leader[1] - '0');
  const size_t gi = (li + 1) % 3;  // the surviving member whose gateway the client uses
  // Every member knows both agents (they register with all three).
  for (auto& m : members_) {
    ASSERT_TRUE(WaitFor(
        [&] {
          json nodes = m->Get("/v1/nodes").Json();
          return nodes.contains("items") && nodes["items"].size() == 2;
        },
        15s))
        << m->Get("/v1/nodes").body;
  }
  const std::string app = TestappBin();
  ASSERT_EQ(members_[gi]
                ->Post("/v1/apply",
                       "apiVersion: tide/v1\nkind: Service\nmetadata: {name: web}\nspec:\n"
                       "  command: [\"" +
                           app +
                           "\", \"--port\", \"${PORT}\"]\n  replicas: 2\n"
                           "---\napiVersion: tide/v1\nkind: Function\nmetadata: {name: worker}\n"
                           "spec:\n  command: [\"" +
                           app +
                           "\", \"--port\", \"${PORT}\"]\n  idleTimeoutSeconds: 600\n"
                           "  autoscale: {minReplicas: 1, maxReplicas: 1}\n")
                .status,
            200);
  // The follower's gateway routes to what the agents report to it: every member sees them.
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(WaitFor(
        [&] { return ReadyPids(i, "web").size() == 2 && ReadyPids(i, "worker").size() == 1; }, 30s))
        << "member " << i << ": " << members_[i]->Get("/v1/instances").body;
  }
  const auto web_before = ReadyPids(gi, "web");
  const auto worker_before = ReadyPids(gi, "worker");

  // Load: warm requests through the surviving gateway, applies through the member list, async
  // invocations accepted by the surviving gateway.
  std::atomic<int> requests{0}, failed{0};
  std::string first_failure;
  std::mutex mu;
  std::vector<std::string> applied, invocations;
  std::atomic<int> apply_errors{0}, async_refused{0};
  const std::string gw = members_[gi]->gateway();
  Loop traffic(0ms, [&] {
    HttpResult r = Http("GET", gw + "/service/web/", "", "", "application/json", 10);
    requests++;
    if (r.status != 200) {
      if (failed++ == 0) {
        std::lock_guard<std::mutex> lk(mu);
        first_failure = std::to_string(r.status) + " " + r.body;
      }
    }
  });
  Client api(ClientConfig{member_list_, members_[0]->token(), 10});
  int n = 0;
  Loop applies(20ms, [&] {
    const std::string name = "cfg-" + std::to_string(n++);
    Response r;
    Status st = api.Post("/v1/apply",
                         "apiVersion: tide/v1\nkind: Service\nmetadata: {name: " + name +
                             "}\nspec: {command: [\"/bin/true\"], replicas: 0}\n",
                         "application/yaml", &r);
    std::lock_guard<std::mutex> lk(mu);
    if (st.ok()) {
      applied.push_back(name);
    } else {
      apply_errors++;
    }
  });
  int k = 0;
  Loop async(50ms, [&] {
    HttpResult r = Http("POST", gw + "/async-function/worker/echo?k=" + std::to_string(k++), "job",
                        "", "text/plain", 10);
    if (r.status != 202) {
      async_refused++;
      return;
    }
    std::lock_guard<std::mutex> lk(mu);
    invocations.push_back(r.Json().value("id", ""));
  });
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> lk(mu);
        return requests.load() >= 50 && applied.size() >= 5 && invocations.size() >= 5;
      },
      20s));

  const auto t0 = std::chrono::steady_clock::now();
  members_[li]->Kill9();
  // A cold start while there is no leader: a Service applied now (through any member) gets a
  // request through the surviving gateway, which waits until a new leader places it.
  HttpResult late;
  struct Joined {
    std::thread t;
    ~Joined() {
      if (t.joinable()) t.join();
    }
  } cold;
  cold.t = std::thread([&] {
    HttpResult a = members_[gi]->Post("/v1/apply",
                                      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: late}\n"
                                      "spec:\n  command: [\"" +
                                          app + "\", \"--port\", \"${PORT}\"]\n  replicas: 1\n");
    if (a.status != 200) {
      late = a;
      return;
    }
    late = Http("GET", gw + "/service/late/", "", "", "application/json", 60);
  });
  std::vector<size_t> live;
  for (size_t i = 0; i < 3; ++i) {
    if (i != li) live.push_back(i);
  }
  std::string next;
  ASSERT_TRUE(WaitFor(
      [&] {
        next = AgreedLeader(live);
        return !next.empty() && next != leader;
      },
      10s));
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  const size_t ni = static_cast<size_t>(next[1] - '0');
  // Keep the load on until the new leader has settled and handed out assignments, and a while
  // after: the agents then run what it assigns.
  const int at_election = requests.load();
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> lk(mu);
        return requests.load() >= at_election + 100 && applied.size() >= 10;
      },
      20s));
  const auto settled = std::chrono::steady_clock::now() + 4s;
  WaitFor([&] { return std::chrono::steady_clock::now() >= settled; }, 5s);
  traffic.Stop();
  applies.Stop();
  async.Stop();
  cold.t.join();
  EXPECT_EQ(late.status, 200) << late.body;

  std::printf(
      "leader loss -> new leader: %lld ms (lease TTL 2 s); %d requests through the "
      "surviving gateway, %d failed; %zu applies answered 2xx (%d errors); %zu async "
      "invocations acknowledged (%d refused)\n",
      static_cast<long long>(ms), requests.load(), failed.load(), applied.size(),
      apply_errors.load(), invocations.size(), async_refused.load());
  EXPECT_LT(ms, 5000);
  EXPECT_EQ(failed.load(), 0) << first_failure;
  // Every apply answered 2xx is there, read from the new leader.
  for (const auto& name : applied) {
    EXPECT_EQ(members_[ni]->Get("/v1/workloads/" + name).status, 200) << name;
  }
  // Every acknowledged invocation is delivered (by whichever member led at the time).
  for (const auto& id : invocations) {
    json inv;
    EXPECT_TRUE(WaitFor(
        [&] {
          inv = members_[gi]->Get("/v1/invocations/" + id).Json();
          return inv.value("state", "") == "Succeeded";
        },
        30s))
        << inv.dump();
  }
  // The same processes serve: nothing was started again, on any surviving member's view.
  for (size_t i : live) {
    EXPECT_EQ(ReadyPids(i, "web"), web_before) << "member " << i;
    EXPECT_EQ(ReadyPids(i, "worker"), worker_before) << "member " << i;
  }
  for (const auto& [id, pid] : web_before) EXPECT_TRUE(PidAlive(pid)) << id;
}

// Load entering through a follower's gateway reaches the leader (docs/ha.md): a Function at
// zero is activated by a request on a follower, stays warm while only the follower sees its
// traffic (longer than its idle timeout), and goes back to zero once that traffic stops.
TEST_P(HaFailoverTest, AFollowersGatewayActivatesAndHoldsAFunction) {
  if (GetParam()) GTEST_SKIP() << "the store's shape does not matter here: one etcd is enough";
  std::string leader;
  ASSERT_TRUE(WaitFor([&] { return !(leader = AgreedLeader({0, 1, 2})).empty(); }, 15s));
  const size_t li = static_cast<size_t>(leader[1] - '0');
  const size_t gi = (li + 1) % 3;
  ASSERT_TRUE(WaitFor(
      [&] {
        json nodes = members_[gi]->Get("/v1/nodes").Json();
        return nodes.contains("items") && nodes["items"].size() == 2;
      },
      15s));
  ASSERT_EQ(members_[gi]
                ->Post("/v1/apply",
                       "apiVersion: tide/v1\nkind: Function\nmetadata: {name: fn}\nspec:\n"
                       "  command: [\"" +
                           TestappBin() +
                           "\", \"--port\", \"${PORT}\"]\n  idleTimeoutSeconds: 2\n"
                           "  autoscale: {minReplicas: 0, maxReplicas: 1}\n")
                .status,
            200);
  const std::string gw = members_[gi]->gateway();
  HttpResult first = Http("GET", gw + "/function/fn/", "", "", "application/json", 60);
  ASSERT_EQ(first.status, 200) << first.body;
  std::map<std::string, int> serving;
  ASSERT_TRUE(WaitFor([&] { return (serving = ReadyPids(li, "fn")).size() == 1; }, 10s));
  // Twice the idle timeout of traffic that only the follower's gateway sees.
  const auto until = std::chrono::steady_clock::now() + 4s;
  int ok = 0, total = 0;
  Loop traffic(100ms, [&] {
    total++;
    ok += Http("GET", gw + "/function/fn/", "", "", "application/json", 10).status == 200;
  });
  WaitFor([&] { return std::chrono::steady_clock::now() >= until; }, 5s);
  traffic.Stop();
  EXPECT_EQ(ok, total);
  EXPECT_EQ(ReadyPids(li, "fn"), serving) << "scaled to zero while the follower had traffic";
  // No traffic anywhere: the idle timeout applies.
  EXPECT_TRUE(WaitFor([&] { return members_[li]->Instances("fn").empty(); }, 15s))
      << members_[li]->Instances("fn").dump();
}

// Hostile: an agent given a bad member list refuses to start, naming the entry.
INSTANTIATE_TEST_SUITE_P(OneEtcdAndAnEtcdCluster, HaFailoverTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? std::string("ThreeMemberEtcd") : std::string("OneEtcd");
                         });

TEST(HaAgentFlags, ABadServerListIsRefusedNamingTheEntry) {
  TempDir dir;
  WriteFile(dir.path() + "/token", "t\n");
  for (auto [list, want] : std::vector<std::pair<std::string, std::string>>{
           {"http://127.0.0.1:1,,http://127.0.0.1:2", "entry 2 is empty"},
           {"http://127.0.0.1:1,ftp://127.0.0.1:2", "ftp://127.0.0.1:2"},
           {"http://127.0.0.1:1,http://127.0.0.1:1", "listed twice"}}) {
    Proc p({AgentBin(), "--server", list, "--name", "x", "--token-file", dir.path() + "/token",
            "--listen", "127.0.0.1:0", "--data-dir", dir.path() + "/data"},
           dir.path() + "/agent.log");
    EXPECT_NE(p.Terminate(0, 10s), 0) << p.Log();
    EXPECT_NE(p.Log().find(want), std::string::npos) << p.Log();
  }
}

}  // namespace
}  // namespace tide::testing
