// Cold-start phase metric end to end: a real tided with its in-process agent cold-starts a
// Function with a memory limit (as users write it) several times; every cold start must observe
// each phase of tide_cold_start_phase_seconds once, and their means must be in order
// (queued <= spawned <= ready <= first_byte). Before 2026-12-02 some cold starts had no
// `spawned` (the agent's first report already said Ready, or said Pending).
#include <gtest/gtest.h>

#include <regex>

#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

// tide_cold_start_phase_seconds_{sum,count}{phase, workload="fn"} from the exposition; -1 absent.
double PhaseValue(const std::string& metrics, const std::string& suffix, const std::string& phase) {
  std::smatch m;
  std::regex re("tide_cold_start_phase_seconds_" + suffix + "\\{phase=\"" + phase +
                "\",workload=\"fn\"\\} ([0-9.eE+-]+)");
  return std::regex_search(metrics, m, re) ? std::stod(m[1].str()) : -1;
}

// The Function `fn` as users write it: a memory limit, the default readiness probe.
std::string FunctionManifest() {
  return "apiVersion: tide/v1\nkind: Function\nmetadata: {name: fn}\nspec:\n"
         "  command: [\"" +
         TestappBin() +
         "\", \"--port\", \"${PORT}\"]\n"
         "  resources: {memory: 64Mi}\n  terminationGracePeriodSeconds: 1\n"
         "  idleTimeoutSeconds: 0.2\n"
         "  autoscale: {minReplicas: 0, maxReplicas: 1, target: 1, "
         "stableWindowSeconds: 0.5, panicWindowSeconds: 0.5}\n";
}

TEST(ColdStartPhasesTest, EveryColdStartWithAMemoryLimitHasEachPhaseInOrder) {
  TempDir dir;
  Tided::Options o;
  o.local_agent = true;
  Tided tided(dir.path(), o);
  auto applied = tided.Post("/v1/apply", FunctionManifest());
  ASSERT_EQ(applied.status, 200) << applied.body;
  // The first call right after the apply was once answered 404 "no function named fn" (seen
  // 1 run in 5; not this test's subject, left for its own issue): wait until the gateway knows
  // the Function. A 404 is answered before any queueing, so it starts no cold start; the 200
  // that ends the wait is one more.
  ASSERT_TRUE(
      WaitFor([&] { return Http("GET", tided.gateway() + "/function/fn/").status == 200; }, 30s));
  constexpr int kColdStarts = 12;
  for (int i = 0; i < kColdStarts; ++i) {
    ASSERT_TRUE(WaitFor([&] { return tided.Instances("fn").empty(); }, 30s)) << "round " << i;
    auto r = Http("GET", tided.gateway() + "/function/fn/");
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.headers["X-Tide-Cold-Start"], "true") << "round " << i;
  }
  std::string metrics = Http("GET", tided.api() + "/metrics").body;
  double prev_mean = -1;
  for (const char* phase : {"queued", "spawned", "ready", "first_byte"}) {
    double count = PhaseValue(metrics, "count", phase), sum = PhaseValue(metrics, "sum", phase);
    EXPECT_EQ(count, kColdStarts + 1) << phase << "\n" << metrics.substr(0, 4000);
    ASSERT_GE(sum, 0) << phase;
    double mean = sum / std::max(1.0, count);
    EXPECT_LE(prev_mean, mean) << phase << " is earlier than the phase before it";
    prev_mean = mean;
  }
}

// A cold start asked for as tided starts is launched as soon as the in-process agent has
// registered: its assignments loop is woken by the registration (agent/agent.h,
// kRegisterWaitMs), not left asleep until its next look. When it slept, the first cold start
// of coldstart_bench waited 43 ms for the agent's first poll, with looks 50 ms apart; the look
// is now a second apart, so a wake-up that went missing shows here as hundreds of ms.
TEST(ColdStartPhasesTest, TheFirstColdStartAfterAStartIsNotHeldForTheAgentsFirstPoll) {
  TempDir dir;
  Tided::Options o;
  o.local_agent = true;
  Tided tided(dir.path(), o);  // up: /healthz answers (the agent may not have registered yet)
  auto applied = tided.Post("/v1/apply", FunctionManifest());
  ASSERT_EQ(applied.status, 200) << applied.body;
  // As in the test above, a first call may be answered 404 before the gateway knows `fn`; that
  // starts no cold start.
  ASSERT_TRUE(
      WaitFor([&] { return Http("GET", tided.gateway() + "/function/fn/").status == 200; }, 30s));
  std::string metrics = Http("GET", tided.api() + "/metrics").body;
  ASSERT_EQ(PhaseValue(metrics, "count", "spawned"), 1) << metrics.substr(0, 4000);
  EXPECT_LT(PhaseValue(metrics, "sum", "spawned"), 0.5)
      << "the first cold start was launched this many seconds after its request arrived";
}

}  // namespace
}  // namespace tide::testing
