// scale_bench (issue "Tide core"): how long one agent takes to bring a Service from 0 to N
// Ready replicas of a trivial TCP workload (bench/tcp_sink), against a plain loop that
// posix_spawns the same N processes and waits until every port accepts; plus the RSS of tided
// and tide-agent with N instances running.
//
// Setup: tided --no-local-agent and one tide-agent (a separate process, so its RSS is its own).
// The plain loop runs before and after each Tide run; each round's ratio uses the mean of the
// two, so a change of load on the (shared) machine weighs on both sides. A scale-up of 200 takes
// about 100-200 ms on a fast machine, where one round's ratio swings from 0.7 to 1.6 with the
// scheduler's mood: the verdict is on the median of --rounds rounds (default 5), and the worst
// round is printed beside it.
// The Service is what a user writes: `resources: {memory: 64Mi}` (--memory Q|none) and the
// default readiness probe; the verdicts are on it. Unless --memory none or --no-compare, the
// same scale-up is then timed for a Service without the limit ("no-frills") and printed beside
// it, to show what the limit costs (the plain loop applies no limit: it is what one would do
// without an orchestrator).
// Usage: scale_bench [--instances N] [--rounds R] [--logs DIR] [--poll] [--memory 64Mi|none]
//                    [--no-compare]
//   --instances N  (default 200)
//   --rounds R     realistic scale-ups, each between two plain loops (default 5)
//   --logs DIR     copy tided's and tide-agent's logs there: each event carries a millisecond
//                  timestamp, which shows where the time between the scale call and Ready went.
//   --poll         observe readyReplicas by polling every 1 ms instead of watching (see Run).
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "api/json.h"
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

// Starts n tcp_sink processes on free ports in a plain loop and waits until all accept.
// Returns the elapsed ms (-1 when they did not all accept within 60 s).
double ReferenceRun(int n) {
  int lo = FreePortRange(n);
  if (lo == 0) return -1;
  std::vector<pid_t> pids;
  auto t0 = SteadyClock::now();
  for (int i = 0; i < n; ++i) {
    pids.push_back(SpawnPlain({TcpSinkBin()}, {{"PORT", std::to_string(lo + i)}}));
  }
  std::set<int> waiting;
  for (int i = 0; i < n; ++i) waiting.insert(lo + i);
  auto deadline = t0 + 60s;
  while (!waiting.empty() && SteadyClock::now() < deadline) {
    for (auto it = waiting.begin(); it != waiting.end();) {
      it = CanConnect(*it) ? waiting.erase(it) : std::next(it);
    }
    if (!waiting.empty()) std::this_thread::sleep_for(1ms);
  }
  double ms = waiting.empty() ? MsSince(t0) : -1;
  for (pid_t p : pids) KillAndReap(p);
  return ms;
}

int ReadyReplicas(const Tided& t, const std::string& name) {
  auto st = tide::WorkloadStatusOf(t.Get("/v1/workloads/" + name).Json());
  return st ? st->ready : -1;
}

// Spread of instance start/ready wall times (ms) relative to t0_wall_ms, for the diagnosis.
void PrintPhases(const Tided& t, const std::string& name, int64_t t0_wall_ms) {
  json items = t.Instances(name);
  int64_t first_start = INT64_MAX, last_start = 0, last_ready = 0;
  double max_start_to_ready = 0;
  for (const auto& i : items) {
    int64_t s = i.value("startedAtMs", int64_t{0}), r = i.value("readyAtMs", int64_t{0});
    if (s == 0) continue;
    first_start = std::min(first_start, s);
    last_start = std::max(last_start, s);
    last_ready = std::max(last_ready, r);
    max_start_to_ready = std::max(max_start_to_ready, static_cast<double>(r - s));
  }
  if (last_start == 0) {
    std::printf("  (instances carry no startedAtMs/readyAtMs; phases not shown)\n");
    return;
  }
  std::printf(
      "  phases (wall clock from the scale call): first process start %+lld ms, last start "
      "%+lld ms, last ready %+lld ms; max start->ready %.0f ms\n",
      static_cast<long long>(first_start - t0_wall_ms),
      static_cast<long long>(last_start - t0_wall_ms),
      static_cast<long long>(last_ready - t0_wall_ms), max_start_to_ready);
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Scales `name` from 0 to n and returns the ms until all n are Ready (-1 on failure, printed).
double ScaleUp(const Tided& tided, const std::string& name, int n, bool poll, int* answers) {
  auto t0 = SteadyClock::now();
  auto scaled =
      tided.Put("/v1/workloads/" + name + "/scale", "{\"replicas\":" + std::to_string(n) + "}");
  if (scaled.status != 200) {
    std::fprintf(stderr, "scale: %d %s\n", scaled.status, scaled.body.c_str());
    return -1;
  }
  // Watched: each answer of GET ?waitMs with If-None-Match comes the moment the workload
  // changes, so the figure is exact to the answer's transfer and nothing runs while it waits.
  // --poll asks every millisecond instead (as the reference polls its ports): about 1000
  // requests a second through tided's API, which take CPU from the launches being measured.
  bool all_ready = false;
  std::string etag;
  for (auto deadline = SteadyClock::now() + 120s; SteadyClock::now() < deadline; ++*answers) {
    if (poll) {
      if ((all_ready = ReadyReplicas(tided, name) >= n)) break;
      std::this_thread::sleep_for(1ms);
      continue;
    }
    auto r = tide::testing::Http("GET", tided.api() + "/v1/workloads/" + name + "?waitMs=10000", "",
                                 tided.token(), "application/json", 30, {{"If-None-Match", etag}});
    if (r.status == 304) continue;
    if (r.status != 200) {
      std::fprintf(stderr, "watch: %d %s\n", r.status, r.body.c_str());
      return -1;
    }
    etag = r.headers["ETag"];
    json j = r.Json();
    if ((all_ready = j.contains("status") && j["status"].value("readyReplicas", -1) >= n)) break;
  }
  double ms = MsSince(t0);
  if (!all_ready) {
    std::fprintf(stderr, "only %d of %d Ready after 120 s; the others:\n",
                 ReadyReplicas(tided, name), n);
    for (const auto& i : tided.Instances(name)) {
      if (i.value("state", "") != "Ready") std::fprintf(stderr, "  %s\n", i.dump().c_str());
    }
    return -1;
  }
  return ms;
}

std::string ServiceYaml(const std::string& name, const WorkloadConfig& cfg) {
  return "apiVersion: tide/v1\nkind: Service\nmetadata: {name: " + name +
         "}\nspec:\n"
         "  command: [\"" +
         TcpSinkBin() + "\"]\n  replicas: 0\n  terminationGracePeriodSeconds: 1\n" +
         cfg.SpecLines();
}

int Run(int n, int rounds, const std::string& logs_dir, bool poll, const WorkloadConfig& cfg,
        bool compare) {
  std::printf("scale_bench: %d instances of %s, one tide-agent (tided --no-local-agent)\n", n,
              TcpSinkBin().c_str());
  std::printf("  configuration: %s\n", cfg.Describe().c_str());
  std::printf("  load average at start: %s\n", LoadAverage().c_str());
  double ref_before = ReferenceRun(n);
  std::printf("  reference (before): plain posix_spawn loop, %d ports accepting after %.1f ms\n", n,
              ref_before);
  if (ref_before < 0) return 2;

  TempDir dir;
  Tided tided(dir.path());
  // Room for the comparison run on ports the first run did not touch: tcp_sink closes first,
  // so each port it served lingers in TIME_WAIT for a minute.
  const int ports = (rounds + 1) * n + 40;
  int lo = FreePortRange(ports);
  AgentProc agent(dir.path(), tided, "bench-node", lo, lo + ports - 1);
  if (!WaitFor([&] { return AnyNodeReady(tided.Get("/v1/nodes").Json()); }, 20s)) {
    std::fprintf(stderr, "agent did not register:\n%s\n", agent.proc()->Log().c_str());
    return 2;
  }
  auto applied = tided.Post("/v1/apply", ServiceYaml("sink", cfg));
  if (applied.status != 200) {
    std::fprintf(stderr, "apply: %d %s\n", applied.status, applied.body.c_str());
    return 2;
  }
  long tided_rss_idle = RssKib(tided.proc()->pid()), agent_rss_idle = RssKib(agent.proc()->pid());

  const pid_t tided_pid = tided.proc()->pid(), agent_pid = agent.proc()->pid();
  double tided_cpu0 = CpuSeconds(tided_pid), agent_cpu0 = CpuSeconds(agent_pid);
  int64_t t0_wall = WallMs();
  int answers = 0;
  double tide_ms = ScaleUp(tided, "sink", n, poll, &answers);
  if (tide_ms < 0) return 2;
  const std::string label = cfg.memory.empty() ? "no-frills" : "realistic";
  std::printf(
      "  tide (%s): scale 0 -> %d, all Ready after %.1f ms (%s, %d answers; limit "
      "enforced by: %s)\n",
      label.c_str(), n, tide_ms, poll ? "polled every 1 ms" : "watched", answers + 1,
      EnforcerOf(tided.Instances("sink")).c_str());
  PrintPhases(tided, "sink", t0_wall);
  if (!logs_dir.empty()) {
    std::ofstream(logs_dir + "/tided.log") << tided.proc()->Log();
    std::ofstream(logs_dir + "/tide-agent.log") << agent.proc()->Log();
    std::printf("  logs of tided and tide-agent in %s (the scale call was at wall ms %lld)\n",
                logs_dir.c_str(), static_cast<long long>(t0_wall));
  }
  double tided_cpu1 = CpuSeconds(tided_pid), agent_cpu1 = CpuSeconds(agent_pid);
  std::printf("  cpu used during the scale-up: tided %.2f s, tide-agent %.2f s (2 cores)\n",
              tided_cpu1 - tided_cpu0, agent_cpu1 - agent_cpu0);
  long tided_rss = RssKib(tided_pid), agent_rss = RssKib(agent_pid);
  // And again after a few heartbeats and samples in steady state.
  std::this_thread::sleep_for(5s);  // steady-state window, not synchronisation
  long tided_rss2 = RssKib(tided_pid), agent_rss2 = RssKib(agent_pid);
  std::printf(
      "  steady state with %d instances: tided %.0f%% of a core, tide-agent %.0f%%; "
      "threads: tided %ld, tide-agent %ld\n",
      n, (CpuSeconds(tided_pid) - tided_cpu1) / 5 * 100,
      (CpuSeconds(agent_pid) - agent_cpu1) / 5 * 100, StatusField(tided_pid, "Threads"),
      StatusField(agent_pid, "Threads"));
  std::printf("  RSS idle (0 instances): tided %.1f MiB, tide-agent %.1f MiB\n",
              tided_rss_idle / 1024.0, agent_rss_idle / 1024.0);
  std::printf(
      "  RSS at %d Ready: tided %.1f MiB, tide-agent %.1f MiB; 5 s later: %.1f / %.1f MiB\n", n,
      tided_rss / 1024.0, agent_rss / 1024.0, tided_rss2 / 1024.0, agent_rss2 / 1024.0);

  tided.Put("/v1/workloads/sink/scale", "{\"replicas\":0}");
  WaitFor([&] { return tided.Instances("sink").empty(); }, 30s);
  // Each round: the plain loop after the previous Tide run, then the next Tide run.
  std::vector<double> refs{ref_before}, tides{tide_ms}, ratios;
  for (int r = 0; r < rounds; ++r) {
    double ref = ReferenceRun(n);
    if (ref < 0) return 2;
    refs.push_back(ref);
    ratios.push_back(tides[r] / ((refs[r] + refs[r + 1]) / 2));
    std::printf("  round %d: tide %.1f ms, plain loop before %.1f / after %.1f ms: ratio %.2f\n",
                r + 1, tides[r], refs[r], refs[r + 1], ratios.back());
    if (r + 1 == rounds) break;
    int more_answers = 0;
    double ms = ScaleUp(tided, "sink", n, poll, &more_answers);
    if (ms < 0) return 2;
    tides.push_back(ms);
    tided.Put("/v1/workloads/sink/scale", "{\"replicas\":0}");
    WaitFor([&] { return tided.Instances("sink").empty(); }, 30s);
  }
  // The same scale-up without the limit, to show what it costs (no verdict on it).
  double nolimit_ms = -1;
  if (compare && !cfg.memory.empty()) {
    if (tided.Post("/v1/apply", ServiceYaml("sink-nolimit", WorkloadConfig{""})).status != 200) {
      return 2;
    }
    int nolimit_answers = 0;
    nolimit_ms = ScaleUp(tided, "sink-nolimit", n, poll, &nolimit_answers);
    if (nolimit_ms < 0) return 2;
    std::printf(
        "  tide (no-frills, NO memory limit, for comparison): scale 0 -> %d, all Ready "
        "after %.1f ms\n",
        n, nolimit_ms);
    tided.Put("/v1/workloads/sink-nolimit/scale", "{\"replicas\":0}");
    WaitFor([&] { return tided.Instances("sink-nolimit").empty(); }, 30s);
  }
  double ref_after = ReferenceRun(n);
  std::printf("  reference (after): plain posix_spawn loop, %d ports accepting after %.1f ms\n", n,
              ref_after);
  if (ref_after < 0) return 2;
  refs.push_back(ref_after);
  double ref_ms = Percentile(refs, 50);
  std::printf("  load average at the end: %s\n", LoadAverage().c_str());

  Summary s("scale_bench (" + cfg.Describe() + ")");
  s.Info("plain loop: " + std::to_string(n) + " ports accepting (median)", ref_ms, "ms");
  if (nolimit_ms >= 0) {
    s.Info("no-frills (no limit): 0 -> " + std::to_string(n) + " Ready", nolimit_ms, "ms");
    s.Info("no-frills (no limit): ratio to the median plain loop, for comparison",
           nolimit_ms / ref_ms, "x");
  }
  s.Info(
      label + ": 0 -> " + std::to_string(n) + " Ready (median of " + std::to_string(rounds) + ")",
      Percentile(tides, 50), "ms");
  s.Info(label + ": worst round's ratio", *std::max_element(ratios.begin(), ratios.end()), "x");
  s.AtMost(label + ": ratio tide / plain loop (median of " + std::to_string(rounds) + " rounds)",
           Percentile(ratios, 50), 1.5, "x");
  s.AtMost("tided VmRSS at " + std::to_string(n) + " instances",
           std::max(tided_rss, tided_rss2) / 1024.0, 30, "MiB");
  s.AtMost("tide-agent VmRSS at " + std::to_string(n) + " instances",
           std::max(agent_rss, agent_rss2) / 1024.0, 15, "MiB");
  return s.Print();
}

}  // namespace
}  // namespace tide::bench

int main(int argc, char** argv) {
  int n = 200, rounds = 5;
  std::string logs_dir;
  bool poll = false, compare = true, bad = false;
  tide::bench::WorkloadConfig cfg;
  for (int i = 1; i < argc && !bad; ++i) {
    if (tide::bench::ParseMemoryFlag(argc, argv, &i, &cfg, &bad)) {
      continue;
    } else if (std::strcmp(argv[i], "--no-compare") == 0) {
      compare = false;
    } else if (std::strcmp(argv[i], "--instances") == 0 && i + 1 < argc) {
      n = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--poll") == 0) {
      poll = true;
    } else if (std::strcmp(argv[i], "--logs") == 0 && i + 1 < argc) {
      logs_dir = argv[++i];
    } else {
      bad = true;
    }
  }
  if (bad) {
    std::fprintf(stderr,
                 "usage: scale_bench [--instances N] [--rounds R] [--logs DIR] [--poll] "
                 "[--memory 64Mi|none] [--no-compare]\n");
    return 2;
  }
  if (n < 1 || n > 2000) {
    std::fprintf(stderr, "--instances: 1..2000\n");
    return 2;
  }
  if (rounds < 1 || rounds > 50) {
    std::fprintf(stderr, "--rounds: 1..50\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    return tide::bench::Run(n, rounds, logs_dir, poll, cfg, compare);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scale_bench: %s\n", e.what());
    return 2;
  }
}
