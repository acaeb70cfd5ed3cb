// The frozen tier (spec.keepAlive, issue 13 item 3) end to end: a real tided with its in-process
// agent and real tide-testapp instances. An idle instance is frozen (the kernel says so, its CPU
// stops, it is not probed), a request thaws it (X-Tide-Warm-Start: thawed, same process), and
// after stopAfterSeconds it is gone. Hostile: a tided (and so agent) restart does not leave it
// frozen, and a frozen instance killed meanwhile turns the next request into a cold start, not a
// 502.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// utime + stime of pid in clock ticks.
long CpuTicks(int pid) {
  const std::string stat = ReadText("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string f;
  long total = 0;
  for (int i = 3; i <= 15 && rest >> f; ++i)
    if (i == 14 || i == 15) total += std::stol(f);
  return total;
}

class FrozenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Tided::Options o;
    o.local_agent = true;
    tided_ = std::make_unique<Tided>(dir_.path(), o);
  }
  void TearDown() override {
    if (HasFailure() && tided_) {
      std::cerr << tided_->proc()->Log().substr(0, 30000) << "\n";
      PrintInstanceLogTails(dir_.path());
    }
    // A process frozen by the v1 freezer cannot die until thawed: thaw what is left first.
    for (int pid : PidsOfWorkload("fz")) ThawForTeardown(pid);
    KillProcessesLoggingUnder(dir_.path());
  }
  void Apply(double stop_after) {
    const std::string yaml =
        "apiVersion: tide/v1\nkind: Function\nmetadata: {name: fz}\nspec:\n  command: [\"" +
        TestappBin() +
        "\", \"--port\", \"${PORT}\", \"--burn-percent\", \"20\"]\n"
        "  terminationGracePeriodSeconds: 2\n"
        "  keepAlive: {freezeAfterSeconds: 1, stopAfterSeconds: " +
        std::to_string(stop_after) +
        "}\n"
        // Probed often and failing at once: a probe of a frozen instance (which cannot answer)
        // would take it out of Ready within a fraction of a second.
        "  readiness: {httpGet: /healthz, periodSeconds: 0.2, timeoutSeconds: 0.1, "
        "failureThreshold: 1}\n";
    auto r = tided_->Post("/v1/apply", yaml);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  HttpResult Call(const std::string& path) {
    return Http("GET", tided_->gateway() + "/function/fz" + path, "", "", "text/plain", 60);
  }
  // The one instance of the Function, or an empty object.
  json Instance() {
    json list = tided_->Instances("fz");
    return list.is_array() && list.size() == 1 ? list[0] : json::object();
  }
  int Pid() { return Instance().value("pid", 0); }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
};

TEST_F(FrozenTest, IdleInstanceFreezesThawsOnRequestAndStopsAfterStopAfter) {
  Apply(8);
  auto first = Call("/probes");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.headers["X-Tide-Cold-Start"], "true");
  const long probes_before = std::stol(first.body);
  const int pid = Pid();
  ASSERT_GT(pid, 0);
  EXPECT_EQ(FreezeState(pid), "running");

  // Idle for freezeAfterSeconds: frozen, as the kernel sees it, and as the API reports it.
  ASSERT_TRUE(WaitFor([&] { return FreezeState(pid) != "running"; }, 10s)) << FreezeState(pid);
  ASSERT_TRUE(WaitFor([&] { return Instance().value("frozen", false); }, 5s)) << Instance().dump(2);
  // No CPU while frozen (it burns 20% of a core when running). A rate needs a window.
  const long ticks = CpuTicks(pid);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(CpuTicks(pid), ticks);
  // Not probed: with failureThreshold 1 and a 0.1 s timeout any probe would have failed.
  json inst = Instance();
  EXPECT_EQ(inst["state"], "Ready") << inst.dump(2);
  EXPECT_EQ(inst["reason"], "") << inst.dump(2);

  // The next request thaws it: same process, answered with the header.
  auto thawed = Call("/probes");
  ASSERT_EQ(thawed.status, 200) << thawed.body;
  EXPECT_EQ(thawed.headers["X-Tide-Warm-Start"], "thawed");
  EXPECT_EQ(thawed.headers.count("X-Tide-Cold-Start"), 0u);
  EXPECT_EQ(Pid(), pid);
  EXPECT_EQ(FreezeState(pid), "running");
  // Probes only ran while it was warm (about 1 s at 5 a second, plus a few around the thaw);
  // probing while frozen would have added one every 0.3 s, answered on the thaw.
  EXPECT_LE(std::stol(thawed.body) - probes_before, 12) << thawed.body;
  auto warm = Call("/");
  EXPECT_EQ(warm.status, 200);
  EXPECT_EQ(warm.headers.count("X-Tide-Warm-Start"), 0u);  // it was warm
  const std::string metrics = Http("GET", tided_->api() + "/metrics").body;
  EXPECT_NE(metrics.find("tide_thaws_total{workload=\"fz\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("tide_thaw_duration_seconds_count{workload=\"fz\"} 1"), std::string::npos);

  // Frozen again, then stopped stopAfterSeconds after the last request.
  ASSERT_TRUE(WaitFor([&] { return FreezeState(pid) != "running"; }, 10s));
  ASSERT_TRUE(WaitFor([&] { return tided_->Instances("fz").empty(); }, 20s))
      << tided_->Instances("fz").dump(2);
  EXPECT_TRUE(WaitFor([&] { return !PidAlive(pid); }, 10s));
}

TEST_F(FrozenTest, RestartOfTidedAndItsAgentThawsWhatWasFrozen) {
  Apply(300);
  ASSERT_EQ(Call("/").status, 200);
  const int pid = Pid();
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WaitFor([&] { return FreezeState(pid) != "running"; }, 10s));
  tided_->Kill9();  // the agent goes with it; the instance stays, frozen
  EXPECT_NE(FreezeState(pid), "running");
  tided_->Start();
  // Re-adopted and thawed at the agent's start, not left frozen with nobody to thaw it.
  ASSERT_TRUE(WaitFor([&] { return FreezeState(pid) == "running"; }, 20s)) << FreezeState(pid);
  ASSERT_TRUE(WaitFor([&] { return Instance().value("state", "") == "Ready"; }, 20s));
  EXPECT_EQ(Pid(), pid);
  auto r = Call("/");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(FrozenTest, FrozenInstanceKilledBecomesAColdStartNotA502) {
  Apply(300);
  ASSERT_EQ(Call("/").status, 200);
  const int pid = Pid();
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WaitFor([&] { return FreezeState(pid) != "running"; }, 10s));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);  // a v1-frozen process dies only once thawed
  auto r = Call("/");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.count("X-Tide-Warm-Start"), 0u);
  EXPECT_TRUE(WaitFor([&] { return !PidAlive(pid); }, 10s));
  EXPECT_TRUE(WaitFor([&] { return Pid() > 0 && Pid() != pid; }, 10s));
}

}  // namespace
}  // namespace tide::testing
