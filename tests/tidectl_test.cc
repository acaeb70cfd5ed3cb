// tidectl end to end against a real tided with its local agent: every verb, exit codes.
#include <gtest/gtest.h>

#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

class TidectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Tided::Options o;
    o.local_agent = true;
    tided_ = std::make_unique<Tided>(dir_.path(), o);
    WriteFile(dir_.path() + "/web.yaml",
              "apiVersion: tide/v1\nkind: Service\nmetadata:\n  name: web\n  labels: {tier: "
              "front}\nspec:\n  command: [\"" +
                  TestappBin() + "\", \"--port\", \"${PORT}\"]\n  replicas: 2\n");
    WriteFile(dir_.path() + "/fn.yaml",
              "apiVersion: tide/v1\nkind: Function\nmetadata: {name: fn}\nspec:\n  command: [\"" +
                  TestappBin() +
                  "\", \"--port\", \"${PORT}\"]\n  autoscale: {minReplicas: 0, maxReplicas: 2, "
                  "target: 1}\n");
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << tided_->proc()->Log().substr(0, 20000) << "\n";
  }
  CmdResult Run(std::vector<std::string> args, const std::string& in = "") {
    return RunTidectl(args, tided_->api(), tided_->token(), in);
  }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
};

TEST_F(TidectlTest, EveryVerb) {
  auto dry = Run({"apply", "-f", dir_.path() + "/web.yaml", "--dry-run"});
  EXPECT_EQ(dry.code, 0) << dry.err;
  EXPECT_EQ(tided_->Get("/v1/workloads/web").status, 404) << "dry run stored something";

  auto ap = Run({"apply", "-f", dir_.path() + "/web.yaml", "--wait", "--timeout", "30s"});
  ASSERT_EQ(ap.code, 0) << ap.out << ap.err;
  EXPECT_NE(ap.out.find("web"), std::string::npos);
  EXPECT_EQ(tided_->ReadyCount("web"), 2);
  auto again = Run({"apply", "-f", dir_.path() + "/web.yaml"});
  EXPECT_NE(again.out.find("unchanged"), std::string::npos) << again.out;

  // apply from stdin
  std::string fn_yaml =
      "apiVersion: tide/v1\nkind: Function\nmetadata: {name: fn}\nspec:\n"
      "  command: [\"" +
      TestappBin() + "\", \"--port\", \"${PORT}\"]\n";
  auto st = Run({"apply", "-f", "-"}, fn_yaml);
  EXPECT_EQ(st.code, 0) << st.err;

  auto get = Run({"get", "workloads"});
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(get.out.rfind("NAME", 0), 0u) << get.out;
  EXPECT_NE(get.out.find("web"), std::string::npos);
  EXPECT_NE(get.out.find("fn"), std::string::npos);
  auto svcs = Run({"get", "services", "-o", "name"});
  EXPECT_NE(svcs.out.find("web"), std::string::npos);
  EXPECT_EQ(svcs.out.find("fn"), std::string::npos) << svcs.out;
  auto js = Run({"get", "workload", "web", "-o", "json"});
  ASSERT_EQ(js.code, 0);
  json wj = json::parse(js.out, nullptr, false);
  ASSERT_FALSE(wj.is_discarded()) << js.out;
  auto yaml = Run({"get", "workloads", "-o", "yaml", "-l", "tier=front"});
  EXPECT_NE(yaml.out.find("web"), std::string::npos) << yaml.out;
  EXPECT_EQ(yaml.out.find("name: fn"), std::string::npos) << yaml.out;
  for (const char* what : {"instances", "nodes", "events", "layers", "functions"}) {
    auto r = Run({"get", what, "-o", "wide"});
    EXPECT_EQ(r.code, 0) << what << ": " << r.err;
  }
  auto inst = Run({"get", "instances"});
  EXPECT_NE(inst.out.find("Ready"), std::string::npos) << inst.out;

  auto desc = Run({"describe", "workload", "web"});
  EXPECT_EQ(desc.code, 0) << desc.err;
  EXPECT_NE(desc.out.find("web"), std::string::npos);
  json nodes = tided_->Get("/v1/nodes").Json();
  auto dn = Run({"describe", "node", nodes["items"][0]["name"]});
  EXPECT_EQ(dn.code, 0) << dn.err;

  auto sc = Run({"scale", "web", "--replicas", "3"});
  EXPECT_EQ(sc.code, 0) << sc.err;
  EXPECT_TRUE(WaitFor([&] { return tided_->ReadyCount("web") == 3; }, 20s));

  auto logs = Run({"logs", "web", "--tail", "5"});
  EXPECT_EQ(logs.code, 0) << logs.err;
  EXPECT_NE(logs.out.find("listening"), std::string::npos) << logs.out;

  auto inv = Run({"invoke", "fn", "-d", "ping", "-X", "POST", "--path", "/echo"});
  EXPECT_EQ(inv.code, 0) << inv.err;
  EXPECT_NE(inv.out.find("ping"), std::string::npos) << inv.out;

  EXPECT_EQ(Run({"top", "workloads"}).code, 0);
  EXPECT_EQ(Run({"top", "nodes"}).code, 0);
  EXPECT_EQ(Run({"cost"}).code, 0);
  auto ver = Run({"version"});
  EXPECT_EQ(ver.code, 0);
  EXPECT_NE(ver.out.find("0.1.0"), std::string::npos) << ver.out;

  auto del = Run({"delete", "workload", "web"});
  EXPECT_EQ(del.code, 0) << del.err;
  EXPECT_TRUE(WaitFor([&] { return PidsOfWorkload("web").empty(); }, 20s));
  auto delf = Run({"delete", "-f", dir_.path() + "/fn.yaml"});
  EXPECT_EQ(delf.code, 0) << delf.err;
  EXPECT_EQ(tided_->Get("/v1/workloads/fn").status, 404);
}

TEST_F(TidectlTest, ExitCodes) {
  WriteFile(dir_.path() + "/bad.yaml",
            "apiVersion: tide/v1\nkind: Service\nmetadata: {name: Bad_Name}\nspec:\n"
            "  command: []\n");
  auto bad = Run({"apply", "-f", dir_.path() + "/bad.yaml"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("bad.yaml:3:"), std::string::npos) << bad.err;
  EXPECT_EQ(Run({"get", "workload", "nope"}).code, 1);
  EXPECT_EQ(Run({"frobnicate"}).code, 2);
  EXPECT_EQ(Run({"scale", "web"}).code, 2);
  auto ro = RunTidectl({"apply", "-f", dir_.path() + "/web.yaml"}, tided_->api(),
                       "read-token-0123456789");
  EXPECT_EQ(ro.code, 1);
  EXPECT_EQ(RunTidectl({"get", "workloads"}, "http://127.0.0.1:1", "x").code, 3);
}

}  // namespace
}  // namespace tide::testing
