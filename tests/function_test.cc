// Functions and the request gateway (issue: scale-to-zero Functions), end to end: a real tided
// with its in-process agent, real tide-testapp instances, real HTTP through the gateway.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

std::string FunctionYaml(const std::string& name, const std::string& spec_extra,
                         const std::string& app_args = "") {
  return "apiVersion: tide/v1\nkind: Function\nmetadata: {name: " + name +
         "}\nspec:\n  command: [\"" + TestappBin() + "\", \"--port\", \"${PORT}\"" + app_args +
         "]\n  terminationGracePeriodSeconds: 2\n" + spec_extra;
}

// The gateway's own errors are one JSON line: a body whose only newline is its last byte.
void ExpectOneJsonLine(const std::string& body) {
  ASSERT_FALSE(body.empty());
  EXPECT_EQ(body.find('\n'), body.size() - 1) << "not a single line ending in a newline: " << body;
}

class FunctionTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra = {}) {
    Tided::Options o;
    o.local_agent = true;
    o.extra_args = std::move(extra);
    tided_ = std::make_unique<Tided>(dir_.path(), o);
  }
  void TearDown() override {
    if (HasFailure() && tided_) {
      std::cerr << tided_->proc()->Log().substr(0, 30000) << "\n";
      PrintInstanceLogTails(dir_.path());
    }
  }
  void Apply(const std::string& yaml) {
    auto r = tided_->Post("/v1/apply", yaml);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  HttpResult Call(const std::string& path, const std::string& method = "GET",
                  const std::string& body = "") {
    return Http(method, tided_->gateway() + path, body, "", "application/octet-stream", 60);
  }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
};

TEST_F(FunctionTest, ColdStartThenScaleToZero) {
  Start();
  Apply(FunctionYaml("hello", R"(  concurrency: 1
  idleTimeoutSeconds: 1
  autoscale: {minReplicas: 0, maxReplicas: 3, target: 1, stableWindowSeconds: 1, panicWindowSeconds: 1}
)"));
  EXPECT_EQ(tided_->Instances("hello").size(), 0u);
  auto r = Call("/function/hello/");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["X-Tide-Cold-Start"], "true");
  EXPECT_EQ(r.body.rfind("hello from hello-", 0), 0u) << r.body;
  EXPECT_EQ(tided_->Instances("hello").size(), 1u);
  // Warm now: no cold-start header.
  auto warm = Call("/function/hello/");
  ASSERT_EQ(warm.status, 200);
  EXPECT_EQ(warm.headers.count("X-Tide-Cold-Start"), 0u);
  // Idle: back to zero, and no process left.
  ASSERT_TRUE(WaitFor([&] { return tided_->Instances("hello").empty(); }, 15s))
      << tided_->Instances("hello").dump(2);
  EXPECT_TRUE(WaitFor([&] { return PidsOfWorkload("hello").empty(); }, 5s));
  json wl = tided_->Get("/v1/workloads/hello").Json();
  EXPECT_EQ(wl["status"]["desiredReplicas"], 0);
  EXPECT_EQ(wl["status"]["phase"], "Idle");
  // And from zero again.
  auto again = Call("/function/hello/");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.headers["X-Tide-Cold-Start"], "true");
  std::string metrics = Http("GET", tided_->api() + "/metrics").body;
  EXPECT_NE(metrics.find("tide_cold_starts_total{workload=\"hello\"} 2"), std::string::npos)
      << metrics.substr(0, 3000);
}

// idleTimeoutSeconds means what it says with the default 60 s stable window too: the instance
// stops about a second after the request, not a minute (issue 13).
TEST_F(FunctionTest, ShortIdleTimeoutStopsTheInstanceBeforeTheStableWindow) {
  Start();
  Apply(FunctionYaml("brief", "  idleTimeoutSeconds: 1\n"));
  auto r = Call("/function/brief/");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return tided_->Instances("brief").empty(); }, 20s))
      << tided_->Instances("brief").dump(2);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 900ms);
  EXPECT_LT(waited, 15s);  // the stable window (60 s) did not hold it
  json events = tided_->Get("/v1/events?workload=brief").Json();
  EXPECT_NE(events.dump().find("no request for 1s (idleTimeoutSeconds)"), std::string::npos)
      << events.dump(2);
}

TEST_F(FunctionTest, BurstAtZeroStartsInstancesInParallelWithinMax) {
  Start();
  Apply(FunctionYaml("burst", R"(  concurrency: 1
  idleTimeoutSeconds: 30
  autoscale: {minReplicas: 0, maxReplicas: 10, target: 1}
)"));
  std::atomic<int> ok{0}, failed{0};
  std::atomic<bool> done{false};
  std::atomic<size_t> peak{0};
  std::thread watcher([&] {
    while (!done) {
      size_t n = tided_->Instances("burst").size();
      if (n > peak) peak = n;
      std::this_thread::sleep_for(20ms);
    }
  });
  std::vector<std::thread> clients;
  for (int i = 0; i < 50; ++i) {
    clients.emplace_back([&] {
      auto r = Call("/function/burst/sleep?ms=100");
      (r.status == 200 ? ok : failed)++;
    });
  }
  for (auto& t : clients) t.join();
  done = true;
  watcher.join();
  EXPECT_EQ(ok, 50);
  EXPECT_EQ(failed, 0);
  EXPECT_LE(peak.load(), 10u);
  EXPECT_GE(peak.load(), 5u) << "a burst should start several instances at once";
}

TEST_F(FunctionTest, ScaleDownWhileRequestsInFlightLosesNone) {
  Start();
  Apply("apiVersion: tide/v1\nkind: Service\nmetadata: {name: steady}\nspec:\n  command: [\"" +
        TestappBin() + "\", \"--port\", \"${PORT}\"]\n  replicas: 4\n  timeoutSeconds: 10\n");
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("steady") == 4; }, 20s));
  std::atomic<int> ok{0}, failed{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] {
      // Bounded: at most 200 requests per client and until stop.
      for (int n = 0; n < 200 && !stop; ++n) {
        auto r = Call("/service/steady/sleep?ms=30");
        (r.status == 200 ? ok : failed)++;
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return ok > 40; }, 10s));
  ASSERT_EQ(tided_->Put("/v1/workloads/steady/scale", R"({"replicas":1})").status, 200);
  EXPECT_TRUE(WaitFor([&] { return tided_->Instances("steady").size() == 1; }, 20s));
  int at_scale = ok;
  EXPECT_TRUE(WaitFor([&] { return ok > at_scale + 40; }, 10s));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_GT(ok, 80);
}

TEST_F(FunctionTest, GatewayErrors) {
  Start({"--gateway-max-queue", "2"});
  // 404: unknown workload, with a one-line JSON body.
  auto nf = Call("/function/nope/");
  EXPECT_EQ(nf.status, 404);
  ExpectOneJsonLine(nf.body);
  EXPECT_TRUE(nf.Json().contains("error")) << nf.body;
  // 504: an instance that never becomes ready within timeoutSeconds.
  Apply(FunctionYaml("slow", R"(  timeoutSeconds: 1
  concurrency: 1
  autoscale: {minReplicas: 0, maxReplicas: 1, target: 1}
)",
                     ", \"--startup-delay-ms\", \"60000\""));
  auto to = Call("/function/slow/");
  EXPECT_EQ(to.status, 504) << to.body;
  ExpectOneJsonLine(to.body);
  EXPECT_TRUE(to.Json().contains("error")) << to.body;
  // 503 with Retry-After: more waiting requests than the queue holds.
  std::vector<std::thread> clients;
  std::atomic<int> busy{0};
  std::string retry_after;
  std::string busy_body;
  std::mutex mu;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&] {
      auto r = Call("/function/slow/");
      if (r.status == 503) {
        busy++;
        std::lock_guard<std::mutex> lk(mu);
        retry_after = r.headers["Retry-After"];
        busy_body = r.body;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_GE(busy, 1);
  EXPECT_FALSE(retry_after.empty());
  ExpectOneJsonLine(busy_body);
}

TEST_F(FunctionTest, FiftyMegabyteBodyPassesIntact) {
  Start();
  Apply(FunctionYaml("echo", R"(  autoscale: {minReplicas: 0, maxReplicas: 1, target: 10}
)"));
  std::string body(50 << 20, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>((i * 2654435761u) >> 13);
  auto r = Call("/function/echo/echo?x=1", "POST", body);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), body.size());
  EXPECT_TRUE(r.body == body);
  EXPECT_EQ(r.headers["X-Echo-Path"], "/echo");
  EXPECT_EQ(r.headers["X-Echo-Query"], "x=1");
  EXPECT_FALSE(r.headers["X-Echo-Request-Id"].empty());
  EXPECT_NE(r.headers["X-Echo-Forwarded-For"].find("127.0.0.1"), std::string::npos);
}

TEST_F(FunctionTest, AsyncInvocationsAreDeliveredOrDeadLettered) {
  Start();
  Apply(FunctionYaml("worker", R"(  autoscale: {minReplicas: 0, maxReplicas: 2, target: 5}
)"));
  auto r = Call("/async-function/worker/echo?job=7", "POST", "payload-1");
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id = r.Json()["id"];
  ASSERT_FALSE(id.empty());
  json inv;
  ASSERT_TRUE(WaitFor(
      [&] {
        inv = tided_->Get("/v1/invocations/" + id).Json();
        return inv.value("state", "") == "Succeeded";
      },
      20s))
      << inv.dump(2);
  EXPECT_EQ(inv["attempts"], 1);
  EXPECT_EQ(inv["result"]["status"], 200);
  EXPECT_EQ(inv["result"]["body"], "payload-1");
  EXPECT_EQ(inv["result"]["headers"]["X-Echo-Query"], "job=7");

  // Every attempt answers 500: retried, then listed as a dead letter.
  auto bad = Call("/async-function/worker/status?code=500", "POST", "x");
  ASSERT_EQ(bad.status, 202);
  std::string bad_id = bad.Json()["id"];
  ASSERT_TRUE(WaitFor(
      [&] {
        inv = tided_->Get("/v1/invocations/" + bad_id).Json();
        return inv.value("state", "") == "DeadLetter";
      },
      20s))
      << inv.dump(2);
  EXPECT_EQ(inv["attempts"], 3);
  json dead = tided_->Get("/v1/workloads/worker/dead-letters").Json();
  ASSERT_EQ(dead["items"].size(), 1u);
  EXPECT_EQ(dead["items"][0]["id"], bad_id);
  EXPECT_EQ(Call("/async-function/nope/", "POST", "x").status, 404);
  EXPECT_EQ(tided_->Get("/v1/invocations/ffff").status, 404);
}

}  // namespace
}  // namespace tide::testing
