// Node identity integration tests (issue 11 part 1): a real tided
// (--no-local-agent) and two real tide-agents that joined with the join token, running a real
// Service. Every hijack of the issue is tried over real HTTP: each must get 403 (or, for status
// of instances a node was not assigned, be ignored) and change nothing: the same instances keep
// running on the same ports, nothing is Adopted, the gateway still answers from them.
// Also: the join flow end to end (credential file 0600 in a 0700 dir, reused after an agent
// restart and a tided restart) and the in-process agent of tided.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPinnedToken = "pinned-token-0123456789";  // bound to node-p
constexpr const char* kAgentApiToken = "agent-a-api-token-0123456789abcdef";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 0777;
}

// The credential a tide-agent keeps after joining (dir is the AgentProc's dir).
std::string CredentialOf(const std::string& agent_dir) {
  const std::string text = ReadAll(agent_dir + "/data/node-credential.json");
  if (text.empty()) return "";
  return json::parse(text).value("credential", "");
}

// What must not change under a hijack attempt: each instance of a workload and where it runs.
struct Snapshot {
  std::map<std::string, std::string> where;  // id -> "node port pid state"
  bool operator==(const Snapshot&) const = default;
};
Snapshot Take(const Tided& t, const std::string& workload) {
  Snapshot s;
  for (const auto& i : t.Instances(workload)) {
    s.where[i["id"]] = i.value("node", "") + " " + std::to_string(i.value("port", 0)) + " " +
                       std::to_string(i.value("pid", 0)) + " " + i.value("state", "");
  }
  return s;
}
std::string Dump(const Snapshot& s) {
  std::string out;
  for (const auto& [id, w] : s.where) out += id + ": " + w + "\n";
  return out;
}

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Tided::Options o;
    o.extra_tokens = std::string("  - {name: pinned, token: \"") + kPinnedToken +
                     "\", role: agent, node: node-p}\n";
    tided_ = std::make_unique<Tided>(dir_.path(), o);
    const int base = ReservePortBlock();
    // node-a's agent API token is known to the test (the freeze/thaw routes' test); node-b's
    // is the random one an agent makes for itself.
    WriteFile(dir_.path() + "/agent-a-api.token", std::string(kAgentApiToken) + "\n");
    a_ = std::make_unique<AgentProc>(dir_.path(), *tided_, "node-a", base, base + 49,
                                     "--api-token-file " + dir_.path() + "/agent-a-api.token");
    b_ = std::make_unique<AgentProc>(dir_.path(), *tided_, "node-b", base + 50, base + 99);
    ASSERT_TRUE(WaitFor(
        [&] {
          return NodeStateOf(*tided_, "node-a") == "Ready" &&
                 NodeStateOf(*tided_, "node-b") == "Ready";
        },
        15s))
        << tided_->proc()->Log();
    ASSERT_EQ(tided_->Post("/v1/apply", TestappManifest("web", 2)).status, 200);
    ASSERT_TRUE(WaitFor([&] { return tided_->ReadyCount("web") == 2; }, 20s))
        << tided_->Instances("web").dump(2);
    cred_a_ = CredentialOf(dir_.path() + "/agent-node-a");
    cred_b_ = CredentialOf(dir_.path() + "/agent-node-b");
    ASSERT_EQ(cred_a_.size(), 64u);
    ASSERT_EQ(cred_b_.size(), 64u);
    before_ = Take(*tided_, "web");
    for (const auto& i : tided_->Instances("web")) {
      if (i["node"] == "node-a") a_instance_ = i;
    }
    ASSERT_FALSE(a_instance_.is_null()) << Dump(before_);
    adopted_before_ = CountEvents(*tided_, "", "Adopted");
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "---- tided log ----\n" << tided_->proc()->Log().substr(0, 20000) << "\n";
      std::cerr << "---- agent a log ----\n" << a_->proc()->Log().substr(0, 5000) << "\n";
    }
    b_.reset();
    a_.reset();
    tided_.reset();
  }

  // node-b's registration as tided knows it (name, address, agentUrl, capacity, labels).
  json NodeInfoOf(const std::string& node) {
    json n = tided_->Get("/v1/nodes/" + node).Json();
    return {{"name", n["name"]},
            {"address", n.value("address", "")},
            {"agentUrl", n.value("agentUrl", "")},
            {"capacity", n["capacity"]}};
  }
  // A forged status: node-a's instance, claimed to run on an attacker's port.
  json ForgedInstances() {
    json a = a_instance_;
    json forged = {{"id", a["id"]},      {"workload", "web"}, {"generation", a["generation"]},
                   {"pid", 1},           {"port", 1},         {"state", "Ready"},
                   {"node", "node-evil"}};
    json fresh = forged;
    fresh["id"] = "web-forged0";
    return json::array({forged, fresh});
  }
  HttpResult Register(const std::string& token, json node, json instances = json::array()) {
    return Http("POST", tided_->api() + "/v1/agent/register",
                json{{"node", node}, {"instances", instances}}.dump(), token);
  }
  // Nothing changed: same instances, same ports and pids, none adopted, gateway still served by
  // the real instances.
  void ExpectUnchanged(const std::string& what) {
    // Same ids, nodes, ports and pids; the state may read Starting for a moment after an agent
    // restart (readiness is saved lazily, so a restored instance is probed again before it
    // reads Ready), which a restart would not fix: a new pid never turns back into the old one.
    WaitFor([&] { return Take(*tided_, "web") == before_; }, 5s);
    EXPECT_EQ(Take(*tided_, "web"), before_) << what << "\nnow:\n"
                                             << Dump(Take(*tided_, "web")) << "before:\n"
                                             << Dump(before_);
    EXPECT_EQ(CountEvents(*tided_, "", "Adopted"), adopted_before_) << what;
    std::set<std::string> ids;
    for (const auto& [id, w] : before_.where) ids.insert(id);
    for (int i = 0; i < 6; ++i) {
      auto r = Http("GET", tided_->gateway() + "/service/web/");
      ASSERT_EQ(r.status, 200) << what << ": " << r.body;
      const std::string id = r.body.substr(std::string("hello from ").size());
      EXPECT_TRUE(ids.count(id.substr(0, id.find('\n')))) << what << ": answered by " << r.body;
    }
  }
  void Expect403(const HttpResult& r, const std::string& what, const std::string& needle = "") {
    EXPECT_EQ(r.status, 403) << what << ": " << r.body;
    json e = r.Json();
    ASSERT_TRUE(e.is_object() && e.contains("error")) << what << ": " << r.body;
    EXPECT_EQ(e["error"]["code"], "Forbidden") << what;
    const std::string msg = e["error"].value("message", "");
    EXPECT_NE(msg.find(needle), std::string::npos) << what << ": " << msg;
    for (const std::string& secret : {cred_a_, cred_b_, Tided::JoinToken()}) {
      EXPECT_EQ(r.body.find(secret), std::string::npos) << what << " leaks a token";
    }
  }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
  std::unique_ptr<AgentProc> a_, b_;
  std::string cred_a_, cred_b_;
  Snapshot before_;
  json a_instance_;
  int adopted_before_ = 0;
};

TEST_F(IdentityTest, RegisteringAsAnotherNodeIsForbidden) {
  json a_info = NodeInfoOf("node-a");
  json evil = a_info;
  evil["address"] = "127.0.0.2";
  evil["agentUrl"] = "http://127.0.0.2:1";
  // The join token may not take a registered name, with or without a forged instance list.
  Expect403(Register(Tided::JoinToken(), evil, ForgedInstances()), "join token as node-a",
            "already registered");
  // Node-b's credential may not act as node-a.
  Expect403(Register(cred_b_, evil, ForgedInstances()), "node-b's credential as node-a",
            "bound to node node-b");
  // A token bound to node-p may not register a new name, nor node-a.
  json fresh = evil;
  fresh["name"] = "node-x";
  Expect403(Register(kPinnedToken, fresh, ForgedInstances()), "pinned token as node-x",
            "bound to node node-p");
  Expect403(Register(cred_b_, fresh), "node-b's credential as node-x", "bound to node node-b");
  Expect403(Register(kPinnedToken, evil), "pinned token as node-a", "bound to node node-p");
  // The admin token is not a node.
  auto r = Register(tided_->token(), evil, ForgedInstances());
  EXPECT_EQ(r.status, 403) << r.body;
  // Nothing changed: node-a keeps its address, nothing new is registered.
  json a_now = tided_->Get("/v1/nodes/node-a").Json();
  EXPECT_EQ(a_now["address"], a_info["address"]);
  EXPECT_EQ(a_now["agentUrl"], a_info["agentUrl"]);
  EXPECT_EQ(tided_->Get("/v1/nodes/node-x").status, 404);
  ExpectUnchanged("after register hijacks");
  EXPECT_GE(CountEvents(*tided_, "", "NodeAccessDenied"), 4);
}

TEST_F(IdentityTest, ReRegisteringFromANewAddressNeedsTheNodesCredential) {
  json a_info = NodeInfoOf("node-a");
  json moved = a_info;
  moved["address"] = "127.0.0.3";
  Expect403(Register(Tided::JoinToken(), moved), "join token re-registering node-a",
            "its own credential");
  EXPECT_EQ(tided_->Get("/v1/nodes/node-a").Json()["address"], a_info["address"]);
  ExpectUnchanged("after re-register with the join token");
  // With its own credential the node may re-register (here: same address, what it runs).
  json running = json::array();
  for (const auto& i : tided_->Instances("web")) {
    if (i["node"] == "node-a") running.push_back(i);
  }
  auto r = Register(cred_a_, a_info, running);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.Json().contains("credential")) << "a credential is issued only at join";
  ExpectUnchanged("after node-a re-registered itself");
}

TEST_F(IdentityTest, ReadingAnotherNodesAssignmentsIsForbidden) {
  const std::string url = tided_->api() + "/v1/agent/assignments?node=node-a&after=-1&waitMs=0";
  for (const auto& [who, token] :
       std::vector<std::pair<std::string, std::string>>{{"node-b's credential", cred_b_},
                                                        {"the join token", Tided::JoinToken()},
                                                        {"the pinned token", kPinnedToken},
                                                        {"the admin token", tided_->token()}}) {
    auto r = Http("GET", url, "", token);
    EXPECT_EQ(r.status, 403) << who << ": " << r.body;
    EXPECT_EQ(r.body.find("command"), std::string::npos) << who << " read specs: " << r.body;
    EXPECT_EQ(r.body.find(TestappBin()), std::string::npos) << who << " read specs";
  }
  // A node reads its own.
  auto own = Http("GET", url, "", cred_a_);
  EXPECT_EQ(own.status, 200) << own.body;
  EXPECT_NE(own.body.find(a_instance_["id"].get<std::string>()), std::string::npos) << own.body;
  ExpectUnchanged("after assignment reads");
}

TEST_F(IdentityTest, StatusForAnotherNodesInstancesChangesNothing) {
  json failed = a_instance_;
  failed["state"] = "Failed";
  failed["port"] = 1;
  failed["restarts"] = 7;
  // Reporting as node-a with node-b's credential (or the join token): 403.
  Expect403(Http("POST", tided_->api() + "/v1/agent/status",
                 json{{"node", "node-a"}, {"instances", json::array({failed})}}.dump(), cred_b_),
            "node-b's credential reporting for node-a", "bound to node node-b");
  Expect403(Http("POST", tided_->api() + "/v1/agent/status",
                 json{{"node", "node-a"}, {"instances", json::array({failed})}}.dump(),
                 Tided::JoinToken()),
            "join token reporting for node-a", "credential");
  // Node-b reporting node-a's instance (and an unknown one) as its own: ignored, evented.
  json unknown = failed;
  unknown["id"] = "web-notassigned";
  auto r =
      Http("POST", tided_->api() + "/v1/agent/status",
           json{{"node", "node-b"}, {"instances", json::array({failed, unknown})}}.dump(), cred_b_);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(WaitFor([&] { return CountEvents(*tided_, "", "UnassignedInstance") >= 2; }, 5s))
      << Events(*tided_).dump(1);
  EXPECT_EQ(CountEvents(*tided_, "web", "Failed"), 0);
  ExpectUnchanged("after forged status");
}

TEST_F(IdentityTest, AForgedInstanceListIsNeverAdopted) {
  // A legitimate node (its own credential) re-registering with another node's instance and an
  // instance nobody assigned: neither is adopted.
  json b_info = NodeInfoOf("node-b");
  json list = ForgedInstances();
  for (const auto& i : tided_->Instances("web")) {
    if (i["node"] == "node-b") list.push_back(i);
  }
  auto r = Register(cred_b_, b_info, list);
  EXPECT_EQ(r.status, 200) << r.body;
  ExpectUnchanged("after node-b registered a forged list");
  // A brand-new node joining with a forged list gets its credential and nothing else.
  json fresh = b_info;
  fresh["name"] = "node-new";
  fresh["agentUrl"] = "http://127.0.0.1:1";
  r = Register(Tided::JoinToken(), fresh, ForgedInstances());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().value("credential", "").size(), 64u) << r.body;
  ExpectUnchanged("after node-new joined with a forged list");
  EXPECT_TRUE(tided_->Get("/v1/instances?node=node-new").Json()["items"].empty());
  EXPECT_GE(CountEvents(*tided_, "", "UnassignedInstance"), 2);
  // The join token cannot join that name a second time.
  Expect403(Register(Tided::JoinToken(), fresh), "second join of node-new", "already registered");
}

// The join flow end to end: credential kept 0600 in a 0700 dir, used after agent and tided
// restarts; instances survive both.
// The agent API's freeze and thaw routes (the frozen tier) act only for tided, which presents
// the agent's own API token: no token, a wrong one, node-a's or node-b's credential, the join
// token, tided's admin token get 401; the right token for an instance this node does not run
// gets 404. None of them freezes anything; the right token does (the control).
TEST_F(IdentityTest, FreezeAndThawOnTheAgentApiNeedItsOwnToken) {
  const std::string id = a_instance_["id"];
  const int pid = a_instance_.value("pid", 0);
  ASSERT_GT(pid, 0);
  std::string b_id;
  for (const auto& i : tided_->Instances("web")) {
    if (i["node"] == "node-b") b_id = i["id"];
  }
  ASSERT_FALSE(b_id.empty());
  auto call = [&](const std::string& inst, const std::string& verb, const std::string& token,
                  const std::map<std::string, std::string>& headers = {}) {
    return Http("POST", a_->api_url() + "/v1/instances/" + inst + "/" + verb, "", token,
                "application/json", 10, headers);
  };
  const std::vector<std::pair<std::string, std::string>> wrong = {
      {"no token", ""},
      {"a wrong token", "not-the-token"},
      {"the token with a byte more", std::string(kAgentApiToken) + "x"},
      {"a prefix of the token", std::string(kAgentApiToken).substr(0, 20)},
      {"node-a's credential", cred_a_},
      {"node-b's credential", cred_b_},
      {"the join token", Tided::JoinToken()},
      {"the pinned node token", kPinnedToken},
      {"tided's admin token", tided_->token()},
  };
  for (const std::string verb : {"freeze", "thaw"}) {
    for (const auto& [what, token] : wrong) {
      auto r = call(id, verb, token);
      EXPECT_EQ(r.status, 401) << verb << " with " << what << ": " << r.body;
      EXPECT_EQ(r.body.find(kAgentApiToken), std::string::npos) << what << " leaks the token";
    }
    auto basic = call(id, verb, "", {{"Authorization", std::string("Basic ") + kAgentApiToken}});
    EXPECT_EQ(basic.status, 401) << verb << " with the token as Basic: " << basic.body;
    // The right token, instances this node does not run: node-b's, an unknown one.
    for (const std::string& other : {b_id, std::string("web-nosuch0")}) {
      auto r = call(other, verb, kAgentApiToken);
      EXPECT_EQ(r.status, 404) << verb << " of " << other << ": " << r.body;
    }
    EXPECT_EQ(FreezeState(pid), "running") << "after the refused " << verb << "s";
  }
  for (int b_pid : PidsOfWorkload("web")) EXPECT_EQ(FreezeState(b_pid), "running") << b_pid;
  ExpectUnchanged("after refused freezes and thaws");

  // The control: tided's way in (the agent's token) freezes, and thaws.
  auto frozen = call(id, "freeze", kAgentApiToken);
  // The kernel completes a freeze asynchronously (v1 FREEZING, v2 "frozen 0" for a moment).
  WaitFor([&] { return FreezeState(pid) != "running"; }, 5s);
  const std::string state = FreezeState(pid);
  auto thawed = call(id, "thaw", kAgentApiToken);
  const std::string after = FreezeState(pid);
  if (state != "running") ThawForTeardown(pid);
  EXPECT_EQ(frozen.status, 200) << frozen.body;
  EXPECT_NE(state, "running");
  EXPECT_EQ(thawed.status, 200) << thawed.body;
  EXPECT_EQ(after, "running");
}

TEST_F(IdentityTest, JoinedAgentKeepsItsCredentialAcrossRestarts) {
  const std::string data = dir_.path() + "/agent-node-a/data";
  EXPECT_EQ(ModeOf(data + "/node-credential.json"), 0600u);
  EXPECT_EQ(ModeOf(data), 0700u);
  json file = json::parse(ReadAll(data + "/node-credential.json"));
  EXPECT_EQ(file["node"], "node-a");
  // The credential is not the join token, and tided's store holds no copy of it.
  EXPECT_NE(cred_a_, Tided::JoinToken());
  for (const auto& entry : std::filesystem::recursive_directory_iterator(tided_->data_dir())) {
    if (!entry.is_regular_file()) continue;
    EXPECT_EQ(ReadAll(entry.path().string()).find(cred_a_), std::string::npos) << entry.path();
  }

  // Agent restart: it re-registers with the same credential; nothing is restarted.
  auto count = [](const std::string& text, const std::string& needle) {
    int n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
      ++n;
    return n;
  };
  ASSERT_EQ(count(a_->proc()->Log(), "joined"), 1) << a_->proc()->Log();
  const int registrations = count(a_->proc()->Log(), "registered with");
  const int registered = CountEvents(*tided_, "", "NodeJoined");
  a_->proc()->Terminate();
  a_->Start();
  EXPECT_TRUE(
      WaitFor([&] { return count(a_->proc()->Log(), "registered with") > registrations; }, 15s))
      << a_->proc()->Log();
  EXPECT_EQ(NodeStateOf(*tided_, "node-a"), "Ready");
  EXPECT_EQ(CredentialOf(dir_.path() + "/agent-node-a"), cred_a_);
  EXPECT_EQ(CountEvents(*tided_, "", "NodeJoined"), registered);  // no second join
  EXPECT_EQ(count(a_->proc()->Log(), "joined"), 1) << a_->proc()->Log();
  ExpectUnchanged("after the agent restarted");

  // tided restart: the stored digest still authenticates the credential; instances adopted.
  tided_->Kill9();
  tided_->Start();
  ASSERT_TRUE(WaitFor(
      [&] {
        return NodeStateOf(*tided_, "node-a") == "Ready" &&
               NodeStateOf(*tided_, "node-b") == "Ready" && tided_->ReadyCount("web") == 2;
      },
      20s))
      << tided_->proc()->Log();
  EXPECT_EQ(CredentialOf(dir_.path() + "/agent-node-a"), cred_a_);
  adopted_before_ = CountEvents(*tided_, "", "Adopted");  // the re-adoption after the restart
  ExpectUnchanged("after tided restarted");
  // And the join token still cannot take the name.
  Expect403(Register(Tided::JoinToken(), NodeInfoOf("node-a")), "join after restart",
            "already registered");
}

// A token bound to its node in the tokens file registers that node without any join.
TEST_F(IdentityTest, PinnedTokenRegistersItsNode) {
  const int base = ReservePortBlock();
  // AgentProc reads DIR/agent.token: give these agents a dir holding the pinned token.
  const std::string pinned_dir = dir_.path() + "/pinned";
  std::filesystem::create_directories(pinned_dir);
  WriteFile(pinned_dir + "/agent.token", std::string(kPinnedToken) + "\n");
  AgentProc p(pinned_dir, *tided_, "node-p", base, base + 49);
  ASSERT_TRUE(WaitFor([&] { return NodeStateOf(*tided_, "node-p") == "Ready"; }, 15s))
      << p.proc()->Log();
  EXPECT_FALSE(std::filesystem::exists(pinned_dir + "/agent-node-p/data/node-credential.json"));
  // The same token under another name is refused (the agent logs it and keeps trying).
  AgentProc q(pinned_dir, *tided_, "node-q", base + 50, base + 99);
  EXPECT_TRUE(WaitFor(
      [&] { return q.proc()->Log().find("bound to node node-p") != std::string::npos; }, 15s))
      << q.proc()->Log();
  EXPECT_EQ(NodeStateOf(*tided_, "node-q"), "");
}

// The in-process agent of tided keeps working: bound to its node, which a join cannot take.
TEST(LocalAgentIdentityTest, LocalAgentRunsAndItsNodeCannotBeTaken) {
  TempDir dir;
  Tided::Options o;
  o.local_agent = true;
  Tided tided(dir.path(), o);
  ASSERT_EQ(tided.Post("/v1/apply", TestappManifest("solo", 1)).status, 200);
  ASSERT_TRUE(WaitFor([&] { return tided.ReadyCount("solo") == 1; }, 20s)) << tided.proc()->Log();
  json nodes = tided.Get("/v1/nodes").Json()["items"];
  ASSERT_EQ(nodes.size(), 1u);
  json info = {{"name", nodes[0]["name"]}, {"address", "127.0.0.9"}};
  auto r = Http("POST", tided.api() + "/v1/agent/register",
                json{{"node", info}, {"instances", json::array()}}.dump(), Tided::JoinToken());
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(tided.Get("/v1/nodes").Json()["items"][0]["address"], nodes[0]["address"]);
  EXPECT_EQ(tided.ReadyCount("solo"), 1);
}

}  // namespace
}  // namespace tide::testing
