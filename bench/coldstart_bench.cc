// coldstart_bench (issue "Functions"): the same tiny HTTP function (bench/tiny_http) started
//  - bare: posix_spawn it, then send the first request (connect retried every 100 us until it
//    accepts) and wait for the answer;
//  - through Tide from zero: the first request through the gateway (/function/NAME/) to its
//    answer, with the Function at zero instances before each round;
// interleaved, R rounds of each (default 50) after one unmeasured warm-up round of each.
// Prints p50/p99 of both and of the per-round difference (the orchestration overhead), and the
// mean cold-start phases tided reports (tide_cold_start_phase_seconds).
//
// Setup: tided with its in-process agent. Back to zero between rounds: --zero idle (default;
// idleTimeoutSeconds 0.2 and 0.5 s autoscale windows let the autoscaler stop the instance) or
// --zero scale (PUT /v1/workloads/NAME/scale {"replicas":0} right after the answer).
// Usage: coldstart_bench [--rounds R] [--zero idle|scale]
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <regex>
#include <thread>

#include "bench/bench_util.h"
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
double BareRound() {
  int port = FreePortRange(1);
  auto t0 = SteadyClock::now();
  pid_t pid = SpawnPlain({TinyHttpBin()}, {{"PORT", std::to_string(port)}});
  int status = RawHttpGet(port, "/", true, 10000);
  double ms = MsSince(t0);
  KillAndReap(pid);
  return status == 200 ? ms : -1;
}

// One Tide round: ms from the first request through the gateway to its answer; -1 on failure.
// *cold tells whether the gateway said it was a cold start.
double TideRound(int gw_port, bool* cold) {
  std::map<std::string, std::string> headers;
  auto t0 = SteadyClock::now();
  int status = RawHttpGet(gw_port, "/function/tiny/", false, 30000, &headers);
  double ms = MsSince(t0);
  *cold = headers["X-Tide-Cold-Start"] == "true";
  return status == 200 ? ms : -1;
}

// Mean of tide_cold_start_phase_seconds{phase=P} in ms, from tided's /metrics.
double PhaseMeanMs(const std::string& metrics, const std::string& phase) {
  auto value = [&](const std::string& suffix) {
    std::regex re("tide_cold_start_phase_seconds_" + suffix + "\\{[^}]*phase=\"" + phase +
                  "\"[^}]*\\} ([0-9.eE+-]+)");
    std::smatch m;
    return std::regex_search(metrics, m, re) ? std::stod(m[1].str()) : 0.0;
  };
  double count = value("count");
  return count > 0 ? value("sum") / count * 1000 : -1;
}

int Run(int rounds, bool zero_by_scale) {
  std::printf("coldstart_bench: %d rounds of %s bare vs through Tide from zero (%s)\n", rounds,
              TinyHttpBin().c_str(), zero_by_scale ? "PUT scale 0 between rounds" : "idle timeout");
  TempDir dir;
  Tided::Options o;
  o.local_agent = true;
  Tided tided(dir.path(), o);
  std::string yaml =
      "apiVersion: tide/v1\nkind: Function\nmetadata: {name: tiny}\nspec:\n"
      "  command: [\"" +
      TinyHttpBin() +
      "\"]\n  terminationGracePeriodSeconds: 1\n  idleTimeoutSeconds: 0.2\n"
      "  autoscale: {minReplicas: 0, maxReplicas: 1, target: 1, "
      "stableWindowSeconds: 0.5, panicWindowSeconds: 0.5}\n";
  auto applied = tided.Post("/v1/apply", yaml);
  if (applied.status != 200) {
    std::fprintf(stderr, "apply: %d %s\n", applied.status, applied.body.c_str());
    return 2;
  }
  int gw = PortOf(tided.gateway());
  auto back_to_zero = [&]() -> double {
    auto t0 = SteadyClock::now();
    if (zero_by_scale) tided.Put("/v1/workloads/tiny/scale", "{\"replicas\":0}");
    bool zero = WaitFor([&] { return tided.Instances("tiny").empty(); }, 30s);
    return zero ? MsSince(t0) : -1;
  };

  std::vector<double> bare, tide, diff, to_zero;
  int not_cold = 0;
  for (int r = -1; r < rounds; ++r) {  // round -1: warm-up, not counted
    double b = BareRound();
    bool cold = false;
    double t = TideRound(gw, &cold);
    double z = back_to_zero();
    if (b < 0 || t < 0 || z < 0) {
      std::fprintf(stderr, "round %d failed: bare %.1f tide %.1f zero %.1f\n%s\n", r, b, t, z,
                   tided.proc()->Log().substr(0, 4000).c_str());
      return 2;
    }
    if (r < 0) continue;
    not_cold += cold ? 0 : 1;
    bare.push_back(b);
    tide.push_back(t);
    diff.push_back(t - b);
    to_zero.push_back(z);
  }
  std::string metrics = Http("GET", tided.api() + "/metrics").body;
  std::printf("  bare:       p50 %6.2f ms  p99 %6.2f ms  min %6.2f ms\n", Percentile(bare, 50),
              Percentile(bare, 99), Percentile(bare, 0));
  std::printf("  tide:       p50 %6.2f ms  p99 %6.2f ms  min %6.2f ms\n", Percentile(tide, 50),
              Percentile(tide, 99), Percentile(tide, 0));
  std::printf("  difference: p50 %6.2f ms  p99 %6.2f ms\n", Percentile(diff, 50),
              Percentile(diff, 99));
  std::printf(
      "  tided's cold-start phases (mean ms from arrival): queued %.2f, spawned %.2f, "
      "ready %.2f, first_byte %.2f\n",
      PhaseMeanMs(metrics, "queued"), PhaseMeanMs(metrics, "spawned"),
      PhaseMeanMs(metrics, "ready"), PhaseMeanMs(metrics, "first_byte"));
  std::printf("  back to zero after each round: p50 %.0f ms, p99 %.0f ms\n",
              Percentile(to_zero, 50), Percentile(to_zero, 99));

  Summary s("coldstart_bench");
  s.Info("bare p50", Percentile(bare, 50), "ms");
  s.Info("bare p99", Percentile(bare, 99), "ms");
  s.Info("tide p50", Percentile(tide, 50), "ms");
  s.Info("tide p99", Percentile(tide, 99), "ms");
  s.AtMost("rounds not answered as a cold start", not_cold, 0, "");
  s.AtMost("overhead (tide - bare) p50", Percentile(diff, 50), 5, "ms");
  s.AtMost("overhead (tide - bare) p99", Percentile(diff, 99), 20, "ms");
  return s.Print();
}

}  // namespace
}  // namespace tide::bench

int main(int argc, char** argv) {
  int rounds = 50;
  bool zero_by_scale = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) {
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
    std::fprintf(stderr, "usage: coldstart_bench [--rounds 1..1000] [--zero idle|scale]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    return tide::bench::Run(rounds, zero_by_scale);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "coldstart_bench: %s\n", e.what());
    return 2;
  }
}
