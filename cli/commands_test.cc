// The verbs against an in-process fake tided (cpp-httplib on 127.0.0.1).
#include "cli/commands.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/version.h"
#include "cli/common.h"
#include "cli/exit_codes.h"
#include "cli/fake_server_testutil.h"

namespace tide::cli {
namespace {

using nlohmann::json;
using testing::FakeServer;
using testing::Json;

const char* kWorkloads = R"({"items":[
  {"kind":"Service","metadata":{"name":"users","labels":{"team":"core"}},
   "spec":{"replicas":2,"resources":{"cpu":0.5,"memory":134217728}},
   "status":{"desiredReplicas":2,"readyReplicas":2,"phase":"Running","instanceSeconds":3600}},
  {"kind":"Function","metadata":{"name":"send"},"spec":{},
   "status":{"desiredReplicas":0,"readyReplicas":0,"phase":"Idle"}}]})";

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv("TIDE_GATEWAY"); }
  // Starts the fake server and a client for it.
  void Start() {
    fake_.Start();
    client_ = std::make_unique<Client>(ClientConfig{fake_.url(), "tok", 5});
    env_.api = client_.get();
    env_.out = &out_;
    env_.err = &err_;
    env_.in = &in_;
    env_.clock = &clock_;
    env_.poll_interval_ms = 1000;
    env_.sleep = [this](int ms) { clock_.Advance(ms); };
  }
  httplib::Server& srv() { return fake_.server(); }

  FakeServer fake_;
  std::unique_ptr<Client> client_;
  FakeClock clock_;
  std::ostringstream out_;
  std::ostringstream err_;
  std::istringstream in_;
  Env env_;
};

TEST(ExitCodeTest, Mapping) {
  Response reached;
  reached.reached = true;
  Response none;
  EXPECT_EQ(ExitCodeFor(Status::Ok(), reached), kExitOk);
  EXPECT_EQ(ExitCodeFor(Status::NotFound("x"), reached), kExitFailed);
  EXPECT_EQ(ExitCodeFor(Status::Unavailable("503"), reached), kExitFailed);
  EXPECT_EQ(ExitCodeFor(Status::Invalid("bad manifest"), reached), kExitFailed);
  EXPECT_EQ(ExitCodeFor(Status::Unavailable("refused"), none), kExitUnreachable);
  EXPECT_EQ(ExitCodeFor(Status::Invalid("bad url"), none), kExitUsage);
}

TEST(GatewayUrlTest, WildcardHostBecomesServerHost) {
  EXPECT_EQ(GatewayUrlFor("http://0.0.0.0:7480", "http://tide.example:7400"),
            "http://tide.example:7480");
  EXPECT_EQ(GatewayUrlFor("http://[::]:7480/", "https://10.0.0.5:7400/api"),
            "http://10.0.0.5:7480/");
  EXPECT_EQ(GatewayUrlFor("http://127.0.0.1:7480", "http://tide.example:7400"),
            "http://127.0.0.1:7480");
  EXPECT_EQ(GatewayUrlFor("http://gw.example", "http://tide.example:7400"), "http://gw.example");
}

TEST_F(CommandsTest, GetWorkloadsTable) {
  srv().Get("/v1/workloads",
            [](const httplib::Request&, httplib::Response& res) { Json(res, kWorkloads); });
  Start();
  EXPECT_EQ(RunGet(env_, {"wl", "", "", {}, false}), kExitOk);
  EXPECT_EQ(out_.str(),
            "NAME    KIND       DESIRED   READY   PHASE     AGE\n"
            "users   Service    2         2       Running   -\n"
            "send    Function   0         0       Idle      -\n");
}

TEST_F(CommandsTest, GetServicesFiltersKindAndSendsSelector) {
  srv().Get("/v1/workloads",
            [](const httplib::Request&, httplib::Response& res) { Json(res, kWorkloads); });
  Start();
  EXPECT_EQ(RunGet(env_, {"svc", "", "name", {"team=core"}, false}), kExitOk);
  EXPECT_EQ(out_.str(), "service/users\n");
  auto reqs = fake_.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0], "GET /v1/workloads?kind=Service&label=team=core");
}

TEST_F(CommandsTest, GetOneAsJsonAndYaml) {
  srv().Get("/v1/nodes/a", [](const httplib::Request&, httplib::Response& res) {
    Json(res, R"({"name":"a","state":"Ready"})");
  });
  Start();
  EXPECT_EQ(RunGet(env_, {"node", "a", "json", {}, false}), kExitOk);
  EXPECT_EQ(json::parse(out_.str())["state"], "Ready");
  out_.str("");
  EXPECT_EQ(RunGet(env_, {"no", "a", "yaml", {}, false}), kExitOk);
  EXPECT_EQ(out_.str(), "name: a\nstate: Ready\n");
}

TEST_F(CommandsTest, GetUsageErrorsAndNotFound) {
  srv().Get("/v1/instances", [](const httplib::Request&, httplib::Response& res) {
    Json(res, R"({"items":[{"id":"users-1","workload":"users"}]})");
  });
  srv().Get("/v1/workloads/nope", [](const httplib::Request&, httplib::Response& res) {
    Json(res, R"({"error":{"code":"NotFound","message":"workload \"nope\" not found"}})", 404);
  });
  Start();
  EXPECT_EQ(RunGet(env_, {"pods", "", "", {}, false}), kExitUsage);
  EXPECT_EQ(RunGet(env_, {"wl", "", "", {"novalue"}, false}), kExitUsage);
  EXPECT_EQ(RunGet(env_, {"wl", "", "xml", {}, false}), kExitUsage);
  EXPECT_EQ(RunGet(env_, {"inst", "users-2", "", {}, false}), kExitFailed);
  EXPECT_NE(err_.str().find("instance \"users-2\" not found"), std::string::npos);
  err_.str("");
  EXPECT_EQ(RunGet(env_, {"wl", "nope", "", {}, false}), kExitFailed);
  EXPECT_EQ(err_.str(), "error: workload \"nope\" not found\n");
  EXPECT_EQ(RunGet(env_, {"inst", "users-1", "name", {}, false}), kExitOk);
  EXPECT_EQ(out_.str(), "instance/users-1\n");
}

TEST_F(CommandsTest, WatchPrintsOnlyChanges) {
  std::atomic<int> calls{0};
  srv().Get("/v1/instances", [&](const httplib::Request&, httplib::Response& res) {
    int n = ++calls;
    Json(res, std::string(R"({"items":[{"id":"i1","workload":"w","state":")") +
                  (n < 3 ? "Starting" : "Ready") + R"("}]})");
  });
  Start();
  int polls = 0;
  env_.stop = [&] { return polls >= 4; };
  env_.sleep = [&](int) { ++polls; };
  EXPECT_EQ(RunGet(env_, {"inst", "", "", {}, true}), kExitOk);
  std::string s = out_.str();
  EXPECT_EQ(calls.load(), 4);
  // Two distinct tables: Starting (calls 1-2) and Ready (calls 3-4).
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 5) << s;
  EXPECT_NE(s.find("Starting"), std::string::npos);
  EXPECT_NE(s.find("Ready"), std::string::npos);
}

TEST_F(CommandsTest, ApplyPrintsResults) {
  std::string body;
  std::string type;
  std::string file;
  srv().Post("/v1/apply", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(fake_.mu);
    body = req.body;
    type = req.get_header_value("Content-Type");
    file = req.get_header_value("X-Tide-Filename");
    Json(res, R"({"results":[{"kind":"Service","name":"users","action":"created"},
                             {"kind":"Layer","name":"common","action":"unchanged"}]})");
  });
  Start();
  in_.str("kind: Service\n");
  EXPECT_EQ(RunApply(env_, {{"-"}, true, false, 60}), kExitOk);
  EXPECT_EQ(out_.str(), "service/users created (dry run)\nlayer/common unchanged (dry run)\n");
  EXPECT_EQ(fake_.Requests()[0], "POST /v1/apply?dryRun=true");
  std::lock_guard<std::mutex> lock(fake_.mu);
  EXPECT_EQ(body, "kind: Service\n");
  EXPECT_EQ(type, "application/yaml");
  EXPECT_EQ(file, "stdin");
}

TEST_F(CommandsTest, ApplyErrorPrintsDetails) {
  srv().Post("/v1/apply", [](const httplib::Request&, httplib::Response& res) {
    Json(res,
         R"({"error":{"code":"InvalidManifest","message":"2 problems in the manifests",
             "details":[{"file":"stdin","line":7,"column":13,"path":"spec.replicas",
                         "message":"must be an integer"},
                        {"file":"stdin","line":9,"column":3,"path":"spec.bogus",
                         "message":"unknown field"}]}})",
         400);
  });
  Start();
  in_.str("kind: Service\n");
  EXPECT_EQ(RunApply(env_, {{"-"}, false, false, 60}), kExitFailed);
  EXPECT_EQ(err_.str(),
            "error: 2 problems in the manifests\n"
            "stdin:7:13: spec.replicas: must be an integer\n"
            "stdin:9:3: spec.bogus: unknown field\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CommandsTest, ApplyMissingFileFailsBeforeCallingServer) {
  Start();
  EXPECT_EQ(RunApply(env_, {{"/nonexistent/tide.yaml"}, false, false, 60}), kExitFailed);
  EXPECT_TRUE(fake_.Requests().empty());
  EXPECT_NE(err_.str().find("/nonexistent/tide.yaml"), std::string::npos);
}

TEST_F(CommandsTest, ApplyWaitPollsUntilRolledOut) {
  std::atomic<int> polls{0};
  srv().Post("/v1/apply", [](const httplib::Request&, httplib::Response& res) {
    Json(res, R"({"results":[{"kind":"Service","name":"users","action":"configured"}]})");
  });
  srv().Get("/v1/workloads/users", [&](const httplib::Request&, httplib::Response& res) {
    int n = ++polls;
    int ready = n >= 3 ? 2 : n - 1;
    int observed = n >= 2 ? 4 : 3;
    Json(res, R"({"kind":"Service","metadata":{"name":"users"},"status":{"desiredReplicas":2,
                  "readyReplicas":)" +
                  std::to_string(ready) + R"(,"generation":4,"observedGeneration":)" +
                  std::to_string(observed) + "}}");
  });
  Start();
  in_.str("x");
  EXPECT_EQ(RunApply(env_, {{"-"}, false, true, 60}), kExitOk) << err_.str();
  EXPECT_EQ(polls.load(), 3);
  EXPECT_EQ(out_.str(),
            "service/users configured\n"
            "service/users: 0/2 ready, generation 4 not yet observed\n"
            "service/users: 1/2 ready\n"
            "service/users: rolled out (2/2 ready)\n");
}

TEST_F(CommandsTest, ApplyWaitFailsOnRolloutFailedAndTimesOut) {
  std::atomic<bool> failing{true};
  srv().Post("/v1/apply", [](const httplib::Request&, httplib::Response& res) {
    Json(res, R"({"results":[{"kind":"Function","name":"f","action":"created"}]})");
  });
  srv().Get("/v1/workloads/f", [&](const httplib::Request&, httplib::Response& res) {
    std::string cond = failing ? R"([{"type":"Progressing","status":"False",
        "reason":"RolloutFailed","message":"instances crash on start"}])"
                               : "[]";
    Json(res, R"({"kind":"Function","status":{"desiredReplicas":1,"readyReplicas":0,
                  "conditions":)" +
                  cond + "}}");
  });
  Start();
  in_.str("x");
  EXPECT_EQ(RunApply(env_, {{"-"}, false, true, 60}), kExitFailed);
  EXPECT_NE(err_.str().find("function/f: rollout failed: RolloutFailed: instances crash on start"),
            std::string::npos)
      << err_.str();

  failing = false;
  err_.str("");
  int64_t start = clock_.NowMs();
  EXPECT_EQ(RunApply(env_, {{"x"}, false, true, 5}), kExitFailed);  // "x" does not exist
  in_.clear();
  in_.str("x");
  EXPECT_EQ(RunApply(env_, {{"-"}, false, true, 5}), kExitFailed);
  EXPECT_NE(err_.str().find("timed out after 5s waiting for function/f (0/1 ready)"),
            std::string::npos)
      << err_.str();
  EXPECT_GE(clock_.NowMs() - start, 5000);
}

TEST_F(CommandsTest, UnreachableServerExits3) {
  Start();
  Client dead({"http://127.0.0.1:" + std::to_string(testing::UnusedPort()), "", 2});
  env_.api = &dead;
  EXPECT_EQ(RunGet(env_, {"workloads", "", "", {}, false}), kExitUnreachable);
  EXPECT_NE(err_.str().find("cannot reach server"), std::string::npos) << err_.str();
  EXPECT_EQ(RunVersion(env_), kExitUnreachable);
  EXPECT_NE(out_.str().find("Client Version: "), std::string::npos);
}

TEST_F(CommandsTest, ScaleDeleteAndDeleteFiles) {
  std::string scale_body;
  srv().Put("/v1/workloads/users/scale", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(fake_.mu);
    scale_body = req.body;
    Json(res, R"({"replicas":3})");
  });
  srv().Delete(R"(/v1/workloads/([a-z0-9-]+))",
               [](const httplib::Request& req, httplib::Response& res) {
                 Json(res, R"({"deleted":")" + req.matches[1].str() + R"("})");
               });
  srv().Delete("/v1/layers/common", [](const httplib::Request&, httplib::Response& res) {
    Json(res, R"({"deleted":"common"})");
  });
  Start();
  EXPECT_EQ(RunScale(env_, "users", 3), kExitOk);
  EXPECT_EQ(out_.str(), "workload \"users\" scaled to 3\n");
  {
    std::lock_guard<std::mutex> lock(fake_.mu);
    EXPECT_EQ(json::parse(scale_body)["replicas"], 3);
  }
  out_.str("");
  EXPECT_EQ(RunDelete(env_, {"wl", "users", {}}), kExitOk);
  EXPECT_EQ(out_.str(), "workload \"users\" deleted\n");
  out_.str("");
  in_.str("kind: Layer\nmetadata: {name: common}\n---\nkind: Service\nmetadata: {name: api}\n");
  EXPECT_EQ(RunDelete(env_, {"", "", {"-"}}), kExitOk);
  EXPECT_EQ(out_.str(), "service \"api\" deleted\nlayer \"common\" deleted\n");
  EXPECT_EQ(RunDelete(env_, {"node", "a", {}}), kExitUsage);
}

TEST_F(CommandsTest, LogsStreamsAndPassesQuery) {
  srv().Get("/v1/workloads/users/logs", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
      if (offset == 0) {
        sink.write("line 1\n", 7);
      } else if (offset == 7) {
        sink.write("line 2\n", 7);
      } else {
        sink.done();
      }
      return true;
    });
  });
  Start();
  EXPECT_EQ(RunLogs(env_, {"users", "users-1", 10, true}), kExitOk);
  EXPECT_EQ(out_.str(), "line 1\nline 2\n");
  EXPECT_EQ(fake_.Requests()[0],
            "GET /v1/workloads/users/logs?follow=true&instance=users-1&tail=10");
  EXPECT_EQ(RunLogs(env_, {"nope", "", -1, false}), kExitFailed);
}

TEST_F(CommandsTest, InvokeGoesThroughGatewayWithoutToken) {
  FakeServer gateway;
  std::string got_auth = "unset";
  std::string got_body;
  gateway.server().Post("/function/send/hello",
                        [&](const httplib::Request& req, httplib::Response& res) {
                          std::lock_guard<std::mutex> lock(gateway.mu);
                          got_auth = req.get_header_value("Authorization");
                          got_body = req.body;
                          res.set_content("hi there", "text/plain");
                        });
  gateway.server().Post("/async-function/send",
                        [&](const httplib::Request&, httplib::Response& res) {
                          Json(res, R"({"id":"inv-42"})", 202);
                        });
  gateway.Start();
  srv().Get("/v1/workloads/send", [](const httplib::Request&, httplib::Response& res) {
    Json(res, R"({"kind":"Function","metadata":{"name":"send"}})");
  });
  std::string gw_url = gateway.url();
  srv().Get("/v1/info", [gw_url](const httplib::Request&, httplib::Response& res) {
    Json(res, R"({"gatewayUrl":")" + gw_url + R"("})");
  });
  Start();
  InvokeOptions opt;
  opt.name = "send";
  opt.data = R"({"to":"bob"})";
  opt.has_data = true;
  opt.path = "/hello";
  EXPECT_EQ(RunInvoke(env_, opt), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), "hi there");
  {
    std::lock_guard<std::mutex> lock(gateway.mu);
    EXPECT_EQ(got_auth, "");
    EXPECT_EQ(got_body, R"({"to":"bob"})");
  }
  out_.str("");
  opt.path = "";
  opt.async = true;
  EXPECT_EQ(RunInvoke(env_, opt), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), "inv-42\n");
  opt.async = false;
  opt.path = "/missing";
  EXPECT_EQ(RunInvoke(env_, opt), kExitFailed);
}

TEST_F(CommandsTest, DescribeWorkloadSections) {
  srv().Get("/v1/workloads/users", [](const httplib::Request&, httplib::Response& res) {
    Json(res, R"({"kind":"Service","metadata":{"name":"users","labels":{"team":"core"}},
      "spec":{"command":["./users"],"replicas":2,"resources":{"cpu":0.5,"memory":134217728,"pids":64},
              "readiness":{"httpGet":"/healthz","periodSeconds":5}},
      "status":{"desiredReplicas":2,"readyReplicas":1,"phase":"Degraded",
                "conditions":[{"type":"Ready","status":"False","reason":"InstanceCrashing",
                               "message":"users-2 exited 1"}]},
      "instances":[{"id":"users-2","node":"a","state":"CrashLoopBackOff","restarts":4,
                    "lastExitCode":1,"reason":"Error","limitEnforcer":"rlimit",
                    "pidsEnforcer":"cgroup1"}]})");
  });
  srv().Get("/v1/events", [](const httplib::Request&, httplib::Response& res) {
    Json(res, R"({"items":[{"type":"Warning","reason":"BackOff","object":"instance/users-2",
                            "message":"restarting in 8s"}]})");
  });
  Start();
  EXPECT_EQ(RunDescribe(env_, "workload", "users"), kExitOk) << err_.str();
  std::string s = out_.str();
  for (const char* want :
       {"Name:                   users", "Labels:                 team=core",
        "Spec:", "  Command:              ./users",
        "  Resources:            cpu 500m, memory 128Mi, pids 64",
        "  Readiness:            http-get /healthz", "Status:", "  Phase:                Degraded",
        "Conditions:", "InstanceCrashing", "Instances:", "CrashLoopBackOff", "rlimit, pids cgroup1",
        "Events:", "restarting in 8s"}) {
    EXPECT_NE(s.find(want), std::string::npos) << "missing: " << want << "\n" << s;
  }
  EXPECT_EQ(fake_.Requests()[1], "GET /v1/events?workload=users");
  EXPECT_EQ(RunDescribe(env_, "layer", "x"), kExitUsage);
}

TEST_F(CommandsTest, TopAndCost) {
  srv().Get("/v1/workloads",
            [](const httplib::Request&, httplib::Response& res) { Json(res, kWorkloads); });
  srv().Get("/v1/instances", [](const httplib::Request&, httplib::Response& res) {
    Json(res, R"({"items":[
      {"id":"u1","workload":"users","node":"a","state":"Ready","cpu":0.25,"memoryBytes":67108864},
      {"id":"u2","workload":"users","node":"a","state":"Ready","cpu":0.25,"memoryBytes":67108864},
      {"id":"u3","workload":"users","node":"a","state":"Exited","cpu":0,"memoryBytes":0}]})");
  });
  srv().Get("/v1/nodes", [](const httplib::Request&, httplib::Response& res) {
    Json(res, R"({"items":[{"name":"a","capacity":{"cpu":2,"memory":1073741824},
                            "allocated":{"cpu":1,"memory":268435456}}]})");
  });
  Start();
  EXPECT_EQ(RunTop(env_, "workloads"), kExitOk);
  EXPECT_EQ(out_.str(),
            "NAME    KIND       INSTANCES   CPU(cores)   CPU%   MEMORY(bytes)   MEMORY%\n"
            "users   Service    2           500m         50%    128Mi           50%\n"
            "send    Function   0           0            -      0               -\n");
  out_.str("");
  EXPECT_EQ(RunTop(env_, "no"), kExitOk);
  EXPECT_NE(out_.str().find("a      500m         25%    128Mi           13%       1/2             "
                            "256Mi/1Gi          2"),
            std::string::npos)
      << out_.str();
  out_.str("");
  EXPECT_EQ(RunCost(env_, ""), kExitOk);
  std::string s = out_.str();
  EXPECT_NE(s.find("users   Service    3600               1800          450"), std::string::npos)
      << s;
  EXPECT_NE(s.find("TOTAL"), std::string::npos);
  EXPECT_EQ(RunTop(env_, "events"), kExitUsage);
}

TEST_F(CommandsTest, Version) {
  srv().Get("/v1/version", [](const httplib::Request& req, httplib::Response& res) {
    Json(res,
         R"({"version":"0.1.0","gitCommit":")" + req.get_header_value("Authorization") + R"("})");
  });
  Start();
  EXPECT_EQ(RunVersion(env_), kExitOk);
  EXPECT_NE(out_.str().find("Client Version: " + std::string(kTideVersion)), std::string::npos);
  EXPECT_NE(out_.str().find("Server Version: 0.1.0 (commit Bearer tok)"), std::string::npos)
      << out_.str();
}

}  // namespace
}  // namespace tide::cli
