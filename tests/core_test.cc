// Core integration tests (issue: Tide core): tided --no-local-agent plus two real tide-agents on
// loopback running real tide-testapp instances.
#include <gtest/gtest.h>
#include <signal.h>

#include <set>

#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

std::string ServiceYaml(const std::string& name, int replicas, const std::string& extra = "") {
  return "apiVersion: tide/v1\nkind: Service\nmetadata:\n  name: " + name +
         "\n  labels: {team: core}\nspec:\n  command: [\"" + TestappBin() +
         "\", \"--port\", \"${PORT}\"]\n  replicas: " + std::to_string(replicas) +
         "\n  terminationGracePeriodSeconds: 2\n" + extra;
}

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tided_ = std::make_unique<Tided>(dir_.path());
    int base = ReservePortBlock();
    a_ = std::make_unique<AgentProc>(dir_.path(), *tided_, "node-a", base, base + 49);
    b_ = std::make_unique<AgentProc>(dir_.path(), *tided_, "node-b", base + 50, base + 99);
    ASSERT_TRUE(WaitFor(
        [&] {
          json n = tided_->Get("/v1/nodes").Json();
          return n.contains("items") && n["items"].size() == 2;
        },
        10s))
        << tided_->proc()->Log();
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "---- tided log ----\n" << tided_->proc()->Log().substr(0, 20000) << "\n";
      std::cerr << "---- agent a log ----\n" << a_->proc()->Log().substr(0, 10000) << "\n";
      PrintInstanceLogTails(dir_.path());
    }
    // Kill instances of the test workloads that a failing test may have left behind.
    b_.reset();
    a_.reset();
    tided_.reset();
  }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
  std::unique_ptr<AgentProc> a_, b_;
};

TEST_F(CoreTest, ServiceLifecycleAcrossTwoAgents) {
  auto r = tided_->Post("/v1/apply", ServiceYaml("web", 4));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["results"][0]["action"], "created");

  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("web") == 4; }, 20s))
      << tided_->Instances("web").dump(2);
  // Spread 2+2, each answering on its own PORT.
  std::map<std::string, int> per_node;
  for (const auto& i : tided_->Instances("web")) {
    per_node[i["node"]]++;
    auto hello = Http("GET", "http://127.0.0.1:" + std::to_string(i["port"].get<int>()) + "/");
    EXPECT_EQ(hello.status, 200);
    EXPECT_EQ(hello.body, "hello from " + i["id"].get<std::string>() + "\n");
    EXPECT_TRUE(PidAlive(i["pid"].get<int>()));
  }
  EXPECT_EQ(per_node["node-a"], 2);
  EXPECT_EQ(per_node["node-b"], 2);
  json wl = tided_->Get("/v1/workloads/web").Json();
  EXPECT_EQ(wl["status"]["desiredReplicas"], 4);
  EXPECT_EQ(wl["status"]["readyReplicas"], 4);
  EXPECT_EQ(wl["status"]["phase"], "Running");

  // Scale to 1, then back to 3.
  ASSERT_EQ(tided_->Put("/v1/workloads/web/scale", R"({"replicas":1})").status, 200);
  ASSERT_TRUE(WaitFor([&] { return tided_->Instances("web").size() == 1; }, 20s))
      << tided_->Instances("web").dump(2);
  EXPECT_TRUE(WaitFor([&] { return PidsOfWorkload("web").size() == 1; }, 10s));
  ASSERT_EQ(tided_->Put("/v1/workloads/web/scale", R"({"replicas":3})").status, 200);
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("web") == 3; }, 20s));

  // kill -9 one instance: restarted in place, restarts = 1.
  json victim = tided_->Instances("web")[0];
  int old_pid = victim["pid"];
  std::string id = victim["id"];
  ASSERT_EQ(kill(old_pid, SIGKILL), 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& i : tided_->Instances("web"))
          if (i["id"] == id && i["restarts"] == 1 && i["state"] == "Ready" && i["pid"] != old_pid)
            return true;
        return false;
      },
      20s))
      << tided_->Instances("web").dump(2);
  EXPECT_EQ(tided_->ReadyCount("web"), 3);

  // Delete: no process of it left.
  ASSERT_EQ(tided_->Delete("/v1/workloads/web").status, 200);
  EXPECT_TRUE(WaitFor([&] { return PidsOfWorkload("web").empty(); }, 20s));
  EXPECT_TRUE(WaitFor([&] { return tided_->Instances("web").empty(); }, 10s));
  EXPECT_EQ(tided_->Get("/v1/workloads/web").status, 404);
}

// GET /v1/workloads/NAME carries an ETag; with If-None-Match it answers 304 while nothing
// changed, and with waitMs it waits for the next change instead of being polled.
TEST_F(CoreTest, WorkloadGetIsConditionalAndWatchable) {
  ASSERT_EQ(tided_->Post("/v1/apply", ServiceYaml("watched", 1)).status, 200);
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("watched") == 1; }, 20s));
  const std::string url = tided_->api() + "/v1/workloads/watched";
  auto get = [&](const std::string& etag, int wait_ms) {
    std::map<std::string, std::string> h;
    if (!etag.empty()) h["If-None-Match"] = etag;
    return Http("GET", url + (wait_ms > 0 ? "?waitMs=" + std::to_string(wait_ms) : ""), "",
                tided_->token(), "application/json", 70, h);
  };
  HttpResult first = get("", 0);
  ASSERT_EQ(first.status, 200);
  ASSERT_FALSE(first.headers["ETag"].empty());
  // Unchanged: 304 without a body. (A heartbeat with new CPU samples may land in between and
  // change the body; then the next try sees the new ETag.)
  bool not_modified = false;
  for (int i = 0; i < 5 && !not_modified; ++i) {
    HttpResult a = get("", 0);
    HttpResult b = get(a.headers["ETag"], 0);
    not_modified = b.status == 304 && b.body.empty();
  }
  EXPECT_TRUE(not_modified);
  EXPECT_EQ(get("\"not-this-one\"", 0).status, 200);

  // A watch answers with the change: scaled to 2, watched until 2 are Ready, each answer one
  // change (bounded: at most 50 answers within 20 s).
  ASSERT_EQ(tided_->Put("/v1/workloads/watched/scale", R"({"replicas":2})").status, 200);
  std::string etag;
  int ready = 0, answers = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (ready < 2 && answers < 50 && std::chrono::steady_clock::now() < deadline) {
    HttpResult r = get(etag, 10000);
    ++answers;
    ASSERT_TRUE(r.status == 200 || r.status == 304) << r.status << " " << r.body;
    if (r.status == 200) {
      ready = r.Json()["status"].value("readyReplicas", 0);
      EXPECT_NE(r.headers["ETag"], etag);
      etag = r.headers["ETag"];
    }
  }
  EXPECT_EQ(ready, 2);
  EXPECT_LT(answers, 50);
}

TEST_F(CoreTest, InvalidMultiDocumentApplyIsAllOrNothing) {
  std::string yaml = ServiceYaml("good", 1) + "---\n" +
                     "apiVersion: tide/v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n"
                     "  command: [\"x\"]\n  replicas: -3\n";
  auto r = tided_->Post("/v1/apply", yaml);
  ASSERT_EQ(r.status, 400) << r.body;
  json e = r.Json()["error"];
  EXPECT_EQ(e["code"], "InvalidManifest");
  ASSERT_FALSE(e["details"].empty());
  EXPECT_EQ(e["details"][0]["path"], "spec.replicas");
  EXPECT_GT(e["details"][0]["line"].get<int>(), 10);
  EXPECT_EQ(tided_->Get("/v1/workloads/good").status, 404);
  EXPECT_EQ(tided_->Get("/v1/workloads").Json()["items"].size(), 0u);
}

TEST_F(CoreTest, TokensAndRoles) {
  EXPECT_EQ(Http("GET", tided_->api() + "/v1/workloads").status, 401);
  EXPECT_EQ(Http("GET", tided_->api() + "/v1/workloads", "", "wrong").status, 401);
  EXPECT_EQ(Http("GET", tided_->api() + "/v1/workloads", "", "read-token-0123456789").status, 200);
  auto r = Http("POST", tided_->api() + "/v1/apply", ServiceYaml("x", 1), "read-token-0123456789",
                "application/yaml");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Json()["error"]["code"], "Forbidden");
  EXPECT_EQ(Http("GET", tided_->api() + "/healthz").status, 200);
  EXPECT_EQ(Http("GET", tided_->api() + "/metrics").status, 200);
  EXPECT_EQ(tided_->Get("/v1/workloads").Json()["items"].size(), 0u);
}

TEST_F(CoreTest, BadInputGetsClearErrors) {
  EXPECT_EQ(tided_->Get("/v1/workloads/nope").status, 404);
  EXPECT_EQ(tided_->Put("/v1/workloads/nope/scale", R"({"replicas":2})").status, 404);
  EXPECT_EQ(tided_->Put("/v1/workloads/nope/scale", R"({"replicas":"two"})").status, 400);
  EXPECT_EQ(tided_->Post("/v1/apply", "{not yaml: [").status, 400);
  EXPECT_EQ(tided_->Get("/v1/no-such-route").status, 404);
  std::string huge(9 << 20, 'a');
  EXPECT_EQ(tided_->Post("/v1/apply", huge).status, 413);
  // A command that does not exist: Failed with the reason, the agent keeps running.
  std::string yaml =
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: ghost}\nspec:\n"
      "  command: [\"/nonexistent/binary\"]\n  replicas: 1\n";
  ASSERT_EQ(tided_->Post("/v1/apply", yaml).status, 200);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto inst = tided_->Instances("ghost");
        return inst.size() == 1 &&
               (inst[0]["state"] == "Failed" || inst[0]["state"] == "CrashLoopBackOff") &&
               !inst[0]["message"].get<std::string>().empty();
      },
      15s))
      << tided_->Instances("ghost").dump(2);
  EXPECT_TRUE(a_->proc()->Alive());
  EXPECT_TRUE(b_->proc()->Alive());
}

TEST_F(CoreTest, LayersAndInstanceEnvironment) {
  std::string layer_dir = dir_.path() + "/layer-common";
  std::string yaml =
      "apiVersion: tide/v1\nkind: Layer\nmetadata: {name: common}\nspec: {path: " + layer_dir +
      "}\n---\n" + ServiceYaml("envy", 1, "  layers: [common]\n  env: {GREETING: hi}\n");
  auto r = tided_->Post("/v1/apply", yaml);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("envy") == 1; }, 20s));
  json inst = tided_->Instances("envy")[0];
  std::string base = "http://127.0.0.1:" + std::to_string(inst["port"].get<int>()) + "/env?name=";
  EXPECT_EQ(Http("GET", base + "TIDE_LAYER_COMMON").body, layer_dir);
  EXPECT_EQ(Http("GET", base + "GREETING").body, "hi");
  EXPECT_EQ(Http("GET", base + "TIDE_WORKLOAD").body, "envy");
  EXPECT_EQ(Http("GET", base + "TIDE_INSTANCE").body, inst["id"].get<std::string>());
  EXPECT_EQ(Http("GET", base + "TIDE_NODE").body, inst["node"].get<std::string>());
  EXPECT_EQ(Http("GET", base + "PORT").body, std::to_string(inst["port"].get<int>()));
  EXPECT_EQ(Http("GET", base + "PATH").body.rfind(layer_dir + "/bin:", 0), 0u);
  // A layer in use cannot be deleted.
  EXPECT_EQ(tided_->Delete("/v1/layers/common").status, 409);
  EXPECT_EQ(tided_->Get("/v1/layers").Json()["items"].size(), 1u);
}

}  // namespace
}  // namespace tide::testing
