// Adaptive keep-alive end to end (idleTimeoutSeconds: auto, daemon/control/keepalive_policy.h):
// a real tided with its in-process agent, a Function called every 3 s through the gateway. Once
// the idle-gap histogram has enough samples, the last instance stops after each call and a new
// one is started before the next: the call is served warm by the pre-warmed instance.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

struct CallSeen {
  int status = 0;
  bool cold = false;
  std::string served_by;     // the instance's answer, "hello from <instance>"
  bool zero_before = false;  // desiredReplicas 0 was seen since the previous call
};

TEST(KeepAliveTest, PeriodicCallsArePrewarmedAndScaledToZeroBetween) {
  TempDir dir;
  Tided::Options opts;
  opts.local_agent = true;
  // Default 60 s: a 3 s period is worth unloading for only with a shorter minimum.
  opts.extra_args = {"--keepalive-min-unload", "1s"};
  Tided tided(dir.path(), opts);
  tided.Start();
  const std::string yaml =
      "apiVersion: tide/v1\nkind: Function\nmetadata: {name: tick}\nspec:\n"
      "  command: [\"" +
      TestappBin() +
      "\", \"--port\", \"${PORT}\"]\n"
      "  terminationGracePeriodSeconds: 1\n"
      "  idleTimeoutSeconds: auto\n";
  auto applied = tided.Post("/v1/apply", yaml);
  ASSERT_EQ(applied.status, 200) << applied.body;

  // 5 gaps fill the histogram (KeepAliveOptions::min_samples); then 8 calls under the plan.
  constexpr int kCalls = 14;
  constexpr auto kPeriod = 3s;
  std::vector<CallSeen> calls;
  auto next = std::chrono::steady_clock::now();
  bool zero = false;
  for (int i = 0; i < kCalls; ++i) {
    // Until the call is due, watch the desired count (the wait is the call's schedule).
    WaitFor(
        [&] {
          json wl = tided.Get("/v1/workloads/tick").Json();
          if (wl.is_object() && wl.contains("status") &&
              wl["status"].value("desiredReplicas", -1) == 0) {
            zero = true;
          }
          return std::chrono::steady_clock::now() >= next;
        },
        kPeriod + 2s);
    auto r =
        Http("GET", tided.gateway() + "/function/tick/", "", "", "application/octet-stream", 30);
    CallSeen c;
    c.status = r.status;
    c.cold = r.headers.count("X-Tide-Cold-Start") > 0;
    c.served_by = r.body;
    c.zero_before = zero && i > 0;
    calls.push_back(c);
    zero = false;
    next += kPeriod;
  }

  int cold = 0, prewarmed = 0;
  std::string log;
  for (int i = 0; i < kCalls; ++i) {
    const CallSeen& c = calls[static_cast<size_t>(i)];
    EXPECT_EQ(c.status, 200) << "call " << i;
    cold += c.cold ? 1 : 0;
    // Pre-warmed: the Function went to zero after the previous call, and this call still found a
    // (new) instance ready.
    if (i > 0 && c.zero_before && !c.cold && c.served_by != calls[i - 1].served_by) ++prewarmed;
    log += "call " + std::to_string(i) + (c.cold ? " cold" : " warm") +
           (c.zero_before ? " after zero" : "") + ": " + c.served_by;
  }
  EXPECT_TRUE(calls[0].cold);
  // The fixed fallback (10 min) keeps the instance while the histogram fills: those are warm.
  for (int i = 1; i <= 5; ++i) EXPECT_FALSE(calls[static_cast<size_t>(i)].zero_before) << log;
  // Under the plan, most calls are pre-warmed (a slow machine may miss one or two).
  EXPECT_GE(prewarmed, 5) << log;
  EXPECT_LE(cold, 3) << log;

  json events = tided.Get("/v1/events?workload=tick").Json();
  const std::string ev = events.dump();
  EXPECT_NE(ev.find("pre-warm"), std::string::npos) << events.dump(2);
  EXPECT_NE(ev.find("unload now, pre-warm in"), std::string::npos) << events.dump(2);
  std::string metrics = Http("GET", tided.api() + "/metrics").body;
  EXPECT_NE(metrics.find("tide_cold_starts_total{workload=\"tick\"} " + std::to_string(cold)),
            std::string::npos)
      << metrics.substr(0, 3000);
  if (HasFailure()) std::cerr << tided.proc()->Log().substr(0, 30000) << "\n";
}

}  // namespace
}  // namespace tide::testing
