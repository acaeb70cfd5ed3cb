#include "daemon/server/auth.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tide {
namespace {

using Code = Status::Code;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tide-auth-XXXXXX").string();
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

const char* kTokens = R"(tokens:
  - {name: ops,    token: "admin-secret-1", role: admin}
  - {name: viewer, token: "read-secret-2",  role: read}
  - {name: node-a, token: "agent-secret-3", role: agent}
)";

std::unique_ptr<Auth> MustParse(const std::string& yaml) {
  std::unique_ptr<Auth> a;
  Status s = Auth::ParseTokens(yaml, "tokens.yaml", &a);
  EXPECT_TRUE(s.ok()) << s.message();
  return a;
}

Code Check(const Auth& a, const std::string& token, const std::string& method,
           const std::string& path, std::string* who = nullptr) {
  return a
      .Authorize(token.empty() ? "" : "Bearer " + token, method, ClassifyRoute(method, path), who)
      .code();
}

TEST(AuthTest, ClassifyRoute) {
  EXPECT_EQ(ClassifyRoute("GET", "/healthz"), RouteClass::kPublic);
  EXPECT_EQ(ClassifyRoute("GET", "/metrics"), RouteClass::kPublic);
  EXPECT_EQ(ClassifyRoute("GET", "/v1/workloads"), RouteClass::kRead);
  EXPECT_EQ(ClassifyRoute("HEAD", "/v1/nodes"), RouteClass::kRead);
  EXPECT_EQ(ClassifyRoute("POST", "/v1/apply"), RouteClass::kWrite);
  EXPECT_EQ(ClassifyRoute("DELETE", "/v1/workloads/x"), RouteClass::kWrite);
  EXPECT_EQ(ClassifyRoute("GET", "/v1/agent/assignments"), RouteClass::kAgent);
  EXPECT_EQ(ClassifyRoute("POST", "/v1/agent/status"), RouteClass::kAgent);
  EXPECT_EQ(ClassifyRoute("GET", "/v1/agents"), RouteClass::kRead);  // not the agent prefix
}

TEST(AuthTest, RolesMatrix) {
  auto a = MustParse(kTokens);
  ASSERT_TRUE(a);
  const std::string admin = "admin-secret-1", read = "read-secret-2", agent = "agent-secret-3";

  // Public routes need no token.
  EXPECT_EQ(Check(*a, "", "GET", "/healthz"), Code::kOk);
  EXPECT_EQ(Check(*a, "", "GET", "/metrics"), Code::kOk);

  // No token or unknown token: 401 on every protected class.
  for (const char* path : {"/v1/workloads", "/v1/agent/status"}) {
    EXPECT_EQ(Check(*a, "", "GET", path), Code::kUnauthorized) << path;
    EXPECT_EQ(Check(*a, "nope", "GET", path), Code::kUnauthorized) << path;
    EXPECT_EQ(Check(*a, "admin-secret", "GET", path), Code::kUnauthorized) << path;  // prefix
  }
  EXPECT_EQ(Check(*a, "", "POST", "/v1/apply"), Code::kUnauthorized);

  // admin: everything but the agent routes (an admin is not a node).
  std::string who;
  EXPECT_EQ(Check(*a, admin, "GET", "/v1/workloads", &who), Code::kOk);
  EXPECT_EQ(who, "ops");
  EXPECT_EQ(Check(*a, admin, "POST", "/v1/apply"), Code::kOk);
  EXPECT_EQ(Check(*a, admin, "POST", "/v1/agent/status"), Code::kForbidden);
  EXPECT_EQ(Check(*a, admin, "GET", "/v1/agent/assignments"), Code::kForbidden);

  // read: GET only.
  EXPECT_EQ(Check(*a, read, "GET", "/v1/workloads", &who), Code::kOk);
  EXPECT_EQ(who, "viewer");
  EXPECT_EQ(Check(*a, read, "POST", "/v1/apply"), Code::kForbidden);
  EXPECT_EQ(Check(*a, read, "PUT", "/v1/workloads/x/scale"), Code::kForbidden);
  EXPECT_EQ(Check(*a, read, "GET", "/v1/agent/assignments"), Code::kForbidden);

  // agent: agent routes only.
  EXPECT_EQ(Check(*a, agent, "POST", "/v1/agent/register", &who), Code::kOk);
  EXPECT_EQ(who, "node-a");
  EXPECT_EQ(Check(*a, agent, "GET", "/v1/agent/assignments"), Code::kOk);
  EXPECT_EQ(Check(*a, agent, "GET", "/v1/workloads"), Code::kForbidden);
  EXPECT_EQ(Check(*a, agent, "POST", "/v1/apply"), Code::kForbidden);

  // A Read-classified route called with a writing method is a write.
  EXPECT_EQ(a->Authorize("Bearer " + read, "POST", RouteClass::kRead, nullptr).code(),
            Code::kForbidden);

  // The in-process agent's token is an agent token.
  EXPECT_FALSE(a->local_agent_token().empty());
  EXPECT_EQ(Check(*a, a->local_agent_token(), "POST", "/v1/agent/status", &who), Code::kOk);
  EXPECT_EQ(who, "local-agent");
  EXPECT_EQ(Check(*a, a->local_agent_token(), "GET", "/v1/workloads"), Code::kForbidden);
}

TEST(AuthTest, HeaderParsing) {
  auto a = MustParse(kTokens);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->Authorize("bearer admin-secret-1", "GET", RouteClass::kRead, nullptr).ok());
  EXPECT_TRUE(a->Authorize("  Bearer   admin-secret-1 ", "GET", RouteClass::kRead, nullptr).ok());
  Status s = a->Authorize("Basic YWRtaW46eA==", "GET", RouteClass::kRead, nullptr);
  EXPECT_EQ(s.code(), Code::kUnauthorized);
  EXPECT_EQ(a->Authorize("Bearer", "GET", RouteClass::kRead, nullptr).code(), Code::kUnauthorized);
  EXPECT_EQ(a->Authorize("Bearer ", "GET", RouteClass::kRead, nullptr).code(), Code::kUnauthorized);
  // Messages never echo the presented token.
  s = a->Authorize("Bearer read-secret-2", "POST", RouteClass::kWrite, nullptr);
  EXPECT_EQ(s.code(), Code::kForbidden);
  EXPECT_EQ(s.message().find("read-secret-2"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("viewer"), std::string::npos) << s.message();
}

TEST(AuthTest, TokensFileErrors) {
  struct Case {
    const char* yaml;
    const char* want;  // substring of the error
  };
  const Case cases[] = {
      {"tokens:\n  - {name: a, token: t1, role: admin}\n  - {name: b, token: t2, role: agnt}\n",
       "tokens.yaml:3:5: tokens[1] (b): unknown role \"agnt\""},
      {"tokens:\n  - {name: a, token: same, role: admin}\n  - {name: b, token: same, role: read}\n",
       "tokens[1] (b) has the same token as entry a"},
      {"tokens:\n  - {name: a, token: t1, role: admin}\n  - {name: a, token: t2, role: read}\n",
       "name a is used by another entry"},
      {"tokens:\n  - {name: a, token: t1, role: admin, extra: 1}\n", "unknown field extra"},
      {"tokens:\n  - {name: a, token: t1}\n", "tokens[0] (a): role is missing"},
      {"tokens:\n  - {name: a, token: '', role: read}\n", "token is empty"},
      {"tokens:\n  - {token: t1, role: read}\n", "name is missing"},
      {"tokens: []\n", "non-empty list"},
      {"tokenz:\n  - {name: a, token: t1, role: read}\n", "unknown field tokenz"},
      {"tokens: [\n", "tokens.yaml"},
      {"tokens:\n  - {name: a, token: t1, role: admin, node: n1}\n",
       "tokens[0] (a): node is only for role agent, not admin"},
      {"tokens:\n  - {name: a, token: t1, role: agent, node: ''}\n", "node is empty"},
      {"tokens:\n  - {name: a, token: t1, role: agent, node: 'a b'}\n", "must be a node name"},
  };
  for (const auto& c : cases) {
    std::unique_ptr<Auth> a;
    Status s = Auth::ParseTokens(c.yaml, "tokens.yaml", &a);
    EXPECT_EQ(s.code(), Code::kInvalid) << c.yaml;
    EXPECT_NE(s.message().find(c.want), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find("same,"), std::string::npos);
  }
  // The duplicate-token message names entries, never the token.
  std::unique_ptr<Auth> a;
  Status s = Auth::ParseTokens(
      "tokens:\n  - {name: a, token: s3cr3t, role: admin}\n  - {name: b, token: s3cr3t, role: "
      "read}\n",
      "f", &a);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message().find("s3cr3t"), std::string::npos) << s.message();
}

TEST(AuthTest, LoadTokensFile) {
  TempDir dir;
  const std::string path = dir.path() + "/tokens.yaml";
  std::ofstream(path) << kTokens;
  std::unique_ptr<Auth> a;
  ASSERT_TRUE(Auth::LoadTokensFile(path, &a).ok());
  EXPECT_FALSE(a->generated());
  EXPECT_EQ(Check(*a, "admin-secret-1", "POST", "/v1/apply"), Code::kOk);
  Status s = Auth::LoadTokensFile(dir.path() + "/missing.yaml", &a);
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_NE(s.message().find("missing.yaml"), std::string::npos);
}

TEST(AuthTest, GeneratedTokensPersistedAndReused) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  std::unique_ptr<Auth> a;
  Status s = Auth::LoadOrGenerate(data, "http://127.0.0.1:7400", &a);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(a->generated());

  const std::string admin_path = data + "/admin.token";
  const std::string cfg_path = data + "/tidectl.yaml";
  EXPECT_EQ(Mode(admin_path), 0600u);
  EXPECT_EQ(Mode(data + "/agent.token"), 0600u);
  EXPECT_EQ(Mode(cfg_path), 0600u);
  std::string admin = ReadFile(admin_path);
  while (!admin.empty() && admin.back() == '\n') admin.pop_back();
  ASSERT_EQ(admin.size(), 64u);
  EXPECT_EQ(admin.find_first_not_of("0123456789abcdef"), std::string::npos);

  YAML::Node cfg = YAML::LoadFile(cfg_path);
  EXPECT_EQ(cfg["server"].as<std::string>(), "http://127.0.0.1:7400");
  EXPECT_EQ(cfg["token"].as<std::string>(), admin);

  std::string who;
  EXPECT_EQ(Check(*a, admin, "POST", "/v1/apply", &who), Code::kOk);
  EXPECT_EQ(who, "admin");
  // agent.token is a join token for external agents; the local agent has its own token.
  std::string join = ReadFile(data + "/agent.token");
  while (!join.empty() && join.back() == '\n') join.pop_back();
  Principal p;
  ASSERT_TRUE(a->AuthorizeAs("Bearer " + join, "POST", RouteClass::kAgent, &p).ok());
  EXPECT_EQ(p.name, "agent");
  EXPECT_EQ(p.node, "");
  EXPECT_NE(a->local_agent_token(), admin);
  EXPECT_NE(a->local_agent_token(), join);
  EXPECT_EQ(Check(*a, a->local_agent_token(), "POST", "/v1/agent/status"), Code::kOk);
  EXPECT_EQ(Check(*a, a->local_agent_token(), "POST", "/v1/apply"), Code::kForbidden);

  // Second start: same tokens; tidectl.yaml follows the new server URL.
  std::unique_ptr<Auth> b;
  ASSERT_TRUE(Auth::LoadOrGenerate(data, "http://127.0.0.1:9999", &b).ok());
  EXPECT_EQ(Check(*b, admin, "POST", "/v1/apply"), Code::kOk);
  EXPECT_EQ(Check(*b, join, "POST", "/v1/agent/register"), Code::kOk);
  cfg = YAML::LoadFile(cfg_path);
  EXPECT_EQ(cfg["server"].as<std::string>(), "http://127.0.0.1:9999");
  EXPECT_EQ(cfg["token"].as<std::string>(), admin);

  // Loose permissions left by hand are tightened.
  chmod(admin_path.c_str(), 0644);
  ASSERT_TRUE(Auth::LoadOrGenerate(data, "http://127.0.0.1:7400", &b).ok());
  EXPECT_EQ(Mode(admin_path), 0600u);

  // An empty token file is an error, not silently replaced.
  std::ofstream(admin_path, std::ios::trunc) << "\n";
  s = Auth::LoadOrGenerate(data, "http://127.0.0.1:7400", &b);
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_NE(s.message().find("admin.token"), std::string::npos);
}

TEST(AuthTest, NodeBindingsAndCredentials) {
  auto a = MustParse(std::string(kTokens) +
                     "  - {name: pinned, token: \"agent-secret-4\", role: agent, node: node-b}\n");
  ASSERT_TRUE(a);
  Principal p;
  ASSERT_TRUE(a->AuthorizeAs("Bearer agent-secret-4", "GET", RouteClass::kAgent, &p).ok());
  EXPECT_EQ(p.name, "pinned");
  EXPECT_EQ(p.node, "node-b");
  ASSERT_TRUE(a->AuthorizeAs("Bearer agent-secret-3", "GET", RouteClass::kAgent, &p).ok());
  EXPECT_EQ(p.node, "");  // a join token
  EXPECT_TRUE(a->NodeClaimed("node-b"));
  EXPECT_FALSE(a->NodeClaimed("node-c"));

  // The local agent is bound to its node once told which.
  a->BindLocalAgent("here");
  EXPECT_TRUE(a->NodeClaimed("here"));
  ASSERT_TRUE(
      a->AuthorizeAs("Bearer " + a->local_agent_token(), "POST", RouteClass::kAgent, &p).ok());
  EXPECT_EQ(p.node, "here");

  // Join: issued once per name, persisted as a digest, then usable as that node's token.
  std::string stored_node, stored_digest, cred;
  auto persist = [&](const std::string& n, const std::string& d) {
    stored_node = n;
    stored_digest = d;
    return Status::Ok();
  };
  ASSERT_TRUE(a->Join("node-c", persist, &cred).ok());
  EXPECT_EQ(cred.size(), 64u);
  EXPECT_EQ(stored_node, "node-c");
  EXPECT_EQ(stored_digest, Auth::DigestHex(cred));
  EXPECT_EQ(stored_digest.find(cred), std::string::npos);
  ASSERT_TRUE(a->AuthorizeAs("Bearer " + cred, "GET", RouteClass::kAgent, &p).ok());
  EXPECT_EQ(p.node, "node-c");
  EXPECT_EQ(p.name, "node:node-c");
  EXPECT_EQ(Check(*a, cred, "GET", "/v1/workloads"), Code::kForbidden);
  std::string again;
  Status s = a->Join("node-c", persist, &again);
  EXPECT_EQ(s.code(), Code::kForbidden);
  EXPECT_NE(s.message().find("own credential"), std::string::npos) << s.message();
  EXPECT_EQ(a->Join("node-b", persist, &again).code(), Code::kForbidden);  // tokens-file bound
  EXPECT_EQ(a->Join("here", persist, &again).code(), Code::kForbidden);    // the local node
  // A failed persist issues nothing.
  s = a->Join(
      "node-d",
      [](const std::string&, const std::string&) { return Status::Internal("disk full"); }, &again);
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_FALSE(a->NodeClaimed("node-d"));

  // After a restart the stored digest alone authenticates the credential.
  auto b = MustParse(kTokens);
  ASSERT_TRUE(b->AddNodeCredential("node-c", stored_digest).ok());
  EXPECT_TRUE(b->NodeClaimed("node-c"));
  ASSERT_TRUE(b->AuthorizeAs("Bearer " + cred, "POST", RouteClass::kAgent, &p).ok());
  EXPECT_EQ(p.node, "node-c");
  EXPECT_EQ(b->AddNodeCredential("node-e", "xyz").code(), Code::kInvalid);
  EXPECT_EQ(b->AddNodeCredential("node-e", std::string(64, 'g')).code(), Code::kInvalid);
}

TEST(AuthTest, GenerateTokenIsRandomHex) {
  std::string a, b;
  ASSERT_TRUE(GenerateToken(&a).ok());
  ASSERT_TRUE(GenerateToken(&b).ok());
  EXPECT_EQ(a.size(), 64u);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace tide
