// TLS end to end (docs/security.md "TLS"): tided's API and an agent's API over https with a CA
// made at run time; agents, tidectl and tided's log proxy verify; whoever does not hold the CA,
// and plain HTTP, is refused; bad key files stop the start with the file named.
#include <gtest/gtest.h>

#include "api/tls_testutil.h"
#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

std::string ServiceYaml(const std::string& name) {
  return "apiVersion: tide/v1\nkind: Service\nmetadata:\n  name: " + name +
         "\nspec:\n  command: [\"" + TestappBin() +
         "\", \"--port\", \"${PORT}\"]\n  replicas: 1\n  terminationGracePeriodSeconds: 2\n";
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string& d = dir_.path();
    TestCert ca = MakeTestCa("tide test CA");
    WriteTestCert(ca, d + "/ca.crt", "");
    WriteTestCert(MakeTestCa("another CA"), d + "/other-ca.crt", "");
    WriteTestCert(MakeTestCert(ca, "tided", {"IP:127.0.0.1", "DNS:localhost"}), d + "/tided.crt",
                  d + "/tided.key");
    WriteTestCert(MakeTestCert(ca, "node-a", {"IP:127.0.0.1"}), d + "/agent.crt", d + "/agent.key");
    SetHttpsCaFile(d + "/ca.crt");
  }
  void TearDown() override {
    SetHttpsCaFile("");
    if (HasFailure() && tided_) std::cerr << tided_->proc()->Log().substr(0, 20000) << "\n";
    if (HasFailure() && agent_) std::cerr << agent_->proc()->Log().substr(0, 20000) << "\n";
  }
  std::vector<std::string> TlsArgs() const {
    return {"--tls-cert", dir_.path() + "/tided.crt", "--tls-key", dir_.path() + "/tided.key"};
  }
  bool WaitReady(const std::string& workload) {
    return WaitFor([&] { return tided_->ReadyCount(workload) == 1; }, 30s);
  }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
  std::unique_ptr<AgentProc> agent_;
};

TEST_F(TlsTest, AgentAndTidectlWithTheCaWorkOthersAreRefused) {
  Tided::Options o;
  o.https = true;
  o.extra_args = TlsArgs();
  o.extra_args.insert(o.extra_args.end(), {"--ca-file", dir_.path() + "/ca.crt"});
  tided_ = std::make_unique<Tided>(dir_.path(), o);
  const int base = ReservePortBlock();
  agent_ =
      std::make_unique<AgentProc>(dir_.path(), *tided_, "node-a", base, base + 49,
                                  "--ca-file " + dir_.path() + "/ca.crt --tls-cert " + dir_.path() +
                                      "/agent.crt --tls-key " + dir_.path() + "/agent.key");
  ASSERT_EQ(tided_->Post("/v1/apply", ServiceYaml("web")).status, 200);
  ASSERT_TRUE(WaitReady("web")) << tided_->Get("/v1/instances?workload=web").body;

  // tided reaches the agent's https API (it checks the agent's certificate with --ca-file).
  auto logs = tided_->Get("/v1/workloads/web/logs?tail=5");
  EXPECT_EQ(logs.status, 200) << logs.body;

  const std::string ca = dir_.path() + "/ca.crt";
  CmdResult ok = RunTidectl({"get", "workloads", "--ca-file", ca}, tided_->api(), tided_->token());
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("web"), std::string::npos) << ok.out;

  // Without the CA (the system's CAs) and with another CA: no answer is trusted, exit 3, and
  // the message says why.
  CmdResult none = RunTidectl({"get", "workloads"}, tided_->api(), tided_->token());
  EXPECT_EQ(none.code, 3) << none.err;
  EXPECT_NE(none.err.find("certificate was refused"), std::string::npos) << none.err;
  CmdResult wrong = RunTidectl({"get", "workloads", "--ca-file", dir_.path() + "/other-ca.crt"},
                               tided_->api(), tided_->token());
  EXPECT_EQ(wrong.code, 3) << wrong.err;
  EXPECT_NE(wrong.err.find("other-ca.crt"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.out.find("web"), std::string::npos) << "an untrusted server's answer was shown";

  // A CA file that does not exist is a usage error naming it.
  CmdResult missing = RunTidectl({"get", "workloads", "--ca-file", dir_.path() + "/nope.crt"},
                                 tided_->api(), tided_->token());
  EXPECT_EQ(missing.code, 2) << missing.err;
  EXPECT_NE(missing.err.find("nope.crt"), std::string::npos) << missing.err;

  // Plain HTTP to the TLS port: a plain 400 that says to use https, never an API answer.
  std::string plain = tided_->api();
  plain.replace(0, 5, "http");
  HttpResult p = Http("GET", plain + "/v1/workloads", "", tided_->token());
  EXPECT_EQ(p.status, 400);
  EXPECT_NE(p.body.find("https://"), std::string::npos) << p.body;
  CmdResult cp = RunTidectl({"get", "workloads"}, plain, tided_->token());
  EXPECT_EQ(cp.code, 1);
  EXPECT_NE(cp.err.find("TLS"), std::string::npos) << cp.err;

  // The agent's own API refuses a client without its CA as well.
  SetHttpsCaFile(dir_.path() + "/other-ca.crt");
  EXPECT_EQ(Http("GET", "https://127.0.0.1:" + agent_->api_url().substr(17) + "/healthz").status,
            0);
}

TEST_F(TlsTest, TheLocalAgentTrustsTidedsOwnCertificate) {
  Tided::Options o;
  o.https = true;
  o.local_agent = true;
  o.extra_args = TlsArgs();
  tided_ = std::make_unique<Tided>(dir_.path(), o);
  ASSERT_EQ(tided_->Post("/v1/apply", ServiceYaml("local")).status, 200);
  EXPECT_TRUE(WaitReady("local"));
}

TEST_F(TlsTest, BadKeyOrCertificateFilesStopTheStartNamingTheFile) {
  const std::string& d = dir_.path();
  WriteTestCert(MakeTestCert(MakeTestCa("x"), "x", {"IP:127.0.0.1"}), "", d + "/wrong.key");
  WriteFile(d + "/garbage.key", "not a key\n");
  struct Case {
    std::string cert, key, expect;
  } cases[] = {
      {d + "/tided.crt", d + "/wrong.key", d + "/wrong.key"},
      {d + "/tided.crt", d + "/garbage.key", d + "/garbage.key"},
      {d + "/missing.crt", d + "/tided.key", d + "/missing.crt"},
      {d + "/tided.crt", "", "--tls-key"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {TidedBin(),  "--api-listen",     "127.0.0.1:0", "--data-dir",
                                     d + "/data", "--no-local-agent", "--tls-cert",  c.cert};
    if (!c.key.empty()) argv.insert(argv.end(), {"--tls-key", c.key});
    Proc p(argv, d + "/bad-start.log");
    ASSERT_TRUE(WaitFor([&] { return !p.Alive(); }, 10s)) << "tided started with " << c.key;
    EXPECT_NE(p.Log().find(c.expect), std::string::npos) << p.Log();
  }
}

}  // namespace
}  // namespace tide::testing
