// Rollout and drain integration tests (issue: "Nothing lost, nothing disrupted"): a real tided
// with its in-process agent and real tide-testapp instances, under bounded loopback load through
// the gateway. Rolling updates, failed rollouts, deletes and scale-downs must not fail a request.
#include <gtest/gtest.h>

#include <iostream>
#include <set>
#include <thread>

#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

class RolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Tided::Options o;
    o.local_agent = true;
    tided_ = std::make_unique<Tided>(dir_.path(), o);
  }
  void TearDown() override {
    if (HasFailure() && tided_) {
      std::cerr << "---- events ----\n" << Events(*tided_).dump(1).substr(0, 15000) << "\n";
      std::cerr << "---- tided log ----\n" << tided_->proc()->Log().substr(0, 20000) << "\n";
      PrintInstanceLogTails(dir_.path());
    }
  }
  HttpResult Apply(const std::string& yaml) {
    auto r = tided_->Post("/v1/apply", yaml);
    EXPECT_EQ(r.status, 200) << r.body;
    return r;
  }
  json Workload(const std::string& name) { return tided_->Get("/v1/workloads/" + name).Json(); }
  std::set<std::string> Ids(const std::string& workload) {
    std::set<std::string> s;
    for (const auto& i : tided_->Instances(workload)) s.insert(i["id"].get<std::string>());
    return s;
  }
  // tide_gateway_inflight_requests{workload="NAME"} from /metrics (-1 when absent).
  int GatewayInflight(const std::string& workload) {
    std::string m = Http("GET", tided_->api() + "/metrics").body;
    std::string key = "tide_gateway_inflight_requests{workload=\"" + workload + "\"} ";
    size_t p = m.find(key);
    return p == std::string::npos ? -1 : std::atoi(m.c_str() + p + key.size());
  }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
};

const char* kRollout = "  rollout: {maxSurge: 1, maxUnavailable: 0}\n  timeoutSeconds: 10\n";

// Watches a workload during a rollout: most live (not Terminating) instances and fewest Ready.
class RolloutWatcher {
 public:
  RolloutWatcher(const Tided& t, std::string workload) : t_(t), workload_(std::move(workload)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        json inst = t_.Instances(workload_);
        int live = 0, ready = 0;
        for (const auto& i : inst) {
          live += i["state"] != "Terminating" ? 1 : 0;
          ready += i["state"] == "Ready" ? 1 : 0;
        }
        max_live_ = std::max(max_live_.load(), live);
        min_ready_ = std::min(min_ready_.load(), ready);
        std::this_thread::sleep_for(5ms);  // sampling period, not synchronisation
      }
    });
  }
  ~RolloutWatcher() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int max_live() const { return max_live_; }
  int min_ready() const { return min_ready_; }

 private:
  const Tided& t_;
  std::string workload_;
  std::atomic<bool> stop_{false};
  std::atomic<int> max_live_{0}, min_ready_{1 << 20};
  std::thread thread_;
};

// 5a. A changed spec rolls 3 replicas to generation 2 one at a time (maxSurge 1, maxUnavailable
// 0) with zero failed requests, and observedGeneration catches up.
TEST_F(RolloutTest, RollingUpdateUnderLoadFailsNoRequest) {
  Apply(TestappManifest("roll", 3, std::string("  env: {VERSION: one}\n") + kRollout));
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("roll") == 3; }, 20s));
  const std::set<std::string> old_ids = Ids("roll");
  ASSERT_EQ(old_ids.size(), 3u);
  EXPECT_EQ(Workload("roll")["status"]["observedGeneration"], 1);

  LoadLoop load(tided_->gateway() + "/service/roll/sleep?ms=20", 6, 1000);
  ASSERT_TRUE(load.WaitMoreOk(30, 10s)) << load.FailureSummary();
  RolloutWatcher watch(*tided_, "roll");
  auto r = Apply(TestappManifest("roll", 3, std::string("  env: {VERSION: two}\n") + kRollout));
  EXPECT_EQ(r.Json()["results"][0]["action"], "configured") << r.body;

  ASSERT_TRUE(WaitFor(
      [&] {
        json inst = tided_->Instances("roll");
        if (inst.size() != 3) return false;
        for (const auto& i : inst) {
          if (i["state"] != "Ready" || i["generation"] != 2 || old_ids.count(i["id"])) return false;
        }
        json st = Workload("roll")["status"];
        return st["observedGeneration"] == 2 && st["generation"] == 2;
      },
      20s))
      << tided_->Instances("roll").dump(2) << Workload("roll")["status"].dump();
  watch.Stop();
  ASSERT_TRUE(load.WaitMoreOk(30, 10s)) << load.FailureSummary();
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << load.FailureSummary();
  EXPECT_LT(load.max_latency_ms(), 2000) << "a 20 ms request stalled during the rollout";
  EXPECT_LE(watch.max_live(), 4) << "maxSurge 1 exceeded";
  EXPECT_GE(watch.min_ready(), 3) << "maxUnavailable 0 violated";
  EXPECT_EQ(Http("GET", tided_->gateway() + "/service/roll/env?name=VERSION").body, "two");
  EXPECT_EQ(Workload("roll")["status"]["phase"], "Running");
  EXPECT_TRUE(WaitFor([&] { return PidsOfWorkload("roll").size() == 3; }, 10s))
      << "old instances still run";
}

// 5b. A rollout whose new instances crash at once stops: the old instances keep serving (zero
// failed requests), a RolloutFailed event and the status say so; a fixed spec then rolls out.
TEST_F(RolloutTest, FailedRolloutKeepsOldInstancesServing) {
  const std::string backoff = "  backoff: {initialSeconds: 0.1, maxSeconds: 0.5}\n";
  Apply(TestappManifest("roll", 3, std::string("  env: {VERSION: one}\n") + kRollout + backoff));
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("roll") == 3; }, 20s));
  const auto old_pids = PidsById(tided_->Instances("roll"));
  ASSERT_EQ(old_pids.size(), 3u);

  LoadLoop load(tided_->gateway() + "/service/roll/sleep?ms=20", 6, 1000);
  ASSERT_TRUE(load.WaitMoreOk(30, 10s)) << load.FailureSummary();
  // An unknown flag: tide-testapp exits with code 2 before it listens, every time.
  Apply(TestappManifest("roll", 3, std::string("  env: {VERSION: bad}\n") + kRollout + backoff,
                        R"(, "--no-such-flag")"));
  ASSERT_TRUE(WaitFor([&] { return CountEvents(*tided_, "roll", "RolloutFailed") >= 1; }, 15s))
      << tided_->Instances("roll").dump(2);
  json st = Workload("roll")["status"];
  EXPECT_EQ(st["phase"], "Degraded") << st.dump();
  EXPECT_EQ(st["generation"], 2);
  EXPECT_EQ(st["observedGeneration"], 1) << st.dump();
  bool condition = false;
  for (const auto& c : st["conditions"])
    condition |=
        c["type"] == "Progressing" && c["status"] == "False" && c["reason"] == "RolloutFailed";
  EXPECT_TRUE(condition) << st.dump();
  // The old instances still run, untouched, and serve; at most maxSurge new ones exist.
  ASSERT_TRUE(load.WaitMoreOk(50, 10s)) << load.FailureSummary();
  json inst = tided_->Instances("roll");
  int new_ones = 0;
  for (const auto& i : inst) {
    if (i["generation"] != 2) continue;
    ++new_ones;
    EXPECT_EQ(i["lastExitCode"], 2) << i.dump();
  }
  EXPECT_LE(new_ones, 1) << inst.dump(2);
  for (const auto& [id, pid] : old_pids) EXPECT_TRUE(PidAlive(pid)) << id;
  EXPECT_EQ(PidsById(tided_->Instances("roll")), old_pids);
  EXPECT_EQ(Http("GET", tided_->gateway() + "/service/roll/env?name=VERSION").body, "one");

  // A fixed spec (generation 3) rolls out normally.
  Apply(TestappManifest("roll", 3, std::string("  env: {VERSION: three}\n") + kRollout + backoff));
  ASSERT_TRUE(WaitFor(
      [&] {
        json now = tided_->Instances("roll");
        if (now.size() != 3) return false;
        for (const auto& i : now)
          if (i["state"] != "Ready" || i["generation"] != 3) return false;
        return Workload("roll")["status"]["observedGeneration"] == 3;
      },
      20s))
      << tided_->Instances("roll").dump(2);
  ASSERT_TRUE(load.WaitMoreOk(30, 10s)) << load.FailureSummary();
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << load.FailureSummary();
  EXPECT_LT(load.max_latency_ms(), 2000) << "a 20 ms request stalled during the rollouts";
  EXPECT_EQ(Workload("roll")["status"]["phase"], "Running");
}

// 5c. A bad release whose instances pass readiness and crash a moment later. They are Ready
// for ~300 ms, so with minReadySeconds 1 none is ever available: no old instance is retired
// (maxUnavailable 0 costs no capacity), the crash loop fails the rollout, and from then on no
// request goes to the crash-looping new instances. Requests that were in flight on a new
// instance when it crashed, before the failure was declared, may fail; they are counted, not
// asserted. (With minReadySeconds 0 such a release can complete its rollout before its first
// crash: it is then a crash-looping workload, not a failed rollout, as with Kubernetes.)
TEST_F(RolloutTest, RolloutOfInstancesThatCrashAfterReadyKeepsCapacity) {
  const std::string backoff = "  backoff: {initialSeconds: 0.1, maxSeconds: 0.5}\n";
  const std::string rollout = "  rollout: {maxSurge: 1, maxUnavailable: 0, minReadySeconds: 1}\n";
  Apply(TestappManifest("roll", 3, std::string("  env: {VERSION: one}\n") + rollout + backoff));
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("roll") == 3; }, 20s));
  const auto old_pids = PidsById(tided_->Instances("roll"));
  LoadLoop load(tided_->gateway() + "/service/roll/sleep?ms=20", 6, 3000);
  ASSERT_TRUE(load.WaitMoreOk(30, 10s)) << load.FailureSummary();
  Apply(TestappManifest("roll", 3, std::string("  env: {VERSION: bad}\n") + rollout + backoff,
                        R"(, "--exit-after-ms", "300", "--exit-code", "3")"));
  ASSERT_TRUE(WaitFor([&] { return CountEvents(*tided_, "roll", "RolloutFailed") >= 1; }, 15s))
      << tided_->Instances("roll").dump(2);
  const int failed_during_rollout = load.failed();
  std::cout << "requests failed while the bad release was rolling: " << failed_during_rollout
            << "\n";
  auto old_ready = [&] {
    int n = 0;
    for (const auto& i : tided_->Instances("roll"))
      n += i["generation"] == 1 && i["state"] == "Ready" ? 1 : 0;
    return n;
  };
  EXPECT_TRUE(WaitFor([&] { return old_ready() >= 3; }, 5s))
      << "only " << old_ready() << " of 3 old instances serve after the failed rollout\n"
      << tided_->Instances("roll").dump(2);
  const auto now_pids = PidsById(tided_->Instances("roll"));
  for (const auto& [id, pid] : old_pids) {
    EXPECT_TRUE(now_pids.count(id) && now_pids.at(id) == pid) << id << " was retired";
  }
  json st = Workload("roll")["status"];
  EXPECT_EQ(st["phase"], "Degraded") << st.dump();
  EXPECT_EQ(st["readyReplicas"], 3) << st.dump();
  std::string message;
  for (const auto& c : st["conditions"])
    if (c["reason"] == "RolloutFailed") message = c["message"];
  EXPECT_NE(message.find("CrashLoopBackOff (exit code 3)"), std::string::npos) << st.dump();
  EXPECT_NE(message.find("generation 1 serves"), std::string::npos) << st.dump();
  // Settled: a window of 200 requests with no failure, all answered by the old generation.
  const int failed_before = load.failed();
  EXPECT_TRUE(load.WaitMoreOk(200, 10s));
  load.Stop();
  EXPECT_EQ(load.failed(), failed_before)
      << "requests still fail after the rollout was declared failed:\n"
      << load.FailureSummary();
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(Http("GET", tided_->gateway() + "/service/roll/env?name=VERSION").body, "one");
  int new_ones = 0;
  for (const auto& i : tided_->Instances("roll")) new_ones += i["generation"] == 2 ? 1 : 0;
  EXPECT_LE(new_ones, 1) << "more new instances than maxSurge";
}

// 5d. A failed rollout restores old capacity: maxUnavailable 1 retires one old instance before
// any new one is available; when the new generation crash-loops, an instance of the old
// generation is started again, so 3 old instances serve, and the new ones get no traffic.
TEST_F(RolloutTest, FailedRolloutStartsOldInstancesAgain) {
  const std::string backoff = "  backoff: {initialSeconds: 0.1, maxSeconds: 0.5}\n";
  const std::string rollout = "  rollout: {maxSurge: 1, maxUnavailable: 1, minReadySeconds: 1}\n";
  Apply(TestappManifest("roll", 3, std::string("  env: {VERSION: one}\n") + rollout + backoff));
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("roll") == 3; }, 20s));
  const auto old_pids = PidsById(tided_->Instances("roll"));
  LoadLoop load(tided_->gateway() + "/service/roll/sleep?ms=20", 4, 3000);
  ASSERT_TRUE(load.WaitMoreOk(30, 10s)) << load.FailureSummary();
  Apply(TestappManifest("roll", 3, std::string("  env: {VERSION: bad}\n") + rollout + backoff,
                        R"(, "--exit-after-ms", "300", "--exit-code", "3")"));
  ASSERT_TRUE(WaitFor([&] { return CountEvents(*tided_, "roll", "RolloutFailed") >= 1; }, 15s))
      << tided_->Instances("roll").dump(2);
  ASSERT_TRUE(WaitFor([&] { return CountEvents(*tided_, "roll", "RestoringCapacity") >= 1; }, 5s))
      << Events(*tided_, "roll").dump(1);
  auto old_ready = [&] {
    int n = 0;
    for (const auto& i : tided_->Instances("roll"))
      n += i["generation"] == 1 && i["state"] == "Ready" ? 1 : 0;
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return old_ready() == 3; }, 10s)) << tided_->Instances("roll").dump(2);
  int kept = 0, restarted = 0, new_ones = 0;
  for (const auto& i : tided_->Instances("roll")) {
    if (i["generation"] == 2) {
      ++new_ones;
    } else if (i["state"] == "Ready") {
      (old_pids.count(i["id"]) ? kept : restarted)++;
    }
  }
  EXPECT_EQ(kept, 2) << "maxUnavailable 1 retires one old instance";
  EXPECT_EQ(restarted, 1) << "the retired capacity comes back";
  EXPECT_LE(new_ones, 1) << "more new instances than maxSurge";
  EXPECT_EQ(Workload("roll")["status"]["readyReplicas"], 3);
  const int failed_before = load.failed();
  EXPECT_TRUE(load.WaitMoreOk(200, 10s));
  load.Stop();
  EXPECT_EQ(load.failed(), failed_before) << load.FailureSummary();
  EXPECT_EQ(Http("GET", tided_->gateway() + "/service/roll/env?name=VERSION").body, "one");
}

// 5e. minReadySeconds: an old instance retires only once a new one has been Ready that long,
// so with maxSurge 1 the three replacements take at least 3 x 1.5 s; capacity never drops.
TEST_F(RolloutTest, MinReadySecondsPacesTheRollout) {
  const std::string rollout = "  rollout: {maxSurge: 1, maxUnavailable: 0, minReadySeconds: 1.5}\n";
  Apply(TestappManifest("pace", 3, std::string("  env: {VERSION: one}\n") + rollout));
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("pace") == 3; }, 20s));
  const auto old_pids = PidsById(tided_->Instances("pace"));
  RolloutWatcher watch(*tided_, "pace");
  const auto start = std::chrono::steady_clock::now();
  Apply(TestappManifest("pace", 3, std::string("  env: {VERSION: two}\n") + rollout));
  // The first new instance is Ready long before it may replace anything.
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& i : tided_->Instances("pace"))
          if (i["generation"] == 2 && i["state"] == "Ready") return true;
        return false;
      },
      10s));
  const auto first_ready = std::chrono::steady_clock::now();
  int old_live = 0;
  for (const auto& i : tided_->Instances("pace"))
    old_live += old_pids.count(i["id"]) && i["state"] == "Ready" ? 1 : 0;
  if (std::chrono::steady_clock::now() - first_ready < 1s) {
    EXPECT_EQ(old_live, 3) << "an old instance retired before minReadySeconds";
  }
  ASSERT_TRUE(WaitFor([&] { return CountEvents(*tided_, "pace", "RolloutComplete") >= 1; }, 30s))
      << tided_->Instances("pace").dump(2);
  const auto took = std::chrono::steady_clock::now() - start;
  watch.Stop();
  EXPECT_GE(took, 4400ms) << "3 replacements, each after 1.5 s of readiness";
  EXPECT_GE(watch.min_ready(), 3);
  EXPECT_LE(watch.max_live(), 4);
  json st = Workload("pace")["status"];
  EXPECT_EQ(st["observedGeneration"], 2) << st.dump();
  EXPECT_EQ(st["phase"], "Running") << st.dump();
  EXPECT_EQ(CountEvents(*tided_, "pace", "RolloutFailed"), 0);
}

// 5f. progressDeadlineSeconds: new instances that never become ready (their readiness probe
// always fails) fail the rollout after the deadline, not before; the old instances serve
// throughout.
TEST_F(RolloutTest, ProgressDeadlineFailsARolloutThatDoesNotProgress) {
  const std::string rollout =
      "  rollout: {maxSurge: 1, maxUnavailable: 0, "
      "progressDeadlineSeconds: 2}\n";
  Apply(TestappManifest("slow", 2, std::string("  env: {VERSION: one}\n") + rollout));
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("slow") == 2; }, 20s));
  const auto old_pids = PidsById(tided_->Instances("slow"));
  LoadLoop load(tided_->gateway() + "/service/slow/sleep?ms=10", 2, 3000);
  ASSERT_TRUE(load.WaitMoreOk(20, 10s)) << load.FailureSummary();
  const auto start = std::chrono::steady_clock::now();
  Apply(TestappManifest(
      "slow", 2,
      std::string("  env: {VERSION: two}\n  readiness: {exec: [/bin/false]}\n") + rollout));
  ASSERT_TRUE(WaitFor([&] { return CountEvents(*tided_, "slow", "RolloutFailed") >= 1; }, 10s))
      << tided_->Instances("slow").dump(2);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 1900ms) << "failed before progressDeadlineSeconds";
  EXPECT_LE(took, 6s);
  std::string message;
  for (const auto& e : Events(*tided_, "slow"))
    if (e["reason"] == "RolloutFailed") message = e["message"];
  EXPECT_NE(message.find("no progress for 2s (progressDeadlineSeconds): 0 of 2"), std::string::npos)
      << message;
  json st = Workload("slow")["status"];
  EXPECT_EQ(st["phase"], "Degraded") << st.dump();
  EXPECT_EQ(st["observedGeneration"], 1) << st.dump();
  ASSERT_TRUE(load.WaitMoreOk(50, 10s)) << load.FailureSummary();
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << load.FailureSummary();
  EXPECT_EQ(PidsById(tided_->Instances("slow")), old_pids);
}

// 6a. DELETE while requests are in flight: each of them still gets its full answer.
TEST_F(RolloutTest, DeleteLetsInFlightRequestsFinish) {
  Apply(TestappManifest("gone", 2, "  timeoutSeconds: 10\n"));
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("gone") == 2; }, 20s));
  const int n = 8;
  std::vector<HttpResult> results(n);
  std::vector<std::thread> clients;
  for (int i = 0; i < n; ++i) {
    clients.emplace_back([&, i] {
      results[i] = Http("GET", tided_->gateway() + "/service/gone/sleep?ms=1500", "", "",
                        "application/json", 30);
    });
  }
  ASSERT_TRUE(WaitFor([&] { return GatewayInflight("gone") == n; }, 5s)) << GatewayInflight("gone");
  ASSERT_EQ(tided_->Delete("/v1/workloads/gone").status, 200);
  for (auto& t : clients) t.join();
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(results[i].status, 200) << i << ": " << results[i].body;
    EXPECT_EQ(results[i].body, "slept 1500\n");
  }
  EXPECT_EQ(Http("GET", tided_->gateway() + "/service/gone/").status, 404);
  EXPECT_TRUE(WaitFor([&] { return PidsOfWorkload("gone").empty(); }, 10s));
  EXPECT_TRUE(WaitFor([&] { return tided_->Instances("gone").empty(); }, 10s));
}

// 6b. Scale-down while long requests are in flight on every instance: none of them fails, and
// steady load around it loses nothing.
TEST_F(RolloutTest, ScaleDownLetsInFlightRequestsFinish) {
  Apply(TestappManifest("shrink", 3, "  timeoutSeconds: 10\n"));
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("shrink") == 3; }, 20s));
  LoadLoop steady(tided_->gateway() + "/service/shrink/sleep?ms=10", 2, 2000);
  const int n = 9;
  std::vector<HttpResult> results(n);
  std::vector<std::thread> clients;
  for (int i = 0; i < n; ++i) {
    clients.emplace_back([&, i] {
      results[i] = Http("GET", tided_->gateway() + "/service/shrink/sleep?ms=1500", "", "",
                        "application/json", 30);
    });
  }
  ASSERT_TRUE(WaitFor([&] { return GatewayInflight("shrink") >= n; }, 5s));
  ASSERT_EQ(tided_->Put("/v1/workloads/shrink/scale", R"({"replicas":1})").status, 200);
  for (auto& t : clients) t.join();
  for (int i = 0; i < n; ++i) EXPECT_EQ(results[i].status, 200) << i << ": " << results[i].body;
  EXPECT_TRUE(WaitFor([&] { return tided_->Instances("shrink").size() == 1; }, 10s));
  EXPECT_TRUE(WaitFor([&] { return PidsOfWorkload("shrink").size() == 1; }, 10s));
  ASSERT_TRUE(steady.WaitMoreOk(20, 10s)) << steady.FailureSummary();
  steady.Stop();
  EXPECT_EQ(steady.failed(), 0) << steady.FailureSummary();
}

}  // namespace
}  // namespace tide::testing
