// autoscale_bench (issue "autoscaling"): load-shape scenarios against a Service with
// `autoscale: {metric: concurrency, target: 5}` whose handler takes 50 ms (tide-testapp
// /sleep?ms=50), through the gateway. Closed-loop clients, so the load is the number of clients
// and the ideal replica count is ceil(clients / 5) (at least minReplicas 1). The Service is what
// a user writes: `resources: {memory: 64Mi}` (--memory Q|none) and the default readiness probe.
// Every shape rises and falls, and both are judged; F = 2 x stable window + 6 s of low load
// follows each fall:
//   step:  1 s idle at minReplicas, 40 clients for 15 s, then 0 for F (ideal 8, then 1);
//   ramp:  0 -> 40 clients linearly over 10 s, 40 for 10 s, 40 -> 0 over 10 s, then 0 for F;
//   spike: 5 clients (ideal 1) for 5 s, 40 for 6 s, then 5 again for F.
// From GET /v1/workloads (sampled every 20 ms) and GET /v1/events, per scenario:
//  rise (from the rise to the end of the high load):
//  - react: first scale-up after the ideal count first exceeded the count (judged for steps);
//  - converge: the longest stretch with the count more than 1 away from the ideal of the load
//    at that moment (a step's convergence time; for the ramp, how far it lags the rising load).
//    A stretch still open when the high load ends counts up to that end, and the window is
//    longer than the target, so a count that never gets there misses;
//  - reversals (the count going up then down, or down then up: flaps), overshoot, and scale
//    events in steady state (from 5 s after the load stopped rising to the end of the high load);
//  fall (from the end of the high load to the end of the scenario):
//  - settle: from the end of the fall until the last time the count came within 1 of the ideal
//    (0 if it never left); a count still away at the end misses. Target: 2 stable windows + 2 s
//    (docs/autoscaling.md: the stable average takes a window to fall and the highest
//    recommendation of that fall holds for one more);
//  - undershoot (the count more than 1 below the ideal: capacity cut under the load),
//    reversals, and scale events after the settle target;
//  and the failed requests of the whole scenario.
// Between scenarios it waits for the count to go back to 1.
// Usage: autoscale_bench [--stable-window 6] [--panic-window 2] [--scenario step|ramp|spike|all]
//                        [--memory 64Mi|none] [--verbose]   (--verbose: the scale events too)
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <functional>
#include <mutex>
#include <thread>

#include "api/json.h"
#include "bench/bench_util.h"
#include "tests/harness.h"

namespace tide::bench {
namespace {

using tide::testing::json;
using tide::testing::TempDir;
using tide::testing::TestappBin;
using tide::testing::Tided;
using tide::testing::WaitFor;
using namespace std::chrono_literals;

constexpr int kTarget = 5;
constexpr int kMaxClients = 40;

int Ideal(int clients) { return std::max(1, (clients + kTarget - 1) / kTarget); }

int Desired(const Tided& t) {
  auto st = tide::WorkloadStatusOf(t.Get("/v1/workloads/auto").Json());
  return st ? st->desired : -1;
}

// The scale events' "time: message" lines, oldest first as the API lists them.
std::vector<std::string> ScaleEventLines(const Tided& t) {
  std::vector<std::string> out;
  json ev = t.Get("/v1/events?workload=auto").Json();
  if (!ev.contains("items")) return out;
  for (const auto& e : ev["items"]) {
    std::string r = e.value("reason", "");
    if (r == "ScaledUp" || r == "ScaledDown") {
      out.push_back(e.value("time", "") + " " + e.value("message", ""));
    }
  }
  return out;
}

int ScaleEvents(const Tided& t) {
  int n = 0;
  json ev = t.Get("/v1/events?workload=auto").Json();
  if (!ev.contains("items")) return -1;
  for (const auto& e : ev["items"]) {
    std::string r = e.value("reason", "");
    n += (r == "ScaledUp" || r == "ScaledDown") ? 1 : 0;
  }
  return n;
}

// kMaxClients closed-loop client threads; client i sends requests back to back while
// i < active(), else idles. Bounded: each client sends at most 100000 requests.
class Load {
 public:
  explicit Load(const std::string& gateway) {
    for (int i = 0; i < kMaxClients; ++i) {
      threads_.emplace_back([this, gateway, i] {
        httplib::Client cli(gateway);
        cli.set_keep_alive(true);
        cli.set_read_timeout(30, 0);
        for (int n = 0; n < 100000 && !stop_;) {
          if (i >= active_) {
            std::this_thread::sleep_for(2ms);
            continue;
          }
          auto r = cli.Get("/service/auto/sleep?ms=50");
          (r && r->status == 200 ? ok_ : failed_)++;
          ++n;
        }
      });
    }
  }
  ~Load() { Stop(); }
  void SetActive(int n) { active_ = n; }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> active_{0}, ok_{0}, failed_{0};
  std::vector<std::thread> threads_;
};

struct Sample {
  double t_ms;  // since the load rose
  int desired, events;
};

struct Scenario {
  std::string name;
  double lead_ms;                      // baseline before the rise
  double rise_end_ms;                  // rise done (== 0 for a step), from the rise
  double high_end_ms;                  // the load starts falling, from the rise
  double fall_end_ms;                  // the load stopped falling (== high_end_ms for a step)
  double total_ms;                     // end of the scenario, from the rise
  std::function<int(double)> clients;  // clients at t ms from the rise (t may be < 0)
};

// What the samples of one window [from, to] (ms from the rise) show against the ideal count of
// the load at each sample's time.
struct Window {
  double longest_away_ms = 0;  // longest stretch with |desired - ideal| > 1
  double last_back_ms = -1;    // when the count last came back within 1 (-1: never away)
  bool away_at_end = false;    // still more than 1 away at `to`
  int reversals = 0;           // direction changes of the count
  int peak = 0;                // highest count
  int undershoot = 0;          // most the count was below ideal - 1
};

Window Analyze(const std::vector<Sample>& samples, const Scenario& sc, double from, double to) {
  Window w;
  double away_since = -1;
  int last_dir = 0, prev = -1;
  for (const auto& smp : samples) {
    if (smp.t_ms < from || smp.t_ms > to || smp.desired < 0) continue;
    const int ideal = Ideal(sc.clients(smp.t_ms));
    const bool away = std::abs(smp.desired - ideal) > 1;
    if (away && away_since < 0) away_since = smp.t_ms;
    if (!away && away_since >= 0) {
      w.longest_away_ms = std::max(w.longest_away_ms, smp.t_ms - away_since);
      w.last_back_ms = smp.t_ms;
      away_since = -1;
    }
    w.peak = std::max(w.peak, smp.desired);
    w.undershoot = std::max(w.undershoot, ideal - 1 - smp.desired);
    if (prev >= 0 && smp.desired != prev) {
      int dir = smp.desired > prev ? 1 : -1;
      if (last_dir != 0 && dir != last_dir) ++w.reversals;
      last_dir = dir;
    }
    prev = smp.desired;
  }
  if (away_since >= 0) {
    w.longest_away_ms = std::max(w.longest_away_ms, to - away_since);
    w.away_at_end = true;
  }
  return w;
}

// Scale events in [from, to]: changes of desired in the samples, or recorded events (polled
// every 200 ms), whichever is more; -1 for an empty window.
int EventsIn(const std::vector<Sample>& samples, double from, double to) {
  if (from >= to) return -1;
  int changes = 0, prev = -1, first_events = -1, last_events = -1;
  for (const auto& smp : samples) {
    if (smp.t_ms < from || smp.t_ms > to) continue;
    if (prev >= 0 && smp.desired != prev) ++changes;
    prev = smp.desired;
    if (first_events < 0) first_events = smp.events;
    last_events = smp.events;
  }
  return std::max(changes, last_events - first_events);
}

struct Result {
  double react_ms = -1, down_react_ms = -1;
  Window rise, fall;
  double settle_ms = -1;  // fall: from the end of the fall until back within 1 for good
  int overshoot = 0, ok = 0, failed = 0, steady_events = -1, fall_steady_events = -1;
};

Result RunScenario(const Tided& tided, const Scenario& sc, double settle_target_ms, bool verbose) {
  const size_t events_before = ScaleEventLines(tided).size();
  std::vector<Sample> samples;
  std::mutex mu;
  std::atomic<bool> done{false};
  auto rise = SteadyClock::now() + std::chrono::milliseconds(static_cast<int64_t>(sc.lead_ms));
  std::thread monitor([&] {
    int events = ScaleEvents(tided);
    auto last_events = SteadyClock::now();
    while (!done) {
      if (MsSince(last_events) >= 200) {
        events = ScaleEvents(tided);
        last_events = SteadyClock::now();
      }
      int d = Desired(tided);
      {
        std::lock_guard<std::mutex> lk(mu);
        samples.push_back({MsBetween(rise, SteadyClock::now()), d, events});
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  Result r;
  {
    Load load(tided.gateway());
    while (true) {
      double t = MsBetween(rise, SteadyClock::now());  // ms from the rise
      if (t >= sc.total_ms) break;
      load.SetActive(sc.clients(t));
      std::this_thread::sleep_for(10ms);
    }
    load.Stop();
    r.ok = load.ok();
    r.failed = load.failed();
  }
  done = true;
  monitor.join();
  if (verbose) {
    auto lines = ScaleEventLines(tided);
    for (size_t i = events_before; i < lines.size(); ++i) {
      std::printf("    event %s\n", lines[i].c_str());
    }
  }

  int before = 1;
  for (const auto& smp : samples) {
    if (smp.t_ms < 0 && smp.desired > 0) before = smp.desired;
  }
  // The moment the ideal first exceeded the count before the rise (0 for a step).
  double due_ms = 0;
  while (due_ms < sc.rise_end_ms && Ideal(sc.clients(due_ms)) <= before) due_ms += 10;
  int at_high_end = -1;
  for (const auto& smp : samples) {
    if (smp.t_ms < 0 || smp.t_ms > sc.high_end_ms) continue;
    if (r.react_ms < 0 && smp.desired > before) r.react_ms = smp.t_ms - due_ms;
    at_high_end = smp.desired;
  }
  for (const auto& smp : samples) {
    if (smp.t_ms > sc.high_end_ms && r.down_react_ms < 0 && smp.desired >= 0 &&
        smp.desired < at_high_end) {
      r.down_react_ms = smp.t_ms - sc.high_end_ms;
    }
  }
  r.rise = Analyze(samples, sc, 0, sc.high_end_ms);
  r.fall = Analyze(samples, sc, sc.high_end_ms, sc.total_ms);
  r.overshoot = std::max(0, r.rise.peak - Ideal(kMaxClients));
  r.settle_ms = r.fall.away_at_end ? -1 : std::max(0.0, r.fall.last_back_ms - sc.fall_end_ms);
  // Steady state: from 5 s after the load stopped rising to the end of the high load, and after
  // the settle target to the end of the scenario.
  r.steady_events = EventsIn(samples, sc.rise_end_ms + 5000, sc.high_end_ms);
  r.fall_steady_events = EventsIn(samples, sc.fall_end_ms + settle_target_ms, sc.total_ms);
  std::string path;
  int last = -2;
  for (const auto& smp : samples) {
    if (smp.desired == last) continue;
    last = smp.desired;
    char buf[48];
    std::snprintf(buf, sizeof buf, " %+.0fms:%d", smp.t_ms, smp.desired);
    path += buf;
  }
  std::printf("  %-6s desired over time (ms from the rise):%s\n", sc.name.c_str(), path.c_str());
  std::printf(
      "  %-6s rise: react %6.0f ms  converge (longest away from ideal+-1) %6.0f ms%s  peak %2d "
      "(ideal %d, overshoot %d)  reversals %d  steady-state scale events %d\n",
      sc.name.c_str(), r.react_ms, r.rise.longest_away_ms,
      r.rise.away_at_end ? " (still away at the end)" : "", r.rise.peak, Ideal(kMaxClients),
      r.overshoot, r.rise.reversals, r.steady_events);
  std::printf(
      "  %-6s fall: first scale-down %6.0f ms after it began  settled %s after the load stopped "
      "falling (longest away %.0f ms)  undershoot %d  reversals %d  later scale events %d\n",
      sc.name.c_str(), r.down_react_ms,
      r.settle_ms < 0 ? "NEVER" : (std::to_string(static_cast<int>(r.settle_ms)) + " ms").c_str(),
      r.fall.longest_away_ms, r.fall.undershoot, r.fall.reversals, r.fall_steady_events);
  std::printf("  %-6s requests: ok %d  failed %d\n", sc.name.c_str(), r.ok, r.failed);
  std::fflush(stdout);
  return r;
}

int Run(double stable_s, double panic_s, const std::string& which, const WorkloadConfig& cfg,
        bool verbose) {
  std::printf(
      "autoscale_bench: Service autoscale {concurrency, target %d, stableWindowSeconds "
      "%g, panicWindowSeconds %g}, handler 50 ms, up to %d closed-loop clients\n",
      kTarget, stable_s, panic_s, kMaxClients);
  std::printf("  configuration: %s\n", cfg.Describe().c_str());
  std::printf("  load average at start: %s\n", LoadAverage().c_str());
  TempDir dir;
  Tided::Options o;
  o.local_agent = true;
  Tided tided(dir.path(), o);
  char autoscale[256];
  std::snprintf(autoscale, sizeof autoscale,
                "  autoscale: {minReplicas: 1, maxReplicas: 20, metric: concurrency, target: %d, "
                "stableWindowSeconds: %g, panicWindowSeconds: %g}\n",
                kTarget, stable_s, panic_s);
  std::string yaml =
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: auto}\nspec:\n"
      "  command: [\"" +
      TestappBin() + "\", \"--port\", \"${PORT}\"]\n" + autoscale +
      "  terminationGracePeriodSeconds: 2\n" + cfg.SpecLines();
  if (tided.Post("/v1/apply", yaml).status != 200 ||
      !WaitFor([&] { return tided.ReadyCount("auto") == 1; }, 20s)) {
    std::fprintf(stderr, "the Service did not become Ready\n");
    return 2;
  }
  std::printf("  limit enforced by: %s\n", EnforcerOf(tided.Instances("auto")).c_str());
  // Targets. Each window a verdict is computed over is longer than its target, so a count that
  // does not get there in time shows as a figure above the target, not as a pass.
  const double converge_target = 3000;
  const double settle_target = 2 * stable_s * 1000 + 2000;
  const double low = settle_target + 4000;  // low load after each fall
  const double hold = 15000;
  std::vector<Scenario> all = {
      {"step", 1000, 0, hold, hold, hold + low,
       [](double t) { return t >= 0 && t < 15000 ? kMaxClients : 0; }},
      {"ramp", 1000, 10000, 20000, 30000, 30000 + low,
       [](double t) {
         if (t < 0 || t >= 30000) return 0;
         if (t < 10000) return std::min(kMaxClients, static_cast<int>(kMaxClients * t / 10000) + 1);
         if (t < 20000) return kMaxClients;
         return static_cast<int>(kMaxClients * (30000 - t) / 10000);
       }},
      {"spike", 5000, 0, 6000, 6000, 6000 + low,
       [](double t) { return t >= 0 && t < 6000 ? kMaxClients : kTarget; }},
  };
  Summary s("autoscale_bench (" + cfg.Describe() + ")");
  int ran = 0;
  for (const auto& sc : all) {
    if (which != "all" && which != sc.name) continue;
    if (!WaitFor([&] { return Desired(tided) == 1 && tided.ReadyCount("auto") == 1; },
                 std::chrono::milliseconds(static_cast<int64_t>(stable_s * 3000 + 30000)))) {
      std::fprintf(stderr, "did not go back to 1 replica before %s\n", sc.name.c_str());
      return 2;
    }
    Result r = RunScenario(tided, sc, settle_target, verbose);
    ++ran;
    const bool step = sc.rise_end_ms == 0;
    const std::string n = sc.name;
    if (step) {
      s.AtMost(n + " rise: react after the step", r.react_ms < 0 ? 1e9 : r.react_ms, 1000, "ms");
    } else {
      s.Info(n + " rise: react after the ideal rose", r.react_ms, "ms");
    }
    s.AtMost(n + " rise: longest away from ideal+-1", r.rise.longest_away_ms, converge_target,
             "ms");
    s.Info(n + " rise: overshoot (peak - ideal)", r.overshoot, "");
    s.AtMost(n + " rise: reversals (flaps)", r.rise.reversals, 0, "");
    if (r.steady_events >= 0) {
      s.AtMost(n + " rise: scale events in steady state", r.steady_events, 0, "");
    }
    s.AtMost(n + " fall: settled within ideal+-1 after", r.settle_ms < 0 ? 1e9 : r.settle_ms,
             settle_target, "ms");
    s.AtMost(n + " fall: undershoot (below ideal-1)", r.fall.undershoot, 0, "");
    s.AtMost(n + " fall: reversals (flaps)", r.fall.reversals, 0, "");
    if (r.fall_steady_events >= 0) {
      s.AtMost(n + " fall: scale events after settling", r.fall_steady_events, 0, "");
    }
    s.AtMost(n + ": failed requests", r.failed, 0, "");
  }
  if (ran == 0) return 2;
  std::printf("  load average at the end: %s\n", LoadAverage().c_str());
  return s.Print();
}

}  // namespace
}  // namespace tide::bench

int main(int argc, char** argv) {
  double stable = 6, panic = 2;
  std::string which = "all";
  bool bad = false, verbose = false;
  tide::bench::WorkloadConfig cfg;
  for (int i = 1; i < argc && !bad; ++i) {
    std::string a = argv[i];
    if (tide::bench::ParseMemoryFlag(argc, argv, &i, &cfg, &bad)) {
      continue;
    } else if (a == "--verbose") {
      verbose = true;
    } else if (i + 1 >= argc) {
      bad = true;
    } else if (a == "--stable-window") {
      stable = std::atof(argv[++i]);
    } else if (a == "--panic-window") {
      panic = std::atof(argv[++i]);
    } else if (a == "--scenario") {
      which = argv[++i];
    } else {
      bad = true;
    }
  }
  if (bad || stable <= 0 || stable > 600 || panic <= 0 || panic > stable ||
      (which != "all" && which != "step" && which != "ramp" && which != "spike")) {
    std::fprintf(stderr,
                 "usage: autoscale_bench [--stable-window S] [--panic-window S] "
                 "[--scenario step|ramp|spike|all] [--memory 64Mi|none] [--verbose]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    return tide::bench::Run(stable, panic, which, cfg, verbose);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "autoscale_bench: %s\n", e.what());
    return 2;
  }
}
