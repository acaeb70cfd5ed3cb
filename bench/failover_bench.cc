// failover_bench (issue "Nothing lost"): tided --no-local-agent --node-grace G plus two
// tide-agents, a Service with N replicas (tcp_sink) spread over both; kill -9 the agent holding
// the most instances, for good, and measure the time until all N instances are Ready again on
// the surviving node. Also when tided marked the dead node NotReady and Lost. Each round is a
// fresh tided and agents; the target applies to the slowest round.
// The Service is what a user writes: `resources: {memory: 64Mi}` (--memory Q|none) and the
// default readiness probe.
// Usage: failover_bench [--replicas 6] [--grace-seconds 2] [--rounds 3] [--memory 64Mi|none]
#include <signal.h>

#include <cstdio>
#include <thread>

#include "bench/bench_util.h"
#include "tests/harness.h"

namespace tide::bench {
namespace {

using tide::testing::AgentProc;
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
  int replicas = 6, grace_s = 2, rounds = 3;
  bool bad = false;
  tide::bench::WorkloadConfig cfg;
  for (int i = 1; i < argc && !bad; ++i) {
    std::string a = argv[i];
    if (tide::bench::ParseMemoryFlag(argc, argv, &i, &cfg, &bad)) continue;
    int* dst = a == "--replicas"        ? &replicas
               : a == "--grace-seconds" ? &grace_s
               : a == "--rounds"        ? &rounds
                                        : nullptr;
    if (!dst || i + 1 >= argc) {
      bad = true;
      break;
    }
    *dst = std::atoi(argv[++i]);
  }
  if (bad || replicas < 1 || replicas > 500 || grace_s < 1 || grace_s > 60 || rounds < 1 ||
      rounds > 50) {
    std::fprintf(stderr,
                 "usage: failover_bench [--replicas 1..500] [--grace-seconds 1..60] "
                 "[--rounds 1..50] [--memory 64Mi|none]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    return tide::bench::Run(replicas, grace_s, rounds, cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "failover_bench: %s\n", e.what());
    return 2;
  }
}
