// coldstart_bench (issue "Functions"): the same tiny HTTP function (bench/tiny_http) started
//  - bare: posix_spawn it, then send the first request (connect retried every 100 us until it
//    accepts) and wait for the answer;
//  - through Tide from zero: the first request through the gateway (/function/NAME/) to its
//    answer, with the Function at zero instances before each round;
// interleaved, R rounds of each (default 200: with 50 the p99 is the slowest round) after one
// unmeasured warm-up round of each.
// Prints p50/p99 of both and of the per-round difference, and the overhead verdicts:
//  - p50: the median of the per-round differences (tide - bare of the same round);
//  - p99: the p99 of Tide's starts less the p99 of the bare starts, i.e. what Tide adds at the
//    tail. Not the p99 of the per-round differences: the two starts of a round are independent
//    draws of the program's own start time, and on a host where that alone spreads by several
//    ms (bare p99 - p50 is printed) the tail of their difference measures that spread twice,
//    not Tide. That figure is printed too, with the slowest rounds and their phases. And the
// mean cold-start phases tided reports (tide_cold_start_phase_seconds) over the same rounds: the
// warm-up round's observations are subtracted (a first start's one-off costs are not a cold
// start's).
//
// Setup: tided with its in-process agent (--agent local, the default: a single-node install;
// its agent protocol calls go to the API's handlers without a socket), or --agent http: tided
// --no-local-agent and a tide-agent process on this machine, over loopback HTTP, as every
// agent of a fleet speaks. Back to zero between rounds: --zero idle (default;
// idleTimeoutSeconds 0.2 and 0.5 s autoscale windows let the autoscaler stop the instance) or
// --zero scale (PUT /v1/workloads/NAME/scale {"replicas":0} right after the answer).
// The Function is what a user writes: `resources: {memory: 64Mi}` (--memory Q|none) and the
// default readiness probe; tiny_http answers with a 2 KiB body (--body-bytes) on both sides.
// The verdicts are on that Function. Unless --memory none or --no-compare, each round also
// cold-starts a second Function without the limit ("no-frills"), printed beside it to show
// what the limit costs, and a third with `socketActivation: true` beside it (issue 13 item 5).
// Then the thaw line (bench/coldstart_thaw.h; --no-thaw skips it): the same Function with
// keepAlive freezeAfterSeconds 0.2, a request to its frozen instance against a warm request.
// Usage: coldstart_bench [--rounds R] [--zero idle|scale] [--memory 64Mi|none]
//                        [--body-bytes 2048] [--no-compare] [--no-thaw] [--agent local|http]
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <regex>
#include <thread>

#include "bench/bench_util.h"
#include "bench/coldstart_thaw.h"
#include "tests/harness.h"

namespace tide::bench {
namespace {

using tide::testing::Http;
using tide::testing::json;
using tide::testing::TempDir;
using tide::testing::Tided;
using tide::testing::WaitFor;
using namespace std::chrono_literals;

int PortOf(const std::string& url) { return std::atoi(url.substr(url.rfind(':') + 1).c_str()); }

// One bare round: ms from spawn to the answer of the first request; -1 on failure.
double BareRound(int body_bytes) {
  int port = FreePortRange(1);
  auto t0 = SteadyClock::now();
  pid_t pid = SpawnPlain({TinyHttpBin()}, {{"PORT", std::to_string(port)},
                                           {"BODY_BYTES", std::to_string(body_bytes)}});
  int status = RawHttpGet(port, "/", true, 10000);
  double ms = MsSince(t0);
  KillAndReap(pid);
  return status == 200 ? ms : -1;
}

// One Tide round: ms from the first request through the gateway to its answer; -1 on failure.
// *cold tells whether the gateway said it was a cold start.
double TideRound(int gw_port, const std::string& name, bool* cold) {
  std::map<std::string, std::string> headers;
  auto t0 = SteadyClock::now();
  int status = RawHttpGet(gw_port, "/function/" + name + "/", false, 30000, &headers);
  double ms = MsSince(t0);
  *cold = headers["X-Tide-Cold-Start"] == "true";
  return status == 200 ? ms : -1;
}

struct PhaseFigure {
  double count = 0, mean_ms = -1;
};

// tide_cold_start_phase_seconds{workload=W, phase=P} from tided's /metrics: its count and mean
// since the exposition `before` (its observations are left out).
PhaseFigure Phase(const std::string& metrics, const std::string& before,
                  const std::string& workload, const std::string& phase) {
  auto value = [&](const std::string& text, const std::string& suffix) {
    // The exposition orders labels by name: phase before workload.
    std::regex re("tide_cold_start_phase_seconds_" + suffix + "\\{phase=\"" + phase +
                  "\",workload=\"" + workload + "\"\\} ([0-9.eE+-]+)");
    std::smatch m;
    return std::regex_search(text, m, re) ? std::stod(m[1].str()) : 0.0;
  };
  PhaseFigure f;
  f.count = value(metrics, "count") - value(before, "count");
  if (f.count > 0) f.mean_ms = (value(metrics, "sum") - value(before, "sum")) / f.count * 1000;
  return f;
}

const char* const kPhases[] = {"queued", "spawned", "ready", "first_byte"};

// Prints the phases of one Function since the exposition `before`; true when all four were
// observed once per cold start and their means are in order (queued <= spawned <= ready <=
// first_byte).
bool PrintPhases(const std::string& metrics, const std::string& before, const std::string& workload,
                 int cold_starts, const std::string& label) {
  std::string line;
  bool ok = true;
  double prev = -1;
  for (const char* p : kPhases) {
    PhaseFigure f = Phase(metrics, before, workload, p);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%s %.2f (n=%.0f)", line.empty() ? "" : ", ", p, f.mean_ms,
                  f.count);
    line += buf;
    ok = ok && f.count == cold_starts && f.mean_ms >= prev;
    prev = f.mean_ms;
  }
  std::printf("  %-11s tided's cold-start phases (mean ms from arrival, measured rounds): %s%s\n",
              label.c_str(), line.c_str(), ok ? "" : "  <- OUT OF ORDER or not one per cold start");
  return ok;
}

// keep_alive: the thaw line's Function (bench/coldstart_thaw.h), frozen after 0.2 s idle and
// kept, instead of stopped after 0.2 s.
std::string FunctionYaml(const std::string& name, const WorkloadConfig& cfg, int body_bytes,
                         bool socket_activation, bool keep_alive = false) {
  return "apiVersion: tide/v1\nkind: Function\nmetadata: {name: " + name +
         "}\nspec:\n"
         "  command: [\"" +
         TinyHttpBin() + "\"]\n  env: {BODY_BYTES: \"" + std::to_string(body_bytes) + "\"}\n" +
         cfg.SpecLines() + (socket_activation ? "  socketActivation: true\n" : "") +
         "  terminationGracePeriodSeconds: 1\n" +
         (keep_alive ? "  keepAlive: {freezeAfterSeconds: 0.2, stopAfterSeconds: 600}\n"
                       "  autoscale: {minReplicas: 0, maxReplicas: 1, target: 1}\n"
                     : "  idleTimeoutSeconds: 0.2\n"
                       "  autoscale: {minReplicas: 0, maxReplicas: 1, target: 1, "
                       "stableWindowSeconds: 0.5, panicWindowSeconds: 0.5}\n");
}

// The figures of one Function over the rounds.
struct Side {
  std::string name, label;
  WorkloadConfig cfg;
  bool socket_activation = false;
  std::vector<double> tide, diff;
  int not_cold = 0;
  std::string enforcer;
  std::vector<std::string> phases;  // per measured round: its phases, "queued 0.14 ..."
  std::string metrics;              // /metrics after this Function's last round
};

int Run(int rounds, bool zero_by_scale, const WorkloadConfig& cfg, int body_bytes, bool compare,
        int cgroup_pool, bool thaw, bool http_agent) {
  std::printf("coldstart_bench: %d rounds of %s bare vs through Tide from zero (%s)\n", rounds,
              TinyHttpBin().c_str(), zero_by_scale ? "PUT scale 0 between rounds" : "idle timeout");
  std::printf("  configuration: %s; response body %d bytes\n", cfg.Describe().c_str(), body_bytes);
  std::printf("  tided --cgroup-pool %s (processes kept ready in cgroups of their own)\n",
              cgroup_pool < 0 ? "default" : std::to_string(cgroup_pool).c_str());
  std::printf("  agent: %s\n", http_agent ? "a tide-agent process, over loopback HTTP"
                                          : "tided's in-process agent (no socket)");
  std::printf("  load average at start: %s\n", LoadAverage().c_str());
  TempDir dir;
  Tided::Options o;
  o.local_agent = !http_agent;
  const std::string pool_args =
      cgroup_pool >= 0 ? "--cgroup-pool " + std::to_string(cgroup_pool) : std::string();
  if (cgroup_pool >= 0 && !http_agent)
    o.extra_args = {"--cgroup-pool", std::to_string(cgroup_pool)};
  Tided tided(dir.path(), o);
  std::unique_ptr<tide::testing::AgentProc> agent;
  if (http_agent) {
    const int lo = FreePortRange(200);
    agent = std::make_unique<tide::testing::AgentProc>(dir.path(), tided, "bench-node", lo,
                                                       lo + 199, pool_args);
  }
  std::vector<Side> sides;
  sides.push_back(
      {"tiny", cfg.memory.empty() ? "no-frills" : "realistic", cfg, false, {}, {}, 0, "", {}, ""});
  if (compare && !cfg.memory.empty()) {
    sides.push_back(
        {"tiny-nolimit", "no-frills", WorkloadConfig{""}, false, {}, {}, 0, "", {}, ""});
  }
  // The same Function as the first, declaring socket activation (the agent listens on $PORT
  // and hands the socket over as fd 3; tiny_http takes it): no readiness polling.
  if (compare) sides.push_back({"tiny-socket", "socket-act", cfg, true, {}, {}, 0, "", {}, ""});
  for (const Side& side : sides) {
    auto applied = tided.Post(
        "/v1/apply", FunctionYaml(side.name, side.cfg, body_bytes, side.socket_activation));
    if (applied.status != 200) {
      std::fprintf(stderr, "apply: %d %s\n", applied.status, applied.body.c_str());
      return 2;
    }
  }
  if (thaw &&
      tided.Post("/v1/apply", FunctionYaml("tiny-frozen", cfg, body_bytes, false, true)).status !=
          200) {
    return 2;
  }
  int gw = PortOf(tided.gateway());
  auto back_to_zero = [&](const std::string& name) -> double {
    auto t0 = SteadyClock::now();
    if (zero_by_scale) tided.Put("/v1/workloads/" + name + "/scale", "{\"replicas\":0}");
    bool zero = WaitFor([&] { return tided.Instances(name).empty(); }, 30s);
    return zero ? MsSince(t0) : -1;
  };

  std::vector<double> bare, to_zero;
  std::string warmed;                  // /metrics after the warm-up round
  for (int r = -1; r < rounds; ++r) {  // round -1: warm-up, not counted
    double b = BareRound(body_bytes);
    if (b < 0) {
      std::fprintf(stderr, "round %d: the bare run failed\n", r);
      return 2;
    }
    if (r >= 0) bare.push_back(b);
    for (Side& side : sides) {
      bool cold = false;
      double t = TideRound(gw, side.name, &cold);
      if (side.enforcer.empty()) side.enforcer = EnforcerOf(tided.Instances(side.name));
      double z = back_to_zero(side.name);
      if (t < 0 || z < 0) {
        std::fprintf(stderr, "round %d (%s) failed: tide %.1f zero %.1f\n%s\n", r,
                     side.name.c_str(), t, z, tided.proc()->Log().substr(0, 4000).c_str());
        return 2;
      }
      // This round's phases: the histograms' sums moved by this one cold start.
      std::string now = Http("GET", tided.api() + "/metrics").body;
      if (r >= 0) {
        std::string ph;
        for (const char* p : kPhases) {
          char buf[48];
          std::snprintf(buf, sizeof buf, "%s%s %.2f", ph.empty() ? "" : " ", p,
                        Phase(now, side.metrics, side.name, p).mean_ms);
          ph += buf;
        }
        side.phases.push_back(ph);
      }
      side.metrics = std::move(now);
      if (r < 0) continue;
      side.not_cold += cold ? 0 : 1;
      side.tide.push_back(t);
      side.diff.push_back(t - b);
      if (&side == &sides[0]) to_zero.push_back(z);
    }
    if (r < 0) warmed = Http("GET", tided.api() + "/metrics").body;
  }
  std::string metrics = Http("GET", tided.api() + "/metrics").body;
  std::printf("  %-11s bare:       p50 %6.2f ms  p99 %6.2f ms  min %6.2f ms\n", "",
              Percentile(bare, 50), Percentile(bare, 99), Percentile(bare, 0));
  std::vector<bool> in_order;
  for (const Side& side : sides) {
    std::printf("  %-11s Function %s: %s%s (limit enforced by: %s)\n", side.label.c_str(),
                side.name.c_str(), side.cfg.Describe().c_str(),
                side.socket_activation ? ", socketActivation: true" : "",
                side.enforcer.empty() ? "-" : side.enforcer.c_str());
    std::printf("  %-11s tide:       p50 %6.2f ms  p99 %6.2f ms  min %6.2f ms\n",
                side.label.c_str(), Percentile(side.tide, 50), Percentile(side.tide, 99),
                Percentile(side.tide, 0));
    std::printf("  %-11s difference: p50 %6.2f ms  p99 %6.2f ms\n", side.label.c_str(),
                Percentile(side.diff, 50), Percentile(side.diff, 99));
    // The tail, round by round: whether a slow difference was a slow Tide round or a fast bare
    // one.
    std::vector<size_t> order(side.diff.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return side.diff[a] > side.diff[b]; });
    std::string worst;
    for (size_t k = 0; k < order.size() && k < 3; ++k) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "\n  %-11s   round %zu: %.2f (tide %.2f, bare %.2f; ", "",
                    order[k], side.diff[order[k]], side.tide[order[k]], bare[order[k]]);
      worst += buf + side.phases[order[k]] + ")";
    }
    std::printf("  %-11s slowest differences:%s\n", side.label.c_str(), worst.c_str());
    // The warm-up round's cold start observed each phase once too.
    bool warm_up_ok = true;
    for (const char* p : kPhases)
      warm_up_ok = warm_up_ok && Phase(warmed, "", side.name, p).count == 1;
    in_order.push_back(PrintPhases(metrics, warmed, side.name, rounds, side.label) && warm_up_ok);
  }
  std::printf("  back to zero after each round: p50 %.0f ms, p99 %.0f ms\n",
              Percentile(to_zero, 50), Percentile(to_zero, 99));
  std::printf("  load average at the end: %s\n", LoadAverage().c_str());

  Summary s("coldstart_bench (" + cfg.Describe() +
            (http_agent ? "; agent over HTTP" : "; in-process agent") + ")");
  const Side& main = sides[0];
  s.Info("bare p50", Percentile(bare, 50), "ms");
  s.Info("bare p99", Percentile(bare, 99), "ms");
  s.Info("bare spread, p99 - p50 (the host's noise in the program's own start)",
         Percentile(bare, 99) - Percentile(bare, 50), "ms");
  for (size_t i = 1; i < sides.size(); ++i) {
    const std::string what =
        sides[i].socket_activation ? "socket-activated (same limit)" : "no-frills (no limit)";
    s.Info(what + " overhead p50, for comparison", Percentile(sides[i].diff, 50), "ms");
    s.Info(what + " overhead p99 (tide p99 - bare p99), for comparison",
           Percentile(sides[i].tide, 99) - Percentile(bare, 99), "ms");
  }
  s.Info(main.label + ": tide p50", Percentile(main.tide, 50), "ms");
  s.Info(main.label + ": tide p99", Percentile(main.tide, 99), "ms");
  s.AtMost(main.label + ": rounds not answered as a cold start", main.not_cold, 0, "");
  s.AtLeast(main.label + ": phases one per cold start and in order (1 = yes)", in_order[0] ? 1 : 0,
            1, "");
  s.Info(main.label + ": p99 of the per-round differences (host noise counted twice)",
         Percentile(main.diff, 99), "ms");
  s.AtMost(main.label + ": overhead p50 (median of tide - bare per round)",
           Percentile(main.diff, 50), 2, "ms");
  s.AtMost(main.label + ": overhead p99 (tide p99 - bare p99)",
           Percentile(main.tide, 99) - Percentile(bare, 99), 5, "ms");
  if (thaw && !RunThawRounds(tided, gw, "tiny-frozen", rounds, &s)) return 2;
  return s.Print();
}

}  // namespace
}  // namespace tide::bench

int main(int argc, char** argv) {
  int rounds = 200, body_bytes = 2048, cgroup_pool = -1;
  bool zero_by_scale = false, compare = true, bad = false, thaw = true, http_agent = false;
  tide::bench::WorkloadConfig cfg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (tide::bench::ParseMemoryFlag(argc, argv, &i, &cfg, &bad)) {
      if (bad) rounds = -1;
    } else if (a == "--no-compare") {
      compare = false;
    } else if (a == "--agent" && i + 1 < argc) {
      std::string v = argv[++i];
      if (v != "local" && v != "http") rounds = -1;
      http_agent = v == "http";
    } else if (a == "--no-thaw") {
      thaw = false;
    } else if (a == "--body-bytes" && i + 1 < argc) {
      body_bytes = std::atoi(argv[++i]);
      if (body_bytes < 1 || body_bytes > 16384) rounds = -1;
    } else if (a == "--cgroup-pool" && i + 1 < argc) {
      cgroup_pool = std::atoi(argv[++i]);
      if (cgroup_pool < 0 || cgroup_pool > 64) rounds = -1;
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--zero" && i + 1 < argc) {
      std::string v = argv[++i];
      if (v != "idle" && v != "scale") rounds = -1;
      zero_by_scale = v == "scale";
    } else {
      rounds = -1;
    }
  }
  if (rounds < 1 || rounds > 1000) {
    std::fprintf(
        stderr,
        "usage: coldstart_bench [--rounds 1..1000] [--zero idle|scale] "
        "[--memory 64Mi|none] [--body-bytes 1..16384] [--no-compare] [--cgroup-pool 0..64] "
        "[--no-thaw] [--agent local|http]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    return tide::bench::Run(rounds, zero_by_scale, cfg, body_bytes, compare, cgroup_pool, thaw,
                            http_agent);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "coldstart_bench: %s\n", e.what());
    return 2;
  }
}
