// The in-process agent's link (local_agent_link.h) against a real ApiServer, ControlPlane and
// SQLite store in this process: the protocol works without a socket, and the link is checked
// as a network call is (the token at the door, then node identity).
#include "daemon/server/local_agent_link.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "api/agent_delta.h"
#include "api/json.h"
#include "daemon/control/control_plane.h"
#include "daemon/gateway/gateway.h"
#include "daemon/metrics.h"
#include "daemon/server/api_server.h"
#include "daemon/server/apply.h"
#include "daemon/server/auth.h"
#include "daemon/store/store.h"

namespace tide {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

constexpr const char* kService = R"(apiVersion: tide/v1
kind: Service
metadata:
  name: web
spec:
  replicas: 1
  command: ["/bin/true"]
)";

class LocalAgentLinkTest : public ::testing::Test {
 protected:
  struct Backend : GatewayBackend {
    ControlPlane* cp = nullptr;
    std::optional<RouteInfo> Route(const std::string& w) override { return cp->Route(w); }
    void OnLoad(const std::string& w, int inflight, int queued) override {
      cp->OnLoad(w, inflight, queued);
    }
  };

  void SetUp() override {
    char tmpl[] = "/tmp/tide-local-link-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(Store::Open(dir_ + "/store", clock_, &store_).ok());
    ASSERT_TRUE(Auth::LoadOrGenerate(dir_ + "/auth", "http://127.0.0.1:1", &auth_).ok());
    auth_->BindLocalAgent("node-a");
    gateway_ = std::make_unique<Gateway>(GatewayOptions{}, backend_, clock_, &metrics_);
    cp_ = std::make_unique<ControlPlane>(ControlPlaneOptions{}, *store_, clock_, metrics_,
                                         gateway_.get());
    backend_.cp = cp_.get();
    store_->SetChangeListener([cp = cp_.get()] { cp->Kick(); });
    cp_->Start();
    ApiServerOptions o;
    o.listen = "127.0.0.1:0";
    api_ = std::make_unique<ApiServer>(o, *store_, *cp_, *auth_, metrics_);
    ASSERT_TRUE(api_->Start().ok());
    links_ = api_->LocalAgentLinks();
  }

  void TearDown() override {
    if (api_) api_->Stop();
    if (cp_) cp_->Stop();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<AgentLink> Link(const std::string& token) {
    return links_(AgentLinkConfig{"", token, 5, "", false});
  }
  std::unique_ptr<AgentLink> Local() { return Link(auth_->local_agent_token()); }

  static std::string RegisterBody(const std::string& node) {
    NodeInfo n;
    n.name = node;
    n.address = "127.0.0.1";
    n.agent_url = "http://127.0.0.1:1";
    n.capacity.cpu = 4;
    n.capacity.memory_bytes = int64_t{8} << 30;
    return json{{"node", n}, {"apiToken", "agent-api-token"}, {"instances", json::array()}}.dump();
  }
  static std::string Poll(const std::string& node, int64_t after, int64_t wait_ms) {
    return "/v1/agent/assignments?node=" + node + "&after=" + std::to_string(after) +
           "&waitMs=" + std::to_string(wait_ms) + "&specs=shared&delta=true";
  }

  SystemClock& clock_ = SystemClock::Get();
  std::string dir_;
  Metrics metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Auth> auth_;
  Backend backend_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<ControlPlane> cp_;
  std::unique_ptr<ApiServer> api_;
  AgentLinkFactory links_;
};

TEST_F(LocalAgentLinkTest, RegistersWaitsForItsAssignmentAndReportsItReady) {
  auto link = Local();
  Response r;
  ASSERT_TRUE(link->Send("POST", "/v1/agent/register", RegisterBody("node-a"), &r).ok()) << r.body;
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(link->Send("GET", Poll("node-a", -1, 0), "", &r).ok()) << r.body;
  AssignmentDelta d;
  ASSERT_TRUE(DecodeAssignmentAnswer(json::parse(r.body), &d).ok()) << r.body;
  EXPECT_TRUE(d.upserts.empty());

  // The long-poll waits on this thread until the placement's check wakes it with the set.
  std::vector<ApplyResult> results;
  std::vector<FieldError> errors;
  std::thread apply([&] {
    EXPECT_TRUE(ApplyFiles(*store_, {{"web.yaml", kService}}, false, &results, &errors).ok());
  });
  const auto t0 = Steady::now();
  Status st = link->Send("GET", Poll("node-a", d.version, 10000), "", &r);
  apply.join();
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_LT(Steady::now() - t0, 5s);
  AssignmentDelta next;
  ASSERT_TRUE(DecodeAssignmentAnswer(json::parse(r.body), &next).ok()) << r.body;
  ASSERT_EQ(next.upserts.size(), 1u) << r.body;
  EXPECT_EQ(next.upserts[0].workload, "web");

  InstanceStatus s;
  s.id = next.upserts[0].id;
  s.workload = "web";
  s.pid = 4242;
  s.port = 20001;
  s.state = InstanceState::kReady;
  ReportDeltaState deltas;
  ASSERT_TRUE(link->Send("POST", "/v1/agent/status", NextReport("node-a", {s}, &deltas), &r).ok())
      << r.body;
  const std::vector<InstanceStatus> instances = cp_->Instances("web", "");
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0].state, InstanceState::kReady);
  EXPECT_EQ(instances[0].pid, 4242);
}

TEST_F(LocalAgentLinkTest, AnotherTokenIsRefusedAtTheDoorAndRegistersNothing) {
  auto link = Link("not-a-token");
  Response r;
  Status st = link->Send("POST", "/v1/agent/register", RegisterBody("node-a"), &r);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(r.reached);
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_LT(cp_->AssignmentVersion("node-a"), 0);  // not registered
  EXPECT_EQ(link->Send("GET", Poll("node-a", -1, 0), "", &r).code(), Status::Code::kUnauthorized);
  // Counted as refusals at the door are.
  const std::string text = prometheus::TextSerializer().Serialize(metrics_.registry()->Collect());
  EXPECT_NE(text.find("tide_api_requests_total{code=\"401\",method=\"POST\",route=\"/v1/agent/"
                      "register\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tide_api_requests_total{code=\"401\",method=\"GET\",route=\"/v1/agent/"
                      "assignments\"} 1"),
            std::string::npos);
}

TEST_F(LocalAgentLinkTest, TheLocalAgentsTokenActsAsItsOwnNodeOnly) {
  auto link = Local();
  Response r;
  EXPECT_EQ(link->Send("POST", "/v1/agent/register", RegisterBody("node-b"), &r).code(),
            Status::Code::kForbidden)
      << r.body;
  EXPECT_EQ(r.status, 403);
  EXPECT_LT(cp_->AssignmentVersion("node-b"), 0);
  // Registered as its own node, the local agent's token still cannot read node-b's
  // assignments or report for it.
  ASSERT_TRUE(link->Send("POST", "/v1/agent/register", RegisterBody("node-a"), &r).ok());
  EXPECT_EQ(link->Send("GET", Poll("node-b", -1, 0), "", &r).code(), Status::Code::kForbidden);
  ReportDeltaState deltas;
  InstanceStatus forged;
  forged.id = "web-forged";
  forged.workload = "web";
  forged.state = InstanceState::kReady;
  EXPECT_EQ(
      link->Send("POST", "/v1/agent/status", NextReport("node-b", {forged}, &deltas), &r).code(),
      Status::Code::kForbidden);
  for (const auto& i : cp_->Instances("", "")) EXPECT_NE(i.id, "web-forged");
}

TEST_F(LocalAgentLinkTest, BadInputGetsAClearErrorAndChangesNothing) {
  auto link = Local();
  Response r;
  EXPECT_EQ(link->Send("POST", "/v1/agent/register", "{not json", &r).code(),
            Status::Code::kInvalid);
  EXPECT_EQ(r.status, 400);
  EXPECT_LT(cp_->AssignmentVersion("node-a"), 0);
  EXPECT_EQ(link->Send("GET", "/v1/agent/assignments?after=1", "", &r).code(),
            Status::Code::kInvalid);
  EXPECT_NE(r.body.find("node"), std::string::npos) << r.body;
  EXPECT_EQ(link->Send("DELETE", "/v1/workloads/web", "", &r).code(), Status::Code::kNotFound);
  EXPECT_NE(r.body.find("no route"), std::string::npos) << r.body;
}

TEST_F(LocalAgentLinkTest, AbortEndsAWaitingLongPollAtOnce) {
  auto link = Local();
  Response r;
  ASSERT_TRUE(link->Send("POST", "/v1/agent/register", RegisterBody("node-a"), &r).ok());
  ASSERT_TRUE(link->Send("GET", Poll("node-a", -1, 0), "", &r).ok());
  AssignmentDelta d;
  ASSERT_TRUE(DecodeAssignmentAnswer(json::parse(r.body), &d).ok());
  Status st;
  Response waited;
  std::atomic<bool> done{false};
  const auto t0 = Steady::now();
  std::thread poll([&] {
    st = link->Send("GET", Poll("node-a", d.version, 30000), "", &waited);
    done = true;
  });
  // Aborted again until the poll is over: an abort before the wait starts ends it too.
  while (!done && Steady::now() - t0 < 10s) {
    link->Abort();
    std::this_thread::yield();
  }
  poll.join();
  EXPECT_LT(Steady::now() - t0, 5s);
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(waited.reached);
  // An aborted link stays aborted: Stop's next round ends at once too.
  EXPECT_FALSE(link->Send("GET", Poll("node-a", d.version, 30000), "", &waited).ok());
}

}  // namespace
}  // namespace tide
