// Secrets end to end (issue 15 item 2, docs/security.md "Secrets"): a workload's process gets a
// Secret's value in its environment, and the value is nowhere else: not in any API answer, any
// tidectl output, any log line, nor any file under tided's or the agent's data directories
// (tide.db and its WAL included). The store opens only with the right key, refuses tampered
// data, and a key rotation re-seals everything.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

std::string RandomValue(const std::string& prefix) {
  std::random_device rd;
  std::ostringstream s;
  s << prefix << std::hex << rd() << rd() << rd();
  return s.str();
}

std::string SecretYaml(const std::string& name, const std::string& value) {
  return "apiVersion: tide/v1\nkind: Secret\nmetadata: {name: " + name +
         "}\nspec:\n  data:\n    password: \"" + value + "\"\n    user: app\n";
}

std::string ServiceYaml(const std::string& name, const std::string& secret) {
  return "apiVersion: tide/v1\nkind: Service\nmetadata: {name: " + name +
         "}\nspec:\n  command: [\"" + TestappBin() +
         "\", \"--port\", \"${PORT}\"]\n  terminationGracePeriodSeconds: 1\n  env:\n    PLAIN: "
         "visible\n    DB_PASSWORD: {secretRef: {name: " +
         secret + ", key: password}}\n";
}

// Every regular file below `dir` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle,
                                         int* scanned) {
  std::vector<std::string> hits;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec || !it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ++*scanned;
    if (bytes.find(needle) != std::string::npos) hits.push_back(it->path().string());
  }
  return hits;
}

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tided_ = std::make_unique<Tided>(dir_.path());
    int base = ReservePortBlock();
    WriteFile(dir_.path() + "/agent-api.token", "agent-api-token-0123456789abcdef\n");
    agent_ = std::make_unique<AgentProc>(dir_.path(), *tided_, "node-a", base, base + 49,
                                         "--api-token-file " + dir_.path() + "/agent-api.token");
    ASSERT_TRUE(WaitFor(
        [&] {
          json n = tided_->Get("/v1/nodes").Json();
          return n.contains("items") && n["items"].size() == 1;
        },
        10s))
        << tided_->proc()->Log();
  }
  void TearDown() override {
    if (HasFailure() && tided_) {
      std::cerr << "---- tided log ----\n" << tided_->proc()->Log().substr(0, 20000) << "\n";
      if (agent_) std::cerr << "---- agent log ----\n" << agent_->proc()->Log().substr(0, 10000);
      PrintInstanceLogTails(dir_.path());
    }
    agent_.reset();
    tided_.reset();
  }

  void Apply(const std::string& yaml) {
    auto r = tided_->Post("/v1/apply", yaml);
    ASSERT_EQ(r.status, 200) << r.body;
    answers_ += r.body;
  }

  json ReadyInstance(const std::string& workload, int64_t min_generation = 1) {
    json found;
    WaitFor(
        [&] {
          for (const auto& i : tided_->Instances(workload)) {
            if (i.value("state", "") == "Ready" && i.value("generation", 0) >= min_generation) {
              found = i;
              return true;
            }
          }
          return false;
        },
        20s);
    return found;
  }

  std::string EnvOf(const json& inst, const std::string& var) {
    auto r = Http("GET",
                  "http://127.0.0.1:" + std::to_string(inst.value("port", 0)) + "/env?name=" + var);
    return r.status == 200 ? r.body : "<status " + std::to_string(r.status) + ">";
  }

  CmdResult Ctl(const std::vector<std::string>& args) {
    CmdResult r = RunTidectl(args, tided_->api(), tided_->token());
    answers_ += r.out + r.err;
    return r;
  }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
  std::unique_ptr<AgentProc> agent_;
  std::string answers_;  // every API answer and tidectl output seen
};

TEST_F(SecretsTest, TheValueReachesTheProcessAndNothingElse) {
  const std::string value = RandomValue("pw-");
  Apply(SecretYaml("db", value));
  Apply(ServiceYaml("app", "db"));
  json inst = ReadyInstance("app");
  ASSERT_FALSE(inst.is_null());
  EXPECT_EQ(EnvOf(inst, "DB_PASSWORD"), value);
  EXPECT_EQ(EnvOf(inst, "PLAIN"), "visible");
  // argv is public: the value must not be in the process's command line.
  EXPECT_EQ(ReadFileText("/proc/" + std::to_string(inst.value("pid", 0)) + "/cmdline").find(value),
            std::string::npos);

  // The agent restarts; then the instance dies: its replacement process still gets the value,
  // which the agent can only have from tided again (it never writes it down).
  const int old_pid = inst.value("pid", 0);
  agent_->Kill9();
  agent_->Start();
  ASSERT_TRUE(WaitFor(
      [&] {
        json n = tided_->Get("/v1/nodes/node-a").Json();
        return n.value("state", "") == "Ready";
      },
      15s));
  ASSERT_EQ(::kill(old_pid, SIGKILL), 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& i : tided_->Instances("app")) {
          if (i.value("state", "") == "Ready" && i.value("pid", 0) != old_pid) {
            inst = i;
            return true;
          }
        }
        return false;
      },
      30s));
  EXPECT_EQ(EnvOf(inst, "DB_PASSWORD"), value);

  // Every answer a client can get, as the admin and as a read token.
  for (const std::string path :
       {"/v1/workloads", "/v1/workloads/app", "/v1/secrets", "/v1/secrets/db", "/v1/events",
        "/v1/instances", "/v1/nodes", "/v1/nodes/node-a", "/v1/layers",
        "/v1/workloads/app/logs?tail=100", "/metrics"}) {
    auto admin = tided_->Get(path);
    EXPECT_EQ(admin.status, 200) << path << ": " << admin.body;
    answers_ += admin.body;
    auto read = Http("GET", tided_->api() + path, "", Tided::ReadToken());
    answers_ += read.body;
  }
  json sec = tided_->Get("/v1/secrets/db").Json();
  EXPECT_EQ(sec["spec"]["keys"], json({"password", "user"})) << sec.dump();
  EXPECT_EQ(sec["status"]["usedBy"], json({"app"})) << sec.dump();
  // A read token cannot take an agent's place to receive assignments (where values travel).
  auto steal = Http("GET", tided_->api() + "/v1/agent/assignments?node=node-a&waitMs=0", "",
                    Tided::ReadToken());
  EXPECT_EQ(steal.status, 403) << steal.body;
  answers_ += steal.body;

  for (const auto& args :
       std::vector<std::vector<std::string>>{{"get", "secrets"},
                                             {"get", "secret", "db", "-o", "yaml"},
                                             {"get", "secret", "db", "-o", "json"},
                                             {"get", "secrets", "-o", "wide"},
                                             {"describe", "secret", "db"},
                                             {"describe", "workload", "app"},
                                             {"get", "workloads", "-o", "yaml"},
                                             {"get", "workload", "app", "-o", "json"},
                                             {"get", "events"},
                                             {"logs", "app"}}) {
    CmdResult r = Ctl(args);
    EXPECT_EQ(r.code, 0) << args[0] << " " << args[1] << ": " << r.err;
  }
  CmdResult listed = Ctl({"get", "secrets"});
  EXPECT_NE(listed.out.find("password,user"), std::string::npos) << listed.out;
  CmdResult yaml = Ctl({"get", "secret", "db", "-o", "yaml"});
  EXPECT_NE(yaml.out.find("never shown"), std::string::npos) << yaml.out;
  // The redacted form applied back is refused, saying why, and changes nothing.
  auto back = tided_->Post("/v1/apply", yaml.out);
  EXPECT_EQ(back.status, 400) << back.body;
  EXPECT_NE(back.body.find("redacted"), std::string::npos) << back.body;
  EXPECT_EQ(EnvOf(inst, "DB_PASSWORD"), value);
  answers_ += back.body;

  EXPECT_EQ(answers_.find(value), std::string::npos) << "an answer shows the secret value";
  int scanned = 0;
  auto hits = FilesContaining(dir_.path(), value, &scanned);
  EXPECT_TRUE(hits.empty()) << "the value is in clear in " << hits.front();
  EXPECT_GT(scanned, 5);  // tide.db, its WAL, instances.json, logs...
  EXPECT_TRUE(std::filesystem::exists(tided_->data_dir() + "/tide.db-wal"));
}

TEST_F(SecretsTest, ChangingASecretRollsOutItsUsersAndDeleteInUseIsRefused) {
  const std::string v1 = RandomValue("one-"), v2 = RandomValue("two-");
  Apply(SecretYaml("db", v1));
  Apply(ServiceYaml("app", "db"));
  json inst = ReadyInstance("app");
  ASSERT_FALSE(inst.is_null());
  ASSERT_EQ(EnvOf(inst, "DB_PASSWORD"), v1);
  const int64_t gen = tided_->Get("/v1/workloads/app").Json()["metadata"].value("generation", 0);
  Apply(SecretYaml("db", v2));
  inst = ReadyInstance("app", gen + 1);
  ASSERT_FALSE(inst.is_null());
  EXPECT_EQ(EnvOf(inst, "DB_PASSWORD"), v2);
  // Applying the same data again changes nothing.
  auto same = tided_->Post("/v1/apply", SecretYaml("db", v2));
  EXPECT_NE(same.body.find("unchanged"), std::string::npos) << same.body;

  auto del = tided_->Delete("/v1/secrets/db");
  EXPECT_EQ(del.status, 409) << del.body;
  EXPECT_NE(del.body.find("app"), std::string::npos) << del.body;
  ASSERT_EQ(tided_->Delete("/v1/workloads/app").status, 200);
  CmdResult gone = Ctl({"delete", "secret", "db"});
  EXPECT_EQ(gone.code, 0) << gone.err;
  EXPECT_EQ(tided_->Get("/v1/secrets/db").status, 404);
}

TEST_F(SecretsTest, AWorkloadWhoseSecretIsMissingWaitsWithAClearReason) {
  Apply(ServiceYaml("app", "later"));
  ASSERT_TRUE(WaitFor(
      [&] {
        json ev = tided_->Get("/v1/events?workload=app").Json();
        return ev.dump().find("secret \\\"later\\\" does not exist") != std::string::npos;
      },
      10s))
      << tided_->Get("/v1/events?workload=app").body;
  EXPECT_EQ(tided_->ReadyCount("app"), 0);
  bool condition = WaitFor(
      [&] {
        const json w = tided_->Get("/v1/workloads/app").Json();
        if (!w.contains("status") || !w["status"].contains("conditions")) return false;
        for (const auto& c : w["status"]["conditions"]) {
          if (c.value("type", "") == "Scheduled" && c.value("reason", "") == "SecretMissing") {
            return true;
          }
        }
        return false;
      },
      10s);
  EXPECT_TRUE(condition) << tided_->Get("/v1/workloads/app").body;
  const std::string value = RandomValue("late-");
  Apply(SecretYaml("later", value));
  json inst = ReadyInstance("app");
  ASSERT_FALSE(inst.is_null());
  EXPECT_EQ(EnvOf(inst, "DB_PASSWORD"), value);
}

TEST_F(SecretsTest, HostileManifestsGetOneClearErrorAndNothingIsStored) {
  struct Case {
    std::string yaml, want;
  };
  const std::string v = RandomValue("hostile-");
  const std::vector<Case> cases = {
      // Kubernetes' spelling: one error, saying how to write it here.
      {"apiVersion: tide/v1\nkind: Service\nmetadata: {name: k}\nspec:\n  command: [/bin/true]\n"
       "  env:\n    P: {valueFrom: {secretKeyRef: {name: db, key: p}}}\n",
       "secretRef"},
      // A secret expanded into argv would be readable in /proc/PID/cmdline.
      {"apiVersion: tide/v1\nkind: Service\nmetadata: {name: argv}\nspec:\n  command: [/bin/echo, "
       "\"${P}\"]\n  env:\n    P: {secretRef: {name: db, key: p}}\n",
       "cmdline"},
      // The value in the wrong place is refused without being echoed.
      {"apiVersion: tide/v1\nkind: Secret\nmetadata: {name: bad}\nspec:\n  data: \"" + v + "\"\n",
       "not shown"},
      {"apiVersion: tide/v1\nkind: Secret\nmetadata: {name: bad}\nspec:\n  data:\n    p: [\"" + v +
           "\"]\n",
       "not shown"},
  };
  for (const auto& c : cases) {
    auto r = tided_->Post("/v1/apply", c.yaml);
    EXPECT_EQ(r.status, 400) << c.yaml;
    json details = r.Json()["error"]["details"];
    EXPECT_EQ(details.size(), 1u) << r.body;
    EXPECT_NE(r.body.find(c.want), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(v), std::string::npos) << r.body;
  }
  EXPECT_EQ(tided_->Get("/v1/secrets").Json()["items"].size(), 0u);
  EXPECT_EQ(tided_->Get("/v1/workloads").Json()["items"].size(), 0u);
}

// tided on a data dir, expected to refuse to start: its output once it exited.
std::string FailedStart(const std::string& dir, const std::string& data_dir,
                        std::vector<std::string> extra) {
  std::vector<std::string> argv = {TidedBin(),
                                   "--data-dir",
                                   data_dir,
                                   "--api-listen",
                                   "127.0.0.1:" + std::to_string(FreePort()),
                                   "--gateway-listen",
                                   "127.0.0.1:" + std::to_string(FreePort()),
                                   "--no-local-agent"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Proc p(argv, dir + "/failed-start.log");
  if (!WaitFor([&] { return !p.Alive(); }, 20s)) return "<still running>";
  return p.Log();
}

TEST_F(SecretsTest, WrongKeyTamperedDataAndKeyRotation) {
  const std::string value = RandomValue("rest-");
  Apply(SecretYaml("db", value));
  const std::string data = tided_->data_dir();
  const std::string key = data + "/secrets.key";
  ASSERT_TRUE(std::filesystem::exists(key));
  EXPECT_EQ(std::filesystem::status(key).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_NE(tided_->proc()->Log().find("generated a new secrets key"), std::string::npos);
  agent_.reset();
  tided_->Kill9();

  // A wrong key: tided does not start, and says which key file and which key id.
  const std::string other = dir_.path() + "/other.key";
  WriteFile(other, std::string(64, 'b') + "\n");
  ::chmod(other.c_str(), 0600);
  std::string log = FailedStart(dir_.path(), data, {"--secrets-key-file", other});
  EXPECT_NE(log.find(other), std::string::npos) << log;
  EXPECT_NE(log.find("key id"), std::string::npos) << log;
  // A key file others can read is refused.
  ::chmod(other.c_str(), 0644);
  log = FailedStart(dir_.path(), data, {"--secrets-key-file", other});
  EXPECT_NE(log.find("chmod 600"), std::string::npos) << log;
  ::chmod(other.c_str(), 0600);

  // Rotation: the new key seals everything; the old one then opens nothing.
  {
    // On the same data dir, so the binary is run here (the harness's Tided makes its own).
    std::vector<std::string> argv = {TidedBin(),
                                     "--data-dir",
                                     data,
                                     "--api-listen",
                                     "127.0.0.1:" + std::to_string(FreePort()),
                                     "--gateway-listen",
                                     "127.0.0.1:" + std::to_string(FreePort()),
                                     "--no-local-agent",
                                     "--secrets-key-file",
                                     other,
                                     "--secrets-rotate-from",
                                     key};
    Proc p(argv, dir_.path() + "/rotate.log");
    ASSERT_TRUE(
        WaitFor([&] { return p.Log().find("re-sealed 1 secret") != std::string::npos; }, 20s))
        << p.Log();
    EXPECT_EQ(p.Terminate(), 0) << p.Log();
  }
  log = FailedStart(dir_.path(), data, {"--secrets-key-file", key});
  EXPECT_NE(log.find("key id"), std::string::npos) << log;

  // Tampering: one flipped byte of the sealed data, and tided refuses to start.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((data + "/tide.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE secrets SET sealed = substr(sealed, 1, 30) || "
                         "(CASE WHEN substr(sealed, 31, 1) = X'00' THEN X'01' ELSE X'00' END) || "
                         "substr(sealed, 32)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  log = FailedStart(dir_.path(), data, {"--secrets-key-file", other});
  EXPECT_NE(log.find("failed authentication"), std::string::npos) << log;

  int scanned = 0;
  auto hits = FilesContaining(dir_.path(), value, &scanned);
  EXPECT_TRUE(hits.empty()) << hits.front();
}

}  // namespace
}  // namespace tide::testing
