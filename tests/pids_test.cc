// spec.resources.pids against a real fork bomb (issue 15): a workload limited to 64 tasks stops
// there, its children all exit, the node stays Ready and another workload keeps serving; the
// same bomb without a limit forks every time it tries (so the limit is what stopped it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>
#include <regex>

#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

std::string Forker() { return TIDE_FORKER_BIN; }

std::string BombYaml(const std::string& name, int forks, const std::string& pids) {
  return "apiVersion: tide/v1\nkind: Service\nmetadata: {name: " + name +
         "}\nspec:\n  command: [\"" + Forker() + "\", \"--forks\", \"" + std::to_string(forks) +
         "\"]\n  terminationGracePeriodSeconds: 1\n  resources: {pids: " + pids + "}\n";
}

// forked=K from the forker's answer; -1 when it does not answer.
int Forked(const json& instance, std::string* body) {
  HttpResult r =
      Http("GET", "http://127.0.0.1:" + std::to_string(instance["port"].get<int>()) + "/");
  *body = r.body;
  std::smatch m;
  if (r.status != 200 || !std::regex_search(r.body, m, std::regex("forked=([0-9]+) of="))) {
    return -1;
  }
  return std::stoi(m[1].str());
}

class PidsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Tided::Options o;
    o.local_agent = true;
    tided_ = std::make_unique<Tided>(dir_.path(), o);
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "---- tided log ----\n" << tided_->proc()->Log().substr(0, 20000) << "\n";
      PrintInstanceLogTails(dir_.path());
    }
    tided_.reset();
  }
  std::string NodeState() {
    json n = tided_->Get("/v1/nodes").Json();
    return n.contains("items") && n["items"].size() == 1 ? n["items"][0].value("state", "") : "";
  }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
};

TEST_F(PidsTest, ForkBombStopsAtTheLimitAndTheNodeKeepsServing) {
  ASSERT_EQ(tided_
                ->Post("/v1/apply",
                       "apiVersion: tide/v1\nkind: Service\nmetadata: {name: web}"
                       "\nspec:\n  command: [\"" +
                           TestappBin() + "\", \"--port\", \"${PORT}\"]\n")
                .status,
            200);
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("web") == 1; }, 20s))
      << tided_->Instances("web").dump(2);

  auto r = tided_->Post("/v1/apply", BombYaml("bomb", 2000, "64"));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("bomb") == 1; }, 30s))
      << tided_->Instances("bomb").dump(2);
  json bomb = tided_->Instances("bomb")[0];
  const std::string enforcer = bomb.value("pidsEnforcer", "");
  if (enforcer == "rlimit" && ::geteuid() == 0) {
    GTEST_SKIP() << "no pids controller here and root ignores RLIMIT_NPROC";
  }
  EXPECT_TRUE(enforcer == "cgroup2" || enforcer == "cgroup1" || enforcer == "rlimit") << bomb;

  std::string body;
  int forked = Forked(bomb, &body);
  std::cout << "pids: 64 (" << enforcer << "): " << body;
  EXPECT_GE(forked, 1) << body;
  EXPECT_LT(forked, 64) << "64 tasks: the forker and at most 63 children: " << body;
  EXPECT_NE(body.find("reaped=" + std::to_string(forked)), std::string::npos) << body;
  // Every child is gone: only the forker itself is left of the workload.
  EXPECT_TRUE(WaitFor([] { return PidsOfWorkload("bomb").size() == 1; }, 5s))
      << PidsOfWorkload("bomb").size();

  // The node and the other workload are unaffected.
  EXPECT_EQ(NodeState(), "Ready");
  json web = tided_->Instances("web")[0];
  HttpResult hello =
      Http("GET", "http://127.0.0.1:" + std::to_string(web["port"].get<int>()) + "/");
  EXPECT_EQ(hello.status, 200);
  EXPECT_EQ(hello.body, "hello from " + web["id"].get<std::string>() + "\n");
  EXPECT_EQ(web["restarts"], 0);
  EXPECT_EQ(web.value("pidsEnforcer", ""), enforcer);  // the default 1024 is enforced too
  EXPECT_EQ(bomb["restarts"], 0);
}

TEST_F(PidsTest, WithoutALimitTheSameBombForksEveryTime) {
  auto r = tided_->Post("/v1/apply", BombYaml("free", 300, "unlimited"));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("free") == 1; }, 30s))
      << tided_->Instances("free").dump(2);
  json inst = tided_->Instances("free")[0];
  EXPECT_EQ(inst.value("pidsEnforcer", ""), "none");
  std::string body;
  EXPECT_EQ(Forked(inst, &body), 300) << body;
  json spec = tided_->Get("/v1/workloads/free").Json()["spec"];
  EXPECT_EQ(spec["resources"]["pids"], 0) << spec;
}

TEST_F(PidsTest, BadPidsValueIsRejectedWithTheFieldAndNothingStored) {
  auto r = tided_->Post("/v1/apply", BombYaml("bad", 1, "0"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("spec.resources.pids"), std::string::npos) << r.body;
  EXPECT_EQ(tided_->Get("/v1/workloads/bad").status, 404);
}

}  // namespace
}  // namespace tide::testing
