// idle_bench (issue 13 "no idle cost"): what Tide costs while nothing happens.
//  - CPU: tided (--no-local-agent) and one tide-agent with 0, 100 and 1,000 Functions applied
//    and at zero instances, each measured over --seconds (default 20) after a settle time, and
//    printed as a share of one core and as CPU milliseconds per 60 s. The reference, measured
//    over the same window beside them, is an idle tcp_sink (a process that only waits in
//    accept): the floor of what /proc can tell apart from nothing.
//  - RSS: the same tided and tide-agent with --rss-instances (default 1,000) instances of a
//    Service running (tcp_sink, the memory limit users write), read once all are Ready and
//    again 5 s later; the larger of the two is the figure. 0 skips this part. The agent speaks
//    plain HTTP to tided, as deploy/systemd/tide-agent.service ships it; the same run with
//    tided on https (--tls-cert) and the agent verifying it (--server https://, --ca-file)
//    follows, as a figure beside it: such an agent starts OpenSSL (api/openssl_init.h).
// Targets (issue 13): each CPU figure <= 0.1% of a core; tided <= 20 MiB and tide-agent
// <= 12 MiB at 1,000 instances.
// Usage: idle_bench [--seconds S] [--functions 0,100,1000] [--rss-instances N] [--memory Q|none]
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

#include "api/quantity.h"
#include "api/tls_testutil.h"
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

constexpr double kSettleSeconds = 5;

std::string FunctionsYaml(int from, int to, const WorkloadConfig& cfg) {
  std::string y;
  for (int i = from; i < to; ++i) {
    y += "---\napiVersion: tide/v1\nkind: Function\nmetadata: {name: idle-" + std::to_string(i) +
         "}\nspec:\n  command: [\"" + TinyHttpBin() + "\"]\n" + cfg.SpecLines() +
         "  idleTimeoutSeconds: 30\n"
         "  autoscale: {minReplicas: 0, maxReplicas: 2}\n";
  }
  return y;
}

struct IdleFigures {
  double tided_pct = -1, agent_pct = -1, ref_pct = -1;
};

// One idle run with n Functions at zero; false when the setup failed (printed).
bool IdleRun(int n, double seconds, const WorkloadConfig& cfg, IdleFigures* out) {
  TempDir dir;
  Tided tided(dir.path());
  int lo = FreePortRange(64);
  AgentProc agent(dir.path(), tided, "idle-node", lo, lo + 63);
  if (!WaitFor([&] { return AnyNodeReady(tided.Get("/v1/nodes").Json()); }, 20s)) {
    std::fprintf(stderr, "agent did not register:\n%s\n", agent.proc()->Log().c_str());
    return false;
  }
  for (int from = 0; from < n; from += 100) {
    auto applied = tided.Post("/v1/apply", FunctionsYaml(from, std::min(n, from + 100), cfg));
    if (applied.status != 200) {
      std::fprintf(stderr, "apply: %d %s\n", applied.status, applied.body.c_str());
      return false;
    }
  }
  json items = tided.Get("/v1/workloads").Json().value("items", json::array());
  if (static_cast<int>(items.size()) != n || !tided.Instances("").empty()) {
    std::fprintf(stderr, "expected %d workloads at zero, got %zu workloads\n", n, items.size());
    return false;
  }
  int ref_port = FreePort();
  pid_t ref = SpawnPlain({TcpSinkBin()}, {{"PORT", std::to_string(ref_port)}});
  std::this_thread::sleep_for(std::chrono::duration<double>(kSettleSeconds));  // settle window
  const pid_t tp = tided.proc()->pid(), ap = agent.proc()->pid();
  const double t0 = CpuSeconds(tp), a0 = CpuSeconds(ap), r0 = CpuSeconds(ref);
  const auto w0 = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measured window
  const double wall = MsSince(w0) / 1000;
  out->tided_pct = (CpuSeconds(tp) - t0) / wall * 100;
  out->agent_pct = (CpuSeconds(ap) - a0) / wall * 100;
  out->ref_pct = (CpuSeconds(ref) - r0) / wall * 100;
  KillAndReap(ref);
  if (!tided.Instances("").empty()) {
    std::fprintf(stderr, "an instance started while idle\n");
    return false;
  }
  std::printf(
      "  %4d Functions at zero: tided %.3f%% of a core (%.1f ms CPU per 60 s), tide-agent "
      "%.3f%% (%.1f ms per 60 s), idle tcp_sink %.3f%%; over %.1f s\n",
      n, out->tided_pct, out->tided_pct * 600, out->agent_pct, out->agent_pct * 600, out->ref_pct,
      wall);
  std::fflush(stdout);
  return true;
}

// RSS (KiB) of tided and tide-agent with n instances Ready, the larger of two reads 5 s apart.
// tls: tided serves https and the agent verifies it with the test CA.
bool RssRun(int n, const WorkloadConfig& cfg, bool tls, long* tided_kib, long* agent_kib) {
  TempDir dir;
  Tided::Options topts;
  std::string agent_tls;
  if (tls) {
    using namespace tide::testing;
    const TestCert ca = MakeTestCa("idle_bench CA");
    WriteTestCert(ca, dir.path() + "/ca.crt", "");
    WriteTestCert(MakeTestCert(ca, "tided", {"IP:127.0.0.1"}), dir.path() + "/tided.crt",
                  dir.path() + "/tided.key");
    SetHttpsCaFile(dir.path() + "/ca.crt");
    topts.https = true;
    topts.extra_args = {"--tls-cert", dir.path() + "/tided.crt", "--tls-key",
                        dir.path() + "/tided.key"};
    agent_tls = " --ca-file " + dir.path() + "/ca.crt";
  }
  struct ResetCa {
    ~ResetCa() { tide::testing::SetHttpsCaFile(""); }
  } reset_ca;
  Tided tided(dir.path(), topts);
  std::printf("  %s\n", tls ? "with TLS: tided --tls-cert, the agent --server https:// --ca-file"
                            : "plain HTTP between the agent and tided (as the shipped unit)");
  const int ports = n + 40;
  int lo = FreePortRange(ports);
  // Placement counts each instance's limit against the node's memory: 1,000 x 64Mi is more than
  // this host has (it placed 376 and left the rest Pending), while a tcp_sink uses about 1 MiB.
  // The node declares room for all of them, as an operator who overcommits would.
  int64_t limit = 0;
  std::string err;
  if (!cfg.memory.empty() && !ParseMemory(cfg.memory, &limit, &err)) return false;
  const int64_t capacity = (n + 40) * limit + (int64_t{1} << 30);
  AgentProc agent(dir.path(), tided, "rss-node", lo, lo + ports - 1,
                  "--memory " + std::to_string(capacity) + agent_tls);
  if (!WaitFor([&] { return AnyNodeReady(tided.Get("/v1/nodes").Json()); }, 20s)) return false;
  // The reference: the same two processes before any instance. Most of it is file pages of the
  // shared libraries (RssFile), mapped whatever the daemon does.
  const pid_t tp = tided.proc()->pid(), ap = agent.proc()->pid();
  std::printf(
      "  RSS with 0 instances (reference): tided %.1f MiB (shared-library and binary pages %.1f), "
      "tide-agent %.1f MiB (%.1f)\n",
      RssKib(tp) / 1024.0, StatusField(tp, "RssFile") / 1024.0, RssKib(ap) / 1024.0,
      StatusField(ap, "RssFile") / 1024.0);
  const std::string yaml =
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: sink}\nspec:\n"
      "  command: [\"" +
      TcpSinkBin() + "\"]\n  replicas: " + std::to_string(n) +
      "\n  terminationGracePeriodSeconds: 1\n" + cfg.SpecLines();
  if (tided.Post("/v1/apply", yaml).status != 200) return false;
  const auto start = SteadyClock::now();
  if (!WaitFor([&] { return tided.ReadyCount("sink") >= n; }, 900s)) {
    std::fprintf(stderr, "only %d of %d Ready\n", tided.ReadyCount("sink"), n);
    return false;
  }
  std::printf("  %d instances Ready %.1f s after the apply (node memory declared: %.1f GiB)\n", n,
              MsSince(start) / 1000, capacity / 1073741824.0);
  long t1 = RssKib(tp), a1 = RssKib(ap);
  std::this_thread::sleep_for(5s);  // steady-state window (heartbeats, samples), not a wait
  long t2 = RssKib(tp), a2 = RssKib(ap);
  *tided_kib = std::max(t1, t2);
  *agent_kib = std::max(a1, a2);
  std::printf(
      "  RSS with %d instances Ready: tided %.1f MiB, tide-agent %.1f MiB; 5 s later %.1f / "
      "%.1f MiB (shared-library and binary pages %.1f / %.1f)\n",
      n, t1 / 1024.0, a1 / 1024.0, t2 / 1024.0, a2 / 1024.0, StatusField(tp, "RssFile") / 1024.0,
      StatusField(ap, "RssFile") / 1024.0);
  tided.Put("/v1/workloads/sink/scale", "{\"replicas\":0}");
  WaitFor([&] { return tided.Instances("sink").empty(); }, 60s);
  return true;
}

int Run(double seconds, const std::vector<int>& counts, int rss_instances,
        const WorkloadConfig& cfg) {
  std::printf(
      "idle_bench: tided --no-local-agent and one tide-agent, Functions at zero; CPU over %.0f s "
      "after %.0f s of settling\n",
      seconds, kSettleSeconds);
  std::printf("  configuration: %s\n", cfg.Describe().c_str());
  std::printf("  load average at start: %s\n", LoadAverage().c_str());
  Summary s("idle_bench (" + cfg.Describe() + ")");
  for (int n : counts) {
    IdleFigures f;
    if (!IdleRun(n, seconds, cfg, &f)) return 2;
    const std::string at = std::to_string(n) + " Functions at zero";
    s.Info("idle tcp_sink beside " + at + " (reference)", f.ref_pct, "%core");
    s.AtMost("tided CPU, " + at, f.tided_pct, 0.1, "%core");
    s.AtMost("tide-agent CPU, " + at, f.agent_pct, 0.1, "%core");
  }
  if (rss_instances > 0) {
    long tk = -1, ak = -1, tls_tk = -1, tls_ak = -1;
    if (!RssRun(rss_instances, cfg, /*tls=*/false, &tk, &ak)) return 2;
    if (!RssRun(rss_instances, cfg, /*tls=*/true, &tls_tk, &tls_ak)) return 2;
    const std::string at = " at " + std::to_string(rss_instances) + " instances";
    s.AtMost("tided VmRSS" + at, tk / 1024.0, 20, "MiB");
    s.AtMost("tide-agent VmRSS" + at, ak / 1024.0, 12, "MiB");
    s.Info("with TLS: tided VmRSS" + at, tls_tk / 1024.0, "MiB");
    s.Info("with TLS: tide-agent VmRSS" + at, tls_ak / 1024.0, "MiB");
  }
  std::printf("  load average at the end: %s\n", LoadAverage().c_str());
  return s.Print();
}

}  // namespace
}  // namespace tide::bench

int main(int argc, char** argv) {
  double seconds = 20;
  std::vector<int> counts{0, 100, 1000};
  int rss_instances = 1000;
  bool bad = false;
  tide::bench::WorkloadConfig cfg;
  for (int i = 1; i < argc && !bad; ++i) {
    if (tide::bench::ParseMemoryFlag(argc, argv, &i, &cfg, &bad)) {
      continue;
    } else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--rss-instances") == 0 && i + 1 < argc) {
      rss_instances = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--functions") == 0 && i + 1 < argc) {
      counts.clear();
      std::stringstream ss(argv[++i]);
      std::string item;
      while (std::getline(ss, item, ',')) {
        char* end = nullptr;
        long v = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < 0 || v > 5000) bad = true;
        counts.push_back(static_cast<int>(v));
      }
    } else {
      bad = true;
    }
  }
  if (bad || seconds < 1 || seconds > 600 || rss_instances < 0 || rss_instances > 2000) {
    std::fprintf(stderr,
                 "usage: idle_bench [--seconds 1..600] [--functions N,N,...(0..5000)] "
                 "[--rss-instances 0..2000] [--memory 64Mi|none]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    return tide::bench::Run(seconds, counts, rss_instances, cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "idle_bench: %s\n", e.what());
    return 2;
  }
}
