// keepalive_bench: adaptive keep-alive (`idleTimeoutSeconds: auto`) against fixed keep-alive
// timeouts of 1, 10 and 60 minutes, on synthetic per-Function arrival traces (issue 13).
//
// Each Function's trace is drawn (seeded) from one of five shapes that echo the published
// distributions of the Azure Functions 2019 trace (Shahrad et al., ATC'20): timer-driven
// (periodic, a little jitter), frequent and moderate Poisson arrivals, bursts (a few calls
// seconds apart, bursts minutes to hours apart) and rare calls (hours to days apart);
// invocation rates span several orders of magnitude, and execution times are log-normal (median
// well under a second, a long tail). The mix is set so that, as in the trace, a large minority
// of Functions is called at most once an hour and most at most once a minute; the bench prints
// both shares next to the published ones.
//
// Every policy is replayed through the SAME pure code the control plane runs
// (daemon/control/keepalive_policy.h, a KeepAliveTracker per Function, busy/idle edges as
// ControlPlane::OnLoad sees them): a fixed timeout T is that policy with a histogram that never
// decides (fallback T), the adaptive one is its defaults, as tided runs them. Simulation time,
// no processes. A Function serves any number of concurrent calls on one instance (Tide's
// default concurrency: unlimited), so its instance is busy over the union of its calls. A call
// is a cold start when it finds the Function idle and the plan not keeping an instance loaded;
// memory-time is the instance-seconds loaded (busy or kept). A cold start's own latency is not
// modelled (the plan pre-warms `slack_ms` early).
//
// PASS: the adaptive policy has fewer cold starts than the fixed 10-minute timeout, at no more
// memory-time.
//
//   keepalive_bench [--functions N] [--days D] [--seed S]
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "daemon/control/keepalive_policy.h"

namespace tide::bench {
namespace {

constexpr int64_t kSec = 1000;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kHour = 60 * kMin;

enum Shape { kTimer, kFrequent, kModerate, kBursty, kRare, kShapes };
constexpr const char* kShapeName[kShapes] = {"timer", "frequent", "moderate", "bursty", "rare"};
// The share of Functions of each shape.
constexpr double kShapeWeight[kShapes] = {0.17, 0.19, 0.16, 0.18, 0.30};

struct Call {
  int64_t start_ms, exec_ms;
};
struct Trace {
  Shape shape;
  std::vector<Call> calls;
};

using Rng = std::mt19937_64;

double LogUniform(Rng& rng, double lo, double hi) {
  return std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi))(rng));
}

int64_t Exp(Rng& rng, double mean_ms) {
  return static_cast<int64_t>(std::exponential_distribution<double>(1.0 / mean_ms)(rng));
}

Trace MakeTrace(Shape shape, Rng& rng, int64_t horizon_ms) {
  Trace t;
  t.shape = shape;
  // Each Function has its own typical execution time (log-normal across Functions, median
  // 600 ms), and its calls vary around it.
  const double fn_median = std::lognormal_distribution<double>(std::log(600.0), 1.3)(rng);
  std::lognormal_distribution<double> exec(std::log(fn_median), 0.5);
  auto add = [&](int64_t at) {
    if (at < 0 || at >= horizon_ms) return;
    const double e = std::clamp(exec(rng), 5.0, 600'000.0);
    t.calls.push_back({at, static_cast<int64_t>(e)});
  };
  switch (shape) {
    case kTimer: {
      constexpr int64_t kPeriods[] = {1, 2, 5, 10, 15, 20, 30, 60, 120, 240, 360, 720, 1440};
      constexpr double kWeights[] = {8, 3, 12, 8, 8, 3, 8, 12, 5, 4, 3, 3, 5};
      std::discrete_distribution<int> pick(std::begin(kWeights), std::end(kWeights));
      const int64_t period = kPeriods[pick(rng)] * kMin;
      std::uniform_int_distribution<int64_t> jitter(-2 * kSec, 2 * kSec);
      const int64_t phase = std::uniform_int_distribution<int64_t>(0, period - 1)(rng);
      for (int64_t at = phase; at < horizon_ms; at += period) add(at + jitter(rng));
      break;
    }
    case kFrequent:
    case kModerate:
    case kRare: {
      const double mean = shape == kFrequent   ? LogUniform(rng, 5.0 * kSec, 60.0 * kSec)
                          : shape == kModerate ? LogUniform(rng, 1.0 * kMin, 60.0 * kMin)
                                               : LogUniform(rng, 1.0 * kHour, 72.0 * kHour);
      for (int64_t at = Exp(rng, mean); at < horizon_ms; at += Exp(rng, mean)) add(at);
      break;
    }
    case kBursty: {
      const double between = LogUniform(rng, 20.0 * kMin, 8.0 * kHour);
      const double within = LogUniform(rng, 1.0 * kSec, 30.0 * kSec);
      std::geometric_distribution<int> extra(1.0 / 6);  // calls after the first: mean 5
      for (int64_t at = Exp(rng, between); at < horizon_ms; at += Exp(rng, between)) {
        int64_t c = at;
        for (int n = extra(rng); n >= 0; --n) {
          add(c);
          c += Exp(rng, within);
        }
      }
      break;
    }
    case kShapes:
      break;
  }
  std::sort(t.calls.begin(), t.calls.end(),
            [](const Call& a, const Call& b) { return a.start_ms < b.start_ms; });
  return t;
}

struct Result {
  int64_t calls = 0, cold = 0;
  double instance_ms = 0;
  void Add(const Result& o) {
    calls += o.calls;
    cold += o.cold;
    instance_ms += o.instance_ms;
  }
  double ColdPct() const { return calls ? 100.0 * static_cast<double>(cold) / calls : 0; }
  double Hours() const { return instance_ms / kHour; }
};

// One Function's trace through one policy, with the busy/idle edges the control plane sees.
Result Replay(const Trace& t, const KeepAliveOptions& o, int64_t horizon_ms) {
  Result r;
  KeepAliveTracker k;
  int64_t busy_from = -1, busy_until = -1;
  for (const Call& c : t.calls) {
    ++r.calls;
    if (busy_from >= 0 && c.start_ms < busy_until) {  // joins the running busy period
      busy_until = std::max(busy_until, c.start_ms + c.exec_ms);
      continue;
    }
    if (busy_from < 0) {
      ++r.cold;  // the first call ever
    } else {
      r.instance_ms += static_cast<double>(busy_until - busy_from);
      k.Idle(busy_until, o);
      const KeepAlivePlan& p = *k.plan();
      if (!WantLoaded(p, c.start_ms)) ++r.cold;
      r.instance_ms += static_cast<double>(LoadedMs(p, busy_until, c.start_ms));
    }
    k.Busy(c.start_ms, o);
    busy_from = c.start_ms;
    busy_until = c.start_ms + c.exec_ms;
  }
  if (busy_from >= 0) {
    r.instance_ms += static_cast<double>(std::min(busy_until, horizon_ms) - busy_from);
    k.Idle(busy_until, o);
    r.instance_ms += static_cast<double>(LoadedMs(*k.plan(), busy_until, horizon_ms));
  }
  return r;
}

struct Policy {
  std::string name;
  KeepAliveOptions options;
  Result total;
  Result by_shape[kShapes];
};

KeepAliveOptions Fixed(int64_t timeout_ms) {
  KeepAliveOptions o;
  o.min_samples = INT_MAX;  // the histogram never decides: always the fixed fallback
  o.fallback_ms = timeout_ms;
  return o;
}

int Usage() {
  std::fprintf(stderr, "usage: keepalive_bench [--functions N] [--days D] [--seed S]\n");
  return 2;
}

}  // namespace
}  // namespace tide::bench

int main(int argc, char** argv) {
  using namespace tide;
  using namespace tide::bench;
  int functions = 500;
  double days = 2;
  uint64_t seed = 13;
  for (int i = 1; i < argc; ++i) {
    auto next = [&](const char* flag) -> const char* {
      if (std::strcmp(argv[i], flag) != 0 || i + 1 >= argc) return nullptr;
      return argv[++i];
    };
    if (const char* v = next("--functions")) {
      functions = std::atoi(v);
    } else if (const char* v = next("--days")) {
      days = std::atof(v);
    } else if (const char* v = next("--seed")) {
      seed = std::strtoull(v, nullptr, 10);
    } else {
      return Usage();
    }
  }
  if (functions < 1 || functions > 100'000 || !(days > 0) || days > 60) return Usage();
  const auto horizon = static_cast<int64_t>(days * 24 * kHour);

  std::printf("keepalive_bench: %d Functions over %.3g simulated days, seed %llu, load %s\n",
              functions, days, static_cast<unsigned long long>(seed), LoadAverage().c_str());
  Rng rng(seed);
  std::discrete_distribution<int> pick_shape(std::begin(kShapeWeight), std::end(kShapeWeight));
  std::vector<Trace> traces;
  traces.reserve(static_cast<size_t>(functions));
  for (int i = 0; i < functions; ++i) {
    traces.push_back(MakeTrace(static_cast<Shape>(pick_shape(rng)), rng, horizon));
  }

  // The traces' shape, next to the published figures it imitates.
  int64_t total_calls = 0;
  int per_shape[kShapes] = {}, hourly_or_less = 0, minutely_or_less = 0;
  std::vector<double> execs;
  for (const auto& t : traces) {
    ++per_shape[t.shape];
    total_calls += static_cast<int64_t>(t.calls.size());
    const double per_hour = static_cast<double>(t.calls.size()) / (days * 24);
    hourly_or_less += per_hour <= 1 ? 1 : 0;
    minutely_or_less += per_hour <= 60 ? 1 : 0;
    for (size_t j = 0; j < t.calls.size(); j += 97) execs.push_back(t.calls[j].exec_ms / 1000.0);
  }
  std::printf("traces: %lld calls;", static_cast<long long>(total_calls));
  for (int s = 0; s < kShapes; ++s) std::printf(" %s %d", kShapeName[s], per_shape[s]);
  std::printf("\n  Functions called at most once an hour on average: %.0f%% (Azure 2019: ~45%%)\n",
              100.0 * hourly_or_less / functions);
  std::printf("  Functions called at most once a minute on average: %.0f%% (Azure 2019: ~81%%)\n",
              100.0 * minutely_or_less / functions);
  std::printf("  execution time of a sample of calls: p50 %.2f s, p90 %.1f s, p99 %.0f s\n",
              Percentile(execs, 50), Percentile(execs, 90), Percentile(execs, 99));

  std::vector<Policy> policies = {{"fixed 1 min", Fixed(1 * kMin), {}, {}},
                                  {"fixed 10 min", Fixed(10 * kMin), {}, {}},
                                  {"fixed 60 min", Fixed(60 * kMin), {}, {}},
                                  {"adaptive (auto)", KeepAliveOptions{}, {}, {}}};
  const auto t0 = SteadyClock::now();
  for (auto& p : policies) {
    for (const auto& t : traces) {
      Result r = Replay(t, p.options, horizon);
      p.total.Add(r);
      p.by_shape[t.shape].Add(r);
    }
  }
  const double replay_ms = MsSince(t0);

  const Policy& ref = policies[1];
  const Policy& adaptive = policies[3];
  std::printf("\n%-16s %12s %10s %16s %18s\n", "policy", "cold starts", "rate", "instance-hours",
              "vs fixed 10 min");
  for (const auto& p : policies) {
    std::printf("%-16s %12lld %9.2f%% %16.1f  cold %+6.1f%% mem %+6.1f%%\n", p.name.c_str(),
                static_cast<long long>(p.total.cold), p.total.ColdPct(), p.total.Hours(),
                100.0 * (static_cast<double>(p.total.cold) / ref.total.cold - 1),
                100.0 * (p.total.instance_ms / ref.total.instance_ms - 1));
  }
  std::printf("\nby shape: cold-start rate / instance-hours\n%-10s", "shape");
  for (const auto& p : policies) std::printf(" %22s", p.name.c_str());
  std::printf("\n");
  for (int s = 0; s < kShapes; ++s) {
    std::printf("%-10s", kShapeName[s]);
    for (const auto& p : policies) {
      std::printf(" %12.2f%% / %6.1f", p.by_shape[s].ColdPct(), p.by_shape[s].Hours());
    }
    std::printf("\n");
  }
  std::printf("(replay of %zu policies: %.0f ms)\n", policies.size(), replay_ms);

  Summary sum("keepalive_bench (" + std::to_string(functions) + " Functions, " +
              std::to_string(static_cast<int>(days * 24)) + " h, seed " + std::to_string(seed) +
              ")");
  for (const auto& p : policies) {
    sum.Info("cold-start rate, " + p.name, p.total.ColdPct(), "%");
    sum.Info("memory-time, " + p.name, p.total.Hours(), "inst-h");
  }
  sum.AtLeast("cold starts avoided by adaptive vs fixed 10 min",
              static_cast<double>(ref.total.cold - adaptive.total.cold), 1, "calls");
  sum.AtMost("memory-time of adaptive, % of fixed 10 min",
             100.0 * adaptive.total.instance_ms / ref.total.instance_ms, 100, "%");
  return sum.Print();
}
