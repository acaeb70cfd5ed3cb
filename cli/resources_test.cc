#include "cli/resources.h"

#include <gtest/gtest.h>

#include "cli/format.h"

namespace tide::cli {
namespace {

TEST(ResourcesTest, NamesAndShortNames) {
  EXPECT_EQ(ParseResource("workloads"), Resource::kWorkloads);
  EXPECT_EQ(ParseResource("workload"), Resource::kWorkloads);
  EXPECT_EQ(ParseResource("wl"), Resource::kWorkloads);
  EXPECT_EQ(ParseResource("svc"), Resource::kServices);
  EXPECT_EQ(ParseResource("Services"), Resource::kServices);
  EXPECT_EQ(ParseResource("fn"), Resource::kFunctions);
  EXPECT_EQ(ParseResource("inst"), Resource::kInstances);
  EXPECT_EQ(ParseResource("no"), Resource::kNodes);
  EXPECT_EQ(ParseResource("ev"), Resource::kEvents);
  EXPECT_EQ(ParseResource("layer"), Resource::kLayers);
  EXPECT_FALSE(ParseResource("pods"));
}

const int64_t kNow = 1'800'000'000'000;

TEST(ResourcesTest, WorkloadTable) {
  json items = json::parse(R"([
    {"kind":"Service","metadata":{"name":"users","labels":{"team":"core"},
      "creationTimestamp":1799999940000},
     "spec":{"replicas":2,"command":["./users","--port","${PORT}"]},
     "status":{"desiredReplicas":2,"readyReplicas":1,"phase":"Progressing","generation":3,
               "observedGeneration":2}},
    {"kind":"Function","metadata":{"name":"send-message"},
     "spec":{"autoscale":{"minReplicas":0,"maxReplicas":50,"metric":"concurrency","target":1}},
     "status":{"desiredReplicas":0,"readyReplicas":0,"phase":"Idle"}}])");
  EXPECT_EQ(MakeTable(Resource::kWorkloads, items, false, kNow).Render(),
            "NAME           KIND       DESIRED   READY   PHASE         AGE\n"
            "users          Service    2         1       Progressing   60s\n"
            "send-message   Function   0         0       Idle          -\n");
  std::string wide = MakeTable(Resource::kWorkloads, items, true, kNow).Render();
  EXPECT_NE(wide.find("SCALING"), std::string::npos);
  EXPECT_NE(wide.find("fixed 2"), std::string::npos);
  EXPECT_NE(wide.find("0-50 concurrency=1"), std::string::npos);
  EXPECT_NE(wide.find("3 (observed 2)"), std::string::npos);
  EXPECT_NE(wide.find("team=core"), std::string::npos);
  EXPECT_NE(wide.find("./users --port ${PORT}"), std::string::npos);
  EXPECT_EQ(ObjectName(Resource::kWorkloads, items[0]), "service/users");
  EXPECT_EQ(ObjectName(Resource::kFunctions, items[1]), "function/send-message");
}

TEST(ResourcesTest, InstanceAndNodeTables) {
  json inst = json::parse(R"([{"id":"users-3f2a","workload":"users","node":"a","pid":4242,
    "port":31001,"state":"Ready","restarts":1,"startedAtMs":1799999880000,"cpu":0.25,
    "memoryBytes":52428800,"lastExitCode":137,"reason":"OOMKilled","limitEnforcer":"rlimit"}])");
  std::string t = MakeTable(Resource::kInstances, inst, false, kNow).Render();
  EXPECT_EQ(t,
            "ID           WORKLOAD   NODE   STATE   PID    PORT    RESTARTS   AGE\n"
            "users-3f2a   users      a      Ready   4242   31001   1          2m\n");
  std::string w = MakeTable(Resource::kInstances, inst, true, kNow).Render();
  EXPECT_NE(w.find("250m"), std::string::npos);
  EXPECT_NE(w.find("50Mi"), std::string::npos);
  EXPECT_NE(w.find("137"), std::string::npos);
  EXPECT_NE(w.find("OOMKilled"), std::string::npos);
  EXPECT_NE(w.find("rlimit"), std::string::npos);

  json nodes = json::parse(R"([{"name":"a","address":"127.0.0.1","state":"Ready",
    "capacity":{"cpu":4,"memory":2147483648},"allocated":{"cpu":1.5,"memory":268435456},
    "labels":{"zone":"a"},"instances":3}])");
  EXPECT_EQ(MakeTable(Resource::kNodes, nodes, false, kNow).Render(),
            "NAME   STATE   ADDRESS     CPU       MEMORY      INSTANCES   AGE\n"
            "a      Ready   127.0.0.1   1500m/4   256Mi/2Gi   3           -\n");
  EXPECT_EQ(ObjectName(Resource::kNodes, nodes[0]), "node/a");
}

TEST(ResourcesTest, EventAndLayerTables) {
  json events = json::parse(R"([{"time":"2027-01-15T08:00:00Z","type":"Warning",
    "reason":"BackOff","object":"instance/users-1","message":"restarting in 10s"}])");
  std::string t =
      MakeTable(Resource::kEvents, events, false, *ParseRfc3339("2027-01-15T08:00:30Z")).Render();
  EXPECT_EQ(t,
            "AGE   TYPE      REASON    OBJECT             MESSAGE\n"
            "30s   Warning   BackOff   instance/users-1   restarting in 10s\n");
  json layers = json::parse(
      R"([{"kind":"Layer","metadata":{"name":"common"},"spec":{"path":"/opt/common"},
           "usedBy":["users","send"]}])");
  EXPECT_EQ(MakeTable(Resource::kLayers, layers, false, kNow).Render(),
            "NAME     PATH          USED-BY      AGE\n"
            "common   /opt/common   users,send   -\n");
  EXPECT_EQ(ObjectName(Resource::kLayers, layers[0]), "layer/common");
}

TEST(ResourcesTest, SecretTableShowsKeysNeverData) {
  EXPECT_EQ(ParseResource("secrets"), Resource::kSecrets);
  EXPECT_EQ(ParseResource("Secret"), Resource::kSecrets);
  // Even a server that sent values (an older or hostile one) gets them shown nowhere.
  json secrets = json::parse(
      R"([{"kind":"Secret","metadata":{"name":"db","generation":2},
           "spec":{"keys":["password","user"],"data":{"password":"leak-me"}},
           "status":{"usedBy":["api"],"keyId":"0123abcd"}}])");
  for (bool wide : {false, true}) {
    std::string t = MakeTable(Resource::kSecrets, secrets, wide, kNow).Render();
    EXPECT_EQ(t.find("leak-me"), std::string::npos) << t;
    EXPECT_NE(t.find("password,user"), std::string::npos) << t;
    EXPECT_NE(t.find("api"), std::string::npos) << t;
  }
  EXPECT_EQ(ObjectName(Resource::kSecrets, secrets[0]), "secret/db");
}

}  // namespace
}  // namespace tide::cli
