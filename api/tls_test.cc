#include "api/tls.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "api/client.h"
#include "api/tls_testutil.h"

namespace tide {
namespace {

using testing::MakeTestCa;
using testing::MakeTestCert;
using testing::TestCert;
using testing::WriteTestCert;
using testing::WriteTestFile;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tide-tls-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ca_ = MakeTestCa("tide test CA");
    other_ca_ = MakeTestCa("someone else's CA");
    WriteTestCert(ca_, dir_ + "/ca.crt", "");
    WriteTestCert(other_ca_, dir_ + "/other-ca.crt", "");
    WriteTestCert(MakeTestCert(ca_, "tided", {"IP:127.0.0.1", "DNS:localhost"}),
                  dir_ + "/server.crt", dir_ + "/server.key");
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
    std::filesystem::remove_all(dir_);
  }

  // An https server on 127.0.0.1 with this certificate, answering GET /hello.
  void Serve(const std::string& cert, const std::string& key) {
    server_ = std::make_unique<httplib::SSLServer>(
        [&](SSL_CTX& ctx) { return ConfigureServerTls(&ctx, cert, key).ok(); });
    ASSERT_TRUE(server_->is_valid());
    server_->Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hello\n", "text/plain");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    for (int i = 0; i < 5000 && !server_->is_running(); ++i) std::this_thread::yield();
  }

  Status Get(const std::string& host, const std::string& ca_file, Response* r, bool pin = false) {
    ClientConfig c{"https://" + host + ":" + std::to_string(port_), "", 5, ca_file, pin};
    Client cli(c);
    return cli.Get("/hello", r);
  }

  std::string dir_;
  TestCert ca_, other_ca_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(TlsTest, ServerFileProblemsNameTheFile) {
  Status st = CheckServerTlsFiles(dir_ + "/missing.crt", dir_ + "/server.key");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir_ + "/missing.crt"), std::string::npos) << st.message();

  WriteTestFile(dir_ + "/garbage.key", "SECRET-LOOKING-BYTES not a key\n");
  st = CheckServerTlsFiles(dir_ + "/server.crt", dir_ + "/garbage.key");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir_ + "/garbage.key"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("SECRET-LOOKING"), std::string::npos) << "key bytes quoted";

  // A valid key that belongs to another certificate.
  WriteTestCert(MakeTestCert(ca_, "other", {"DNS:other"}), "", dir_ + "/other.key");
  st = CheckServerTlsFiles(dir_ + "/server.crt", dir_ + "/other.key");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not match"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(dir_ + "/other.key"), std::string::npos) << st.message();

  // The key where the certificate should be.
  st = CheckServerTlsFiles(dir_ + "/server.key", dir_ + "/server.key");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("certificate file " + dir_ + "/server.key"), std::string::npos)
      << st.message();

  EXPECT_TRUE(CheckServerTlsFiles(dir_ + "/server.crt", dir_ + "/server.key").ok());
}

TEST_F(TlsTest, CaFileMustHoldACertificate) {
  EXPECT_TRUE(CheckCaFile(dir_ + "/ca.crt").ok());
  Status st = CheckCaFile(dir_ + "/nope.crt");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir_ + "/nope.crt"), std::string::npos);
  WriteTestFile(dir_ + "/empty.crt", "");
  st = CheckCaFile(dir_ + "/empty.crt");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir_ + "/empty.crt"), std::string::npos);
}

TEST_F(TlsTest, ContextsRefuseBelowTls12) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  ASSERT_TRUE(ConfigureServerTls(ctx, dir_ + "/server.crt", dir_ + "/server.key").ok());
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
  SSL_CTX_free(ctx);
  ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_TRUE(ConfigureClientTls(ctx, {dir_ + "/ca.crt", false}, "127.0.0.1", nullptr).ok());
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
  SSL_CTX_free(ctx);
}

TEST_F(TlsTest, ClientTrustsOnlyItsCaAndChecksTheName) {
  Serve(dir_ + "/server.crt", dir_ + "/server.key");
  Response r;
  Status st = Get("127.0.0.1", dir_ + "/ca.crt", &r);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(r.body, "hello\n");
  ASSERT_TRUE(Get("localhost", dir_ + "/ca.crt", &r).ok());

  // Another CA: refused before any request is sent, and the message says why.
  st = Get("127.0.0.1", dir_ + "/other-ca.crt", &r);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(IsUnreachable(st, r));
  EXPECT_NE(st.message().find("certificate was refused"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(dir_ + "/other-ca.crt"), std::string::npos) << st.message();

  // No CA file: the system's CAs, which never signed a test CA.
  st = Get("127.0.0.1", "", &r);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("certificate was refused"), std::string::npos) << st.message();

  // A CA file that is not there: a usage error, not "unreachable".
  st = Get("127.0.0.1", dir_ + "/missing-ca.crt", &r);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_NE(st.message().find(dir_ + "/missing-ca.crt"), std::string::npos) << st.message();
}

TEST_F(TlsTest, ACertificateForAnotherNameIsRefused) {
  WriteTestCert(MakeTestCert(ca_, "elsewhere", {"DNS:other.example"}), dir_ + "/else.crt",
                dir_ + "/else.key");
  Serve(dir_ + "/else.crt", dir_ + "/else.key");
  Response r;
  Status st = Get("127.0.0.1", dir_ + "/ca.crt", &r);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not name the host"), std::string::npos) << st.message();
  // Pinned, the very same certificate is trusted under any name (the in-process agent's case).
  st = Get("127.0.0.1", dir_ + "/else.crt", &r, /*pin=*/true);
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST_F(TlsTest, AnExpiredCertificateIsRefused) {
  WriteTestCert(MakeTestCert(ca_, "old", {"IP:127.0.0.1"}, -60), dir_ + "/old.crt",
                dir_ + "/old.key");
  Serve(dir_ + "/old.crt", dir_ + "/old.key");
  Response r;
  Status st = Get("127.0.0.1", dir_ + "/ca.crt", &r);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("expired"), std::string::npos) << st.message();
}

TEST_F(TlsTest, PinningAnotherCertificateIsRefused) {
  Serve(dir_ + "/server.crt", dir_ + "/server.key");
  Response r;
  ASSERT_TRUE(Get("127.0.0.1", dir_ + "/server.crt", &r, /*pin=*/true).ok());
  WriteTestCert(MakeTestCert(ca_, "other", {"IP:127.0.0.1"}), dir_ + "/other.crt", "");
  EXPECT_FALSE(Get("127.0.0.1", dir_ + "/other.crt", &r, /*pin=*/true).ok());
}

TEST_F(TlsTest, ResolveTakesTheCaFileFromFlagEnvOrConfig) {
  WriteTestFile(dir_ + "/config.yaml", "server: https://127.0.0.1:1\ncaFile: /from/config\n");
  setenv("TIDE_CONFIG", (dir_ + "/config.yaml").c_str(), 1);
  unsetenv("TIDE_CA_FILE");
  unsetenv("TIDE_SERVER");
  ClientConfig c;
  ASSERT_TRUE(ResolveClientConfig("", "", "", &c).ok());
  EXPECT_EQ(c.ca_file, "/from/config");
  setenv("TIDE_CA_FILE", "/from/env", 1);
  ASSERT_TRUE(ResolveClientConfig("", "", "", &c).ok());
  EXPECT_EQ(c.ca_file, "/from/env");
  ASSERT_TRUE(ResolveClientConfig("", "", "/from/flag", &c).ok());
  EXPECT_EQ(c.ca_file, "/from/flag");
  unsetenv("TIDE_CA_FILE");
  unsetenv("TIDE_CONFIG");
}

}  // namespace
}  // namespace tide
