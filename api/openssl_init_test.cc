#include "api/openssl_init.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "api/client.h"
#include "api/tls.h"
#include "api/tls_testutil.h"

// This test program starts as tide-agent does: OpenSSL's start-up steps skipped unless its
// command line asks for TLS.
TIDE_OPENSSL_INIT_ON_DEMAND();

namespace tide {
namespace {

bool Asks(std::vector<std::string> args) {
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ArgsAskForTls(static_cast<int>(argv.size()), argv.data());
}

TEST(ArgsAskForTls, OnlyAnHttpsUrlOrATlsFileFlagAsks) {
  EXPECT_FALSE(Asks({}));
  EXPECT_FALSE(Asks({"--server", "http://127.0.0.1:7400", "--listen", "127.0.0.1:7401"}));
  EXPECT_FALSE(Asks({"--name", "tls-node", "--data-dir", "/var/lib/https"}));
  EXPECT_TRUE(Asks({"--server", "https://10.0.0.1:7400"}));
  EXPECT_TRUE(Asks({"--server=http://a:1,https://b:2"}));
  EXPECT_TRUE(Asks({"--tls-cert", "a.crt", "--tls-key", "a.key"}));
  EXPECT_TRUE(Asks({"--ca-file=/etc/tide/ca.crt"}));
  // The program's own name is not an argument.
  std::string name = "https://x";
  char* argv[] = {name.data(), nullptr};
  EXPECT_FALSE(ArgsAskForTls(1, argv));
}

// A reason string of libssl's, present only once error strings are loaded.
const char* SslReasonText() {
  return ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_NO_SHARED_CIPHER));
}

TEST(OpenSslInit, StepsSkippedBeforeMainStaySkippedAfterHttplibsConstructor) {
  if (getenv("TIDE_OPENSSL_INIT_CHILD")) GTEST_SKIP() << "child run";
  // ctest runs this program without TLS arguments: libcpp-httplib's constructor asked OpenSSL
  // to load its error strings, and nothing was loaded.
  EXPECT_EQ(SslReasonText(), nullptr);
}

// An https server with a certificate of a fresh CA, and a verified, name-checked GET to it.
Status HttpsRoundTrip(std::string* body) {
  char tmpl[] = "/tmp/tide-openssl-init-XXXXXX";
  if (!mkdtemp(tmpl)) return Status::Internal("mkdtemp");
  const std::string dir = tmpl;
  auto ca = testing::MakeTestCa("tide test CA");
  testing::WriteTestCert(ca, dir + "/ca.crt", "");
  testing::WriteTestCert(testing::MakeTestCert(ca, "tided", {"IP:127.0.0.1"}), dir + "/s.crt",
                         dir + "/s.key");
  Status served;
  httplib::SSLServer server([&](SSL_CTX& ctx) {
    served = ConfigureServerTls(&ctx, dir + "/s.crt", dir + "/s.key");
    return served.ok();
  });
  Status st = served;
  if (server.is_valid()) {
    server.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hello\n", "text/plain");
    });
    const int port = server.bind_to_any_port("127.0.0.1");
    std::thread t([&] { server.listen_after_bind(); });
    {
      Client cli(ClientConfig{"https://127.0.0.1:" + std::to_string(port), "", 5, dir + "/ca.crt"});
      Response r;
      st = cli.Get("/hello", &r);
      *body = r.body;
    }  // the client's kept connection closes before the server stops
    server.stop();
    t.join();
  }
  std::filesystem::remove_all(dir);
  return st;
}

TEST(OpenSslInit, ChildWithTlsArgumentsHasTheFullStart) {
  if (!getenv("TIDE_OPENSSL_INIT_CHILD")) GTEST_SKIP() << "run by ATlsCommandLineKeepsTheFullStart";
  ASSERT_NE(SslReasonText(), nullptr);
  EXPECT_STREQ(SslReasonText(), "no shared cipher");
  EXPECT_TRUE(TlsAvailable().ok());
  std::string body;
  Status st = HttpsRoundTrip(&body);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(body, "hello\n");
}

TEST(OpenSslInit, ATlsCommandLineKeepsTheFullStart) {
  if (getenv("TIDE_OPENSSL_INIT_CHILD")) GTEST_SKIP() << "child run";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("TIDE_OPENSSL_INIT_CHILD", "1", 1);
    execl("/proc/self/exe", "openssl_init_test",
          "--gtest_filter=OpenSslInit.ChildWithTlsArgumentsHasTheFullStart",
          "--server=https://127.0.0.1:1", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child with --server=https:// failed (its output above)";
}

// In a process that skipped the start, TLS is refused up front, saying how to turn it on, rather
// than failing in a handshake with an OpenSSL code.
TEST(OpenSslInit, TlsInAProcessThatSkippedTheStartIsAClearError) {
  if (getenv("TIDE_OPENSSL_INIT_CHILD")) GTEST_SKIP() << "child run";
  Status st = TlsAvailable();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--tls-cert"), std::string::npos) << st.message();
  std::string body;
  st = HttpsRoundTrip(&body);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("TLS is off in this process"), std::string::npos) << st.message();
  EXPECT_EQ(CheckCaFile("/etc/ssl/certs/ca-certificates.crt").code(), Status::Code::kInvalid);
  // A client too, before it connects anywhere.
  Client cli(ClientConfig{"https://127.0.0.1:1", "", 5});
  Response r;
  st = cli.Get("/hello", &r);
  EXPECT_NE(st.message().find("TLS is off in this process"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace tide
