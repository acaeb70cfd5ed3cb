// Autoscaling end to end (issue: metric-driven autoscaling): a real tided with its local agent,
// a Service whose handler takes 50 ms, concurrent clients through the gateway.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>

#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

// Bounded closed-loop load: `clients` threads each sending requests back to back until stop()
// or max_per_client requests, counting answers.
class Load {
 public:
  Load(const std::string& gateway, const std::string& path, int clients, int max_per_client)
      : path_(path) {
    for (int i = 0; i < clients; ++i) {
      threads_.emplace_back([this, gateway, max_per_client] {
        httplib::Client cli(gateway);
        cli.set_keep_alive(true);
        cli.set_read_timeout(30, 0);
        for (int n = 0; n < max_per_client && !stop_; ++n) {
          auto r = cli.Get(path_);
          (r && r->status == 200 ? ok_ : failed_)++;
        }
      });
    }
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }

 private:
  std::string path_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0};
  std::vector<std::thread> threads_;
};

int Desired(const Tided& t, const std::string& name) {
  json j = t.Get("/v1/workloads/" + name).Json();
  return j.contains("status") ? j["status"]["desiredReplicas"].get<int>() : -1;
}

int ScaleEvents(const Tided& t, const std::string& name) {
  int n = 0;
  json ev = t.Get("/v1/events?workload=" + name).Json();
  for (const auto& e : ev["items"]) {
    std::string r = e["reason"];
    n += (r == "ScaledUp" || r == "ScaledDown") ? 1 : 0;
  }
  return n;
}

TEST(AutoscaleTest, StepUpSteadyThenBackToMin) {
  TempDir dir;
  Tided::Options o;
  o.local_agent = true;
  Tided tided(dir.path(), o);
  std::string yaml =
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: busy}\nspec:\n"
      "  command: [\"" +
      TestappBin() +
      "\", \"--port\", \"${PORT}\"]\n"
      "  autoscale: {minReplicas: 1, maxReplicas: 20, metric: concurrency, "
      "target: 5, stableWindowSeconds: 6, panicWindowSeconds: 2}\n";
  ASSERT_EQ(tided.Post("/v1/apply", yaml).status, 200);
  ASSERT_TRUE(WaitFor([&] { return tided.ReadyCount("busy") == 1; }, 20s));

  // Step from 1 to 40 concurrent clients: 40 / 5 = 8 replicas, reached within 3 s.
  auto step = std::chrono::steady_clock::now();
  {
    Load load(tided.gateway(), "/service/busy/sleep?ms=50", 40, 100000);
    ASSERT_TRUE(WaitFor(
        [&] {
          int d = Desired(tided, "busy");
          return d >= 7 && d <= 9 && tided.ReadyCount("busy") >= 7;
        },
        3s))
        << "desired " << Desired(tided, "busy") << " ready " << tided.ReadyCount("busy");
    auto reached = std::chrono::steady_clock::now() - step;
    std::cerr << "reached 8+-1 ready replicas in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(reached).count() << " ms\n";
    // Let it settle, then steady load must cause no scale event.
    std::this_thread::sleep_for(3s);  // load duration, not synchronisation
    int before = ScaleEvents(tided, "busy");
    int desired_before = Desired(tided, "busy");
    std::this_thread::sleep_for(10s);  // steady load window
    EXPECT_EQ(ScaleEvents(tided, "busy"), before) << "flapping under steady load";
    EXPECT_EQ(Desired(tided, "busy"), desired_before);
    EXPECT_GE(desired_before, 7);
    EXPECT_LE(desired_before, 9);
    load.Stop();
    EXPECT_EQ(load.failed(), 0);
    EXPECT_GT(load.ok(), 1000);
  }
  // Load stopped: back to minReplicas after the stable window (6 s; up to two windows).
  EXPECT_TRUE(WaitFor([&] { return Desired(tided, "busy") == 1; }, 20s));
  EXPECT_TRUE(WaitFor([&] { return tided.Instances("busy").size() == 1; }, 20s));
  std::string metrics = Http("GET", tided.api() + "/metrics").body;
  EXPECT_NE(metrics.find("tide_autoscaler_scale_events_total{direction=\"up\",workload=\"busy\"}"),
            std::string::npos);
}

}  // namespace
}  // namespace tide::testing
