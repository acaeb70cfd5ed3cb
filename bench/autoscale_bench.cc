// autoscale_bench (issue "autoscaling"): load-shape scenarios against a Service with
// `autoscale: {metric: concurrency, target: 5}` whose handler takes 50 ms (tide-testapp
// /sleep?ms=50), through the gateway. Closed-loop clients, so the load is the number of clients
// and the ideal replica count is ceil(clients / 5).
//   step:  1 s idle at minReplicas, then 40 clients for 15 s (ideal 8);
//   ramp:  0 -> 40 clients linearly over 10 s, then 40 for 10 s;
//   spike: 5 clients (ideal 1) for 5 s, 40 for 3 s, then 5 again for 10 s.
// Per scenario it prints, from GET /v1/workloads (sampled every 20 ms) and GET /v1/events:
//  - react: first scale-up after the ideal count first exceeded the count (for a step: after
//    the step; the target applies to steps);
//  - converge: from the end of the rise until desired stays within +-1 of the ideal to the end
//    of the high load;
//  - overshoot: highest desired - ideal; failed requests;
//  - reversals (flaps): the count going up then down, or down then up, while the load rose or
//    held;
//  - scale events in steady state: from 5 s after the load stopped changing to its end.
// Between scenarios it waits for the count to go back to 1.
// Usage: autoscale_bench [--stable-window 6] [--panic-window 2] [--scenario step|ramp|spike|all]
//                        [--verbose]   (also prints the autoscaler's scale events)
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
  double high_end_ms;                  // end of the high load, from the rise
  double total_ms;                     // end of the scenario, from the rise
  std::function<int(double)> clients;  // clients at t ms from the rise (t may be < 0)
};

struct Result {
  double react_ms = -1, converge_ms = -1;
  int overshoot = 0, ok = 0, failed = 0, steady_events = -1, peak = 0, reversals = 0;
};

Result RunScenario(const Tided& tided, const Scenario& sc, bool verbose) {
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
  const int ideal = Ideal(kMaxClients);
  // The moment the ideal first exceeded the count before the rise (0 for a step).
  double due_ms = 0;
  while (due_ms < sc.rise_end_ms && Ideal(sc.clients(due_ms)) <= before) due_ms += 10;
  int converge_index = -1, last_dir = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& smp = samples[i];
    if (smp.t_ms < 0 || smp.t_ms > sc.high_end_ms) continue;
    if (r.react_ms < 0 && smp.desired > before) r.react_ms = smp.t_ms - due_ms;
    r.peak = std::max(r.peak, smp.desired);
    bool within = std::abs(smp.desired - ideal) <= 1;
    if (!within) converge_index = -1;
    if (within && converge_index < 0 && smp.t_ms >= sc.rise_end_ms) {
      converge_index = static_cast<int>(i);
    }
    // Reversals: the count went up then down (or down then up) while the load rose or held.
    if (i > 0 && samples[i - 1].t_ms >= 0 && smp.desired != samples[i - 1].desired) {
      int dir = smp.desired > samples[i - 1].desired ? 1 : -1;
      if (last_dir != 0 && dir != last_dir) ++r.reversals;
      last_dir = dir;
    }
  }
  if (converge_index >= 0) r.converge_ms = samples[converge_index].t_ms - sc.rise_end_ms;
  // Steady state: from 5 s after the load stopped changing to the end of the high load.
  // Scale events there: changes of desired in the samples, or recorded events (polled every
  // 200 ms), whichever is more.
  const double steady_from = sc.rise_end_ms + 5000;
  if (steady_from < sc.high_end_ms) {
    int changes = 0, prev = -1, first_events = -1, last_events = -1;
    for (const auto& smp : samples) {
      if (smp.t_ms < steady_from || smp.t_ms > sc.high_end_ms) continue;
      if (prev >= 0 && smp.desired != prev) ++changes;
      prev = smp.desired;
      if (first_events < 0) first_events = smp.events;
      last_events = smp.events;
    }
    r.steady_events = std::max(changes, last_events - first_events);
  }
  r.overshoot = std::max(0, r.peak - ideal);
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
      "  %-6s react %6.0f ms  converge %6.0f ms  peak %2d (ideal %d, overshoot %d)  "
      "ok %d  failed %d  steady-state scale events %d\n",
      sc.name.c_str(), r.react_ms, r.converge_ms, r.peak, ideal, r.overshoot, r.ok, r.failed,
      r.steady_events);
  std::fflush(stdout);
  return r;
}

int Run(double stable_s, double panic_s, const std::string& which, bool verbose) {
  std::printf(
      "autoscale_bench: Service autoscale {concurrency, target %d, stableWindowSeconds "
      "%g, panicWindowSeconds %g}, handler 50 ms, up to %d closed-loop clients\n",
      kTarget, stable_s, panic_s, kMaxClients);
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
      "  terminationGracePeriodSeconds: 2\n";
  if (tided.Post("/v1/apply", yaml).status != 200 ||
      !WaitFor([&] { return tided.ReadyCount("auto") == 1; }, 20s)) {
    std::fprintf(stderr, "the Service did not become Ready\n");
    return 2;
  }
  const double hold = 15000;
  std::vector<Scenario> all = {
      {"step", 1000, 0, hold, hold, [](double t) { return t < 0 ? 0 : kMaxClients; }},
      {"ramp", 1000, 10000, 20000, 20000,
       [](double t) {
         if (t < 0) return 0;
         return std::min(kMaxClients, static_cast<int>(kMaxClients * t / 10000) + 1);
       }},
      {"spike", 5000, 0, 3000, 13000,
       [](double t) { return t >= 0 && t < 3000 ? kMaxClients : kTarget; }},
  };
  Summary s("autoscale_bench");
  int ran = 0;
  for (const auto& sc : all) {
    if (which != "all" && which != sc.name) continue;
    if (!WaitFor([&] { return Desired(tided) == 1 && tided.ReadyCount("auto") == 1; },
                 std::chrono::milliseconds(static_cast<int64_t>(stable_s * 3000 + 30000)))) {
      std::fprintf(stderr, "did not go back to 1 replica before %s\n", sc.name.c_str());
      return 2;
    }
    Result r = RunScenario(tided, sc, verbose);
    ++ran;
    const bool step = sc.rise_end_ms == 0;
    if (step) {
      s.AtMost(sc.name + ": react after the step", r.react_ms < 0 ? 1e9 : r.react_ms, 1000, "ms");
    } else {
      s.Info(sc.name + ": react after the ideal rose", r.react_ms, "ms");
    }
    s.AtMost(sc.name + ": converge to ideal +-1", r.converge_ms < 0 ? 1e9 : r.converge_ms, 3000,
             "ms");
    s.Info(sc.name + ": overshoot (peak - ideal)", r.overshoot, "");
    s.AtMost(sc.name + ": failed requests", r.failed, 0, "");
    s.AtMost(sc.name + ": reversals under rising/held load (flaps)", r.reversals, 0, "");
    if (r.steady_events >= 0) {
      s.AtMost(sc.name + ": scale events in steady state", r.steady_events, 0, "");
    }
  }
  if (ran == 0) return 2;
  return s.Print();
}

}  // namespace
}  // namespace tide::bench

int main(int argc, char** argv) {
  double stable = 6, panic = 2;
  std::string which = "all";
  bool bad = false, verbose = false;
  for (int i = 1; i < argc && !bad; ++i) {
    std::string a = argv[i];
    if (a == "--verbose") {
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
                 "[--scenario step|ramp|spike|all] [--verbose]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    return tide::bench::Run(stable, panic, which, verbose);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "autoscale_bench: %s\n", e.what());
    return 2;
  }
}
