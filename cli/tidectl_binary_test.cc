// Runs the real tidectl binary as a subprocess against a fake server and checks its output and
// exit codes (0 done, 1 refused, 2 usage, 3 unreachable).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/fake_server_testutil.h"

extern char** environ;

namespace tide::cli {
namespace {

namespace fs = std::filesystem;
using testing::FakeServer;
using testing::Json;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class TidectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tidectl-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

  static std::string Slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Runs tidectl ARGS with a clean environment (plus `env`), stdin from `stdin_text`.
  Result Run(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
             const std::string& stdin_text = "") {
    std::string in_path = Write("stdin", stdin_text);
    std::string out_path = (dir_ / "stdout").string();
    std::string err_path = (dir_ / "stderr").string();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in_path.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<std::string> argv_s = {TIDECTL_PATH};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s = {"HOME=" + dir_.string(),
                                      "TIDE_CONFIG=" + (dir_ / "no-config.yaml").string()};
    for (const auto& e : env) {  // a later NAME=value replaces an earlier one
      std::string name = e.substr(0, e.find('=') + 1);
      std::erase_if(env_s, [&](const std::string& x) { return x.rfind(name, 0) == 0; });
      env_s.push_back(e);
    }
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    Result r;
    int rc = posix_spawn(&pid, TIDECTL_PATH, &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "spawn failed";
    if (rc != 0) return r;
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = Slurp(out_path);
    r.err = Slurp(err_path);
    return r;
  }

  fs::path dir_;
};

TEST_F(TidectlTest, GetWorkloadsTable) {
  FakeServer fake;
  std::string auth;
  fake.server().Get("/v1/workloads", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(fake.mu);
    auth = req.get_header_value("Authorization");
    Json(res, R"({"items":[{"kind":"Service","metadata":{"name":"users"},
      "status":{"desiredReplicas":2,"readyReplicas":2,"phase":"Running"}}]})");
  });
  fake.Start();
  Result r = Run({"get", "workloads", "--server", fake.url()}, {"TIDE_TOKEN=envtok"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "NAME    KIND      DESIRED   READY   PHASE     AGE\n"
            "users   Service   2         2       Running   -\n");
  std::lock_guard<std::mutex> lock(fake.mu);
  EXPECT_EQ(auth, "Bearer envtok");
}

TEST_F(TidectlTest, ServerAndTokenFromConfigFile) {
  FakeServer fake;
  std::string auth;
  fake.server().Get("/v1/version", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(fake.mu);
    auth = req.get_header_value("Authorization");
    Json(res, R"({"version":"9.9.9","gitCommit":"abc"})");
  });
  fake.Start();
  std::string cfg = Write("tidectl.yaml", "server: " + fake.url() + "\ntoken: filetok\n");
  Result r = Run({"version"}, {"TIDE_CONFIG=" + cfg});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Server Version: 9.9.9 (commit abc)"), std::string::npos) << r.out;
  std::lock_guard<std::mutex> lock(fake.mu);
  EXPECT_EQ(auth, "Bearer filetok");
}

TEST_F(TidectlTest, ApplyErrorPrintsDetailsAndExits1) {
  FakeServer fake;
  fake.server().Post("/v1/apply", [&](const httplib::Request& req, httplib::Response& res) {
    std::string file = req.get_header_value("X-Tide-Filename");
    Json(res,
         R"({"error":{"code":"InvalidManifest","message":"invalid manifest","details":[{"file":")" +
             file + R"(","line":3,"column":13,"path":"spec.replicas","message":"must be >= 0"}]}})",
         400);
  });
  fake.Start();
  std::string path = Write("bad.yaml", "kind: Service\nspec:\n  replicas: -1\n");
  Result r = Run({"--server", fake.url(), "apply", "-f", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "error: invalid manifest\n" + path + ":3:13: spec.replicas: must be >= 0\n");
}

TEST_F(TidectlTest, UnreachableExits3) {
  std::string url = "http://127.0.0.1:" + std::to_string(testing::UnusedPort());
  Result r = Run({"get", "nodes"}, {"TIDE_SERVER=" + url});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("cannot reach server " + url), std::string::npos) << r.err;
}

TEST_F(TidectlTest, UsageErrorsExit2) {
  EXPECT_EQ(Run({}).exit_code, 2);
  EXPECT_EQ(Run({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Run({"get"}).exit_code, 2);
  EXPECT_EQ(Run({"get", "workloads", "-o", "xml"}).exit_code, 2);
  EXPECT_EQ(Run({"scale", "users"}).exit_code, 2);  // --replicas missing
  EXPECT_EQ(Run({"apply"}).exit_code, 2);           // -f missing
  EXPECT_EQ(Run({"apply", "-f", "x", "--wait", "--timeout", "soon"}).exit_code, 2);
  Result r = Run({"get", "pods", "--server", "http://127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown resource type \"pods\""), std::string::npos) << r.err;
  Result help = Run({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("apply"), std::string::npos);
}

}  // namespace
}  // namespace tide::cli
