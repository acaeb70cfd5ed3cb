// failover_bench (issue "Nothing lost"): tided --no-local-agent --node-grace G plus two
// tide-agents, a Service with N replicas (tcp_sink) spread over both; kill -9 the agent holding
// the most instances, for good, and measure the time until all N instances are Ready again on
// the surviving node. Also when tided marked the dead node NotReady and Lost. Each round is a
// fresh tided and agents; the target applies to the slowest round.
// The Service is what a user writes: `resources: {memory: 64Mi}` (--memory Q|none) and the
// default readiness probe.
//
// --mode control-plane (issue 12): three tided members on a real etcd (started here, as the tests
// do: daemon/store/etcd_testutil.h), --leader-ttl 2s, one tide-agent listing all three members
// (it reports to every member, takes assignments from the leader), a warm Service (tiny_http,
// the same memory limit and default probe); requests at a steady rate through a surviving
// member's gateway (the reference: the same requests through the leader's gateway before the
// kill); kill -9 the leader. Reports leader loss -> new leader (ms) and the requests lost.
// Usage: failover_bench [--mode agent|control-plane|both] [--replicas 6] [--grace-seconds 2]
//                       [--rounds 3] [--memory 64Mi|none] [--rate 100]
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "bench/bench_util.h"
#include "daemon/store/etcd_testutil.h"
#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::bench {
namespace {

using tide::TestEtcd;
using tide::testing::AgentProc;
using tide::testing::AgreedLeader;
using tide::testing::json;
using tide::testing::TempDir;
using tide::testing::Tided;
using tide::testing::WaitFor;
using namespace std::chrono_literals;

std::map<std::string, std::string> NodeStates(const Tided& t) {
  std::map<std::string, std::string> out;
  json j = t.Get("/v1/nodes").Json();
  if (!j.contains("items")) return out;
  for (const auto& n : j["items"]) out[n.value("name", "")] = n.value("state", "");
  return out;
}

// Ready instances of the workload per node.
std::map<std::string, int> ReadyByNode(const Tided& t, const std::string& workload) {
  std::map<std::string, int> out;
  for (const auto& i : t.Instances(workload)) {
    if (i.value("state", "") == "Ready") out[i.value("node", "")]++;
  }
  return out;
}

struct Round {
  double all_ready_ms = -1, not_ready_ms = -1, lost_ms = -1;
};

// One round; false when the setup failed.
bool RunRound(int replicas, int grace_s, const WorkloadConfig& cfg, Round* out) {
  TempDir dir;
  Tided::Options o;
  o.node_grace = std::to_string(grace_s) + "s";
  Tided tided(dir.path(), o);
  int lo = FreePortRange(2 * replicas + 20);
  int half = replicas + 10;
  auto a = std::make_unique<AgentProc>(dir.path(), tided, "node-a", lo, lo + half - 1);
  auto b = std::make_unique<AgentProc>(dir.path(), tided, "node-b", lo + half, lo + 2 * half - 1);
  if (!WaitFor(
          [&] {
            auto s = NodeStates(tided);
            return s["node-a"] == "Ready" && s["node-b"] == "Ready";
          },
          20s)) {
    std::fprintf(stderr, "agents did not register\n");
    return false;
  }
  std::string yaml =
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: fo}\nspec:\n"
      "  command: [\"" +
      TcpSinkBin() + "\"]\n  replicas: " + std::to_string(replicas) +
      "\n  terminationGracePeriodSeconds: 1\n" + cfg.SpecLines();
  if (tided.Post("/v1/apply", yaml).status != 200 ||
      !WaitFor([&] { return tided.ReadyCount("fo") == replicas; }, 30s)) {
    std::fprintf(stderr, "the Service did not become Ready\n");
    return false;
  }
  auto spread = ReadyByNode(tided, "fo");
  bool kill_a = spread["node-a"] >= spread["node-b"];
  std::string victim = kill_a ? "node-a" : "node-b", survivor = kill_a ? "node-b" : "node-a";
  std::printf("  %d Ready: node-a %d, node-b %d (limit enforced by: %s); kill -9 the agent of %s\n",
              replicas, spread["node-a"], spread["node-b"],
              EnforcerOf(tided.Instances("fo")).c_str(), victim.c_str());
  auto t0 = SteadyClock::now();
  (kill_a ? a : b)->Kill9();
  bool done = WaitFor(
      [&] {
        auto s = NodeStates(tided);
        if (out->not_ready_ms < 0 && (s[victim] == "NotReady" || s[victim] == "Lost")) {
          out->not_ready_ms = MsSince(t0);
        }
        if (out->lost_ms < 0 && s[victim] == "Lost") out->lost_ms = MsSince(t0);
        if (ReadyByNode(tided, "fo")[survivor] >= replicas) {
          out->all_ready_ms = MsSince(t0);
          return true;
        }
        return false;
      },
      std::chrono::seconds(grace_s * 5 + 30));
  if (!done) {
    std::fprintf(stderr, "not all %d Ready on %s within %d s: %s\n", replicas, survivor.c_str(),
                 grace_s * 5 + 30, tided.Instances("fo").dump().c_str());
    return false;
  }
  std::printf(
      "  node %s NotReady after %.0f ms, Lost after %.0f ms; all %d Ready on %s after "
      "%.0f ms\n",
      victim.c_str(), out->not_ready_ms, out->lost_ms, replicas, survivor.c_str(),
      out->all_ready_ms);
  std::fflush(stdout);
  return true;
}

// Requests at `rate` per second to `url` until Stop(), each on time: a pool of workers takes
// them (a slow answer does not delay the next request); a request due while every worker waits
// for an answer is not sent and counts as lost, as it would be for a client with that many
// connections. failed() = answers other than 200 (timeouts included) + those not sent.
class SteadyLoad {
 public:
  static constexpr int kWorkers = 32;
  SteadyLoad(std::string url, int rate) : url_(std::move(url)), period_(1000000 / rate) {
    for (int i = 0; i < kWorkers; ++i) workers_.emplace_back([this] { Work(); });
    dispatcher_ = std::thread([this] {
      auto next = SteadyClock::now();
      while (!stop_) {
        {
          std::lock_guard<std::mutex> lk(mu_);
          if (idle_ > due_) {
            ++due_;
            cv_.notify_one();
          } else {
            ++not_sent_;
          }
        }
        next += std::chrono::microseconds(period_);
        std::this_thread::sleep_until(next);
      }
    });
  }
  ~SteadyLoad() { Stop(); }
  void Stop() {
    stop_ = true;
    if (dispatcher_.joinable()) dispatcher_.join();
    cv_.notify_all();
    for (auto& w : workers_) {
      if (w.joinable()) w.join();
    }
  }
  int ok() const { return ok_; }
  int failed() const { return failed_ + not_sent_; }

 private:
  void Work() {
    std::unique_lock<std::mutex> lk(mu_);
    while (true) {
      cv_.wait(lk, [&] { return due_ > 0 || stop_; });
      if (due_ == 0) return;  // stopping
      --due_;
      --idle_;
      lk.unlock();
      const auto r = tide::testing::Http("GET", url_, "", "", "application/json", 5);
      (r.status == 200 ? ok_ : failed_)++;
      lk.lock();
      ++idle_;
    }
  }
  std::string url_;
  int64_t period_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  int idle_ = kWorkers;  // guarded by mu_
  int due_ = 0;          // guarded by mu_: taken by no worker yet
  int not_sent_ = 0;     // guarded by mu_ (read after Stop)
  std::atomic<int> ok_{0}, failed_{0};
  std::vector<std::thread> workers_;
  std::thread dispatcher_;
};

struct CpRound {
  double new_leader_ms = -1;
  int reference_sent = 0, reference_failed = 0;
  int sent = 0, lost = 0;
  int lost_before_kill = 0;  // the surviving gateway failed these while the leader still lived
};

constexpr const char* kNodeToken = "failover-bench-node-a-token";

bool RunControlPlaneRound(int replicas, int rate, const WorkloadConfig& cfg, CpRound* out) {
  TestEtcd etcd;
  if (!etcd.ok()) {
    std::fprintf(stderr, "etcd: %s\n", etcd.error().c_str());
    return false;
  }
  TempDir dir;
  std::vector<std::unique_ptr<Tided>> ms;
  for (int i = 0; i < 3; ++i) {
    const std::string d = dir.path() + "/m" + std::to_string(i);
    std::filesystem::create_directories(d);
    Tided::Options o;
    o.extra_args = {"--store", etcd.store_url(), "--name", "m" + std::to_string(i), "--leader-ttl",
                    "2s"};
    // A token bound to the node: a join token's credential is issued by one member only.
    o.extra_tokens = "  - {name: agent-node-a, token: \"" + std::string(kNodeToken) +
                     "\", role: agent, node: node-a}\n";
    ms.push_back(std::make_unique<Tided>(d, o));
  }
  std::string leader;
  if (!WaitFor([&] { return !(leader = AgreedLeader(ms, {0, 1, 2})).empty(); }, 10s)) {
    std::fprintf(stderr, "no leader\n");
    return false;
  }
  const size_t li = static_cast<size_t>(leader[1] - '0');
  const size_t si = (li + 1) % 3;  // the surviving member whose gateway takes the requests
  const int lo = FreePortRange(replicas + 20);
  // One agent listing every member, as docs/ha.md says to run them: it reports to all three
  // (so every member's gateway has its routes) and takes assignments from the leader.
  std::string members;
  for (auto& m : ms) members += (members.empty() ? "" : ",") + m->api();
  const std::string ad = dir.path() + "/agent-node-a";
  std::filesystem::create_directories(ad);
  tide::testing::WriteFile(ad + "/token", std::string(kNodeToken) + "\n");
  tide::testing::Proc agent(
      {tide::testing::AgentBin(), "--server", members, "--name", "node-a", "--token-file",
       ad + "/token", "--listen", "127.0.0.1:" + std::to_string(tide::testing::FreePort()),
       "--advertise", "127.0.0.1", "--data-dir", ad + "/data", "--port-range",
       std::to_string(lo) + "-" + std::to_string(lo + replicas + 19), "--allow-root",
       "--default-user", ""},
      ad + "/agent.log");
  const std::string yaml =
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: warm}\nspec:\n"
      "  command: [\"" +
      TinyHttpBin() + "\"]\n  replicas: " + std::to_string(replicas) + "\n" + cfg.SpecLines();
  if (ms[li]->Post("/v1/apply", yaml).status != 200 ||
      !WaitFor([&] { return ms[li]->ReadyCount("warm") == replicas; }, 30s)) {
    std::fprintf(stderr, "the Service did not become Ready\n");
    return false;
  }
  {  // Reference: the same load through the leader's gateway, 2 s before anything fails.
    SteadyLoad ref(ms[li]->gateway() + "/service/warm/", rate);
    std::this_thread::sleep_for(2s);
    ref.Stop();
    out->reference_sent = ref.ok() + ref.failed();
    out->reference_failed = ref.failed();
  }
  SteadyLoad load(ms[si]->gateway() + "/service/warm/", rate);
  std::this_thread::sleep_for(1s);
  const auto t0 = SteadyClock::now();
  out->lost_before_kill = load.failed();
  ms[li]->Kill9();
  std::string next;
  if (!WaitFor(
          [&] {
            next = AgreedLeader(ms, {si, (si + 1) % 3});
            return !next.empty() && next != leader;
          },
          15s)) {
    std::fprintf(stderr, "no new leader within 15 s\n");
    return false;
  }
  out->new_leader_ms = MsSince(t0);
  std::this_thread::sleep_for(3s);  // requests keep flowing through the new leader's first passes
  load.Stop();
  out->sent = load.ok() + load.failed();
  out->lost = load.failed();
  std::printf(
      "  leader %s killed; %s leads after %.0f ms; through %s's gateway %d requests, %d lost, "
      "%d of them in the 1 s before the kill (reference through the leader's gateway before: "
      "%d, %d failed)\n",
      leader.c_str(), next.c_str(), out->new_leader_ms, ("m" + std::to_string(si)).c_str(),
      out->sent, out->lost, out->lost_before_kill, out->reference_sent, out->reference_failed);
  std::fflush(stdout);
  return true;
}

int RunControlPlane(int replicas, int rounds, int rate, const WorkloadConfig& cfg) {
  std::printf(
      "failover_bench --mode control-plane: 3 tided on one etcd (--leader-ttl 2s), 1 agent, %d "
      "replicas of %s, %d requests/s through a surviving member's gateway, %d rounds\n",
      replicas, TinyHttpBin().c_str(), rate, rounds);
  std::printf("  configuration: %s\n", cfg.Describe().c_str());
  std::printf("  load average at start: %s\n", LoadAverage().c_str());
  std::vector<double> new_leader;
  int lost = 0, sent = 0, ref_failed = 0, before_kill = 0;
  for (int r = 0; r < rounds; ++r) {
    CpRound round;
    if (!RunControlPlaneRound(replicas, rate, cfg, &round)) return 2;
    new_leader.push_back(round.new_leader_ms);
    lost += round.lost;
    sent += round.sent;
    ref_failed += round.reference_failed;
    before_kill += round.lost_before_kill;
  }
  std::printf("  load average at the end: %s\n", LoadAverage().c_str());
  Summary s("failover_bench control-plane (" + cfg.Describe() + ")");
  s.Info("leader loss -> new leader (median)", Percentile(new_leader, 50), "ms");
  s.AtMost("leader loss -> new leader (slowest round)", Percentile(new_leader, 100), 5000, "ms");
  s.Info("requests sent through the surviving gateway", sent, "requests");
  s.AtMost("reference: failed through the leader's gateway", ref_failed, 0, "requests");
  s.Info("of them lost before the kill (a follower's routes)", before_kill, "requests");
  s.AtMost("requests lost through the surviving gateway", lost, 0, "requests");
  return s.Print();
}

int Run(int replicas, int grace_s, int rounds, const WorkloadConfig& cfg) {
  std::printf(
      "failover_bench: tided --no-local-agent --node-grace %ds, 2 agents, %d replicas of "
      "%s, %d rounds\n",
      grace_s, replicas, TcpSinkBin().c_str(), rounds);
  std::printf("  configuration: %s\n", cfg.Describe().c_str());
  std::printf("  load average at start: %s\n", LoadAverage().c_str());
  std::vector<double> all_ready, lost;
  for (int r = 0; r < rounds; ++r) {
    Round round;
    if (!RunRound(replicas, grace_s, cfg, &round)) return 2;
    all_ready.push_back(round.all_ready_ms);
    lost.push_back(round.lost_ms);
  }
  std::printf("  load average at the end: %s\n", LoadAverage().c_str());
  Summary s("failover_bench (" + cfg.Describe() + ")");
  s.Info("dead node Lost (median)", Percentile(lost, 50), "ms");
  s.Info("all Ready again (median)", Percentile(all_ready, 50), "ms");
  s.AtMost("all Ready again (slowest round)", Percentile(all_ready, 100), grace_s * 1000.0 + 1000,
           "ms");
  return s.Print();
}

}  // namespace
}  // namespace tide::bench

int main(int argc, char** argv) {
  int replicas = 6, grace_s = 2, rounds = 3, rate = 100;
  std::string mode = "agent";
  bool bad = false;
  tide::bench::WorkloadConfig cfg;
  for (int i = 1; i < argc && !bad; ++i) {
    std::string a = argv[i];
    if (tide::bench::ParseMemoryFlag(argc, argv, &i, &cfg, &bad)) continue;
    if (a == "--mode" && i + 1 < argc) {
      mode = argv[++i];
      continue;
    }
    int* dst = a == "--replicas"        ? &replicas
               : a == "--grace-seconds" ? &grace_s
               : a == "--rounds"        ? &rounds
               : a == "--rate"          ? &rate
                                        : nullptr;
    if (!dst || i + 1 >= argc) {
      bad = true;
      break;
    }
    *dst = std::atoi(argv[++i]);
  }
  if (bad || replicas < 1 || replicas > 500 || grace_s < 1 || grace_s > 60 || rounds < 1 ||
      rounds > 50 || rate < 1 || rate > 1000 ||
      (mode != "agent" && mode != "control-plane" && mode != "both")) {
    std::fprintf(stderr,
                 "usage: failover_bench [--mode agent|control-plane|both] [--replicas 1..500] "
                 "[--grace-seconds 1..60] [--rounds 1..50] [--memory 64Mi|none] "
                 "[--rate 1..1000]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    int rc = 0;
    if (mode != "control-plane") rc = tide::bench::Run(replicas, grace_s, rounds, cfg);
    if (mode != "agent" && rc != 2) {
      const int cp = tide::bench::RunControlPlane(replicas, rounds, rate, cfg);
      rc = std::max(rc, cp);
    }
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "failover_bench: %s\n", e.what());
    return 2;
  }
}
