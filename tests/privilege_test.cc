// Least-privilege integration tests (issue 15, docs/security.md): workloads run as the user they
// ask for (or the node's default), root only where the node allows it, and the agent's own API
// answers only to its token. Run as root (CI and this machine are), so users can be switched.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

// "Uid:\t1 1 1 1" -> the first id of the line starting with `key` in /proc/PID/status.
std::string StatusField(int pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream ss(line.substr(key.size() + 1));
    std::string first;
    ss >> first;
    return first;
  }
  return "";
}

// A Service that prints its ids, then stays up (never ready: nothing listens on $PORT).
std::string IdService(const std::string& name, const std::string& user_line) {
  return "apiVersion: tide/v1\nkind: Service\nmetadata: {name: " + name +
         "}\nspec:\n  command: [/bin/sh, -c, \"echo ids=$(id -u):$(id -g):$(id -G); exec sleep "
         "600\"]\n  terminationGracePeriodSeconds: 1\n" +
         user_line;
}

class PrivilegeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "switching users needs root";
    tided_ = std::make_unique<Tided>(dir_.path());
    int base = ReservePortBlock();
    WriteFile(dir_.path() + "/agent-api.token", "agent-api-secret-0123456789\n");
    // No --allow-root; workloads without a user run as nobody's uid.
    agent_ = std::make_unique<AgentProc>(
        dir_.path(), *tided_, "node-a", base, base + 49,
        "--default-user 65534 --api-token-file " + dir_.path() + "/agent-api.token");
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
      std::cerr << "---- agent log ----\n" << agent_->proc()->Log().substr(0, 10000) << "\n";
      PrintInstanceLogTails(dir_.path());
    }
    agent_.reset();
    tided_.reset();
  }

  json Instance(const std::string& workload) {
    json items = tided_->Instances(workload);
    return items.empty() ? json() : items[0];
  }

  TempDir dir_;
  std::unique_ptr<Tided> tided_;
  std::unique_ptr<AgentProc> agent_;
};

TEST_F(PrivilegeTest, WorkloadsRunAsTheirUserOrTheNodeDefault) {
  ASSERT_EQ(tided_
                ->Post("/v1/apply", IdService("as-default", "") + "---\n" +
                                        IdService("as-ids", "  user: \"1234:4321\"\n"))
                .status,
            200);
  for (const char* w : {"as-default", "as-ids"}) {
    ASSERT_TRUE(WaitFor(
        [&] {
          json i = Instance(w);
          return i.is_object() && i["pid"].get<int>() > 0 && i["state"] == "Starting";
        },
        20s))
        << tided_->Instances(w).dump(2);
  }
  int pid = Instance("as-default")["pid"];
  EXPECT_EQ(StatusField(pid, "Uid"), "65534");
  pid = Instance("as-ids")["pid"];
  EXPECT_EQ(StatusField(pid, "Uid"), "1234");
  EXPECT_EQ(StatusField(pid, "Gid"), "4321");
  EXPECT_EQ(StatusField(pid, "Groups"), "");  // UID:GID: no supplementary groups, not root's

  // What the workload itself says, read through tided (which presents the agent's token).
  CmdResult r;
  ASSERT_TRUE(WaitFor(
      [&] {
        r = RunTidectl({"logs", "as-default"}, tided_->api(), tided_->token());
        return r.out.find("ids=") != std::string::npos;
      },
      10s))
      << r.code << " " << r.out << r.err;
  EXPECT_NE(r.out.find("ids=65534:65534:65534"), std::string::npos) << r.out;
  ASSERT_TRUE(WaitFor(
      [&] {
        r = RunTidectl({"logs", "as-ids"}, tided_->api(), tided_->token());
        return r.out.find("ids=") != std::string::npos;
      },
      10s))
      << r.code << " " << r.out << r.err;
  EXPECT_NE(r.out.find("ids=1234:4321:4321"), std::string::npos) << r.out;
  // The log file stays the agent's.
  std::string log = dir_.path() + "/agent-node-a/data/logs/" +
                    Instance("as-ids")["id"].get<std::string>() + ".log";
  struct stat st;
  ASSERT_EQ(::stat(log.c_str(), &st), 0) << log;
  EXPECT_EQ(st.st_uid, 0u);
}

TEST_F(PrivilegeTest, RootAndUnknownUsersFailWithAClearReason) {
  ASSERT_EQ(tided_
                ->Post("/v1/apply", IdService("as-root", "  user: root\n") + "---\n" +
                                        IdService("as-uid0", "  user: 0\n") + "---\n" +
                                        IdService("as-ghost", "  user: no-such-user-tide\n"))
                .status,
            200);
  struct Want {
    const char* workload;
    const char* message;
  } wants[] = {{"as-root", "--allow-root"},
               {"as-uid0", "--allow-root"},
               {"as-ghost", "no such user on this node"}};
  for (const auto& w : wants) {
    ASSERT_TRUE(WaitFor(
        [&] {
          json i = Instance(w.workload);
          return i.is_object() && i["reason"] == "InvalidUser";
        },
        20s))
        << tided_->Instances(w.workload).dump(2);
    json i = Instance(w.workload);
    EXPECT_NE(i["message"].get<std::string>().find(w.message), std::string::npos) << i.dump();
    EXPECT_EQ(i["pid"], 0);
    EXPECT_TRUE(PidsOfWorkload(w.workload).empty());
  }
  // And the operator sees why in the events.
  json events = tided_->Get("/v1/events").Json();
  bool seen = false;
  for (const auto& e : events["items"]) {
    if (e["workload"] == "as-root" &&
        e["message"].get<std::string>().find("--allow-root") != std::string::npos)
      seen = true;
  }
  EXPECT_TRUE(seen) << events.dump(2);
}

TEST_F(PrivilegeTest, AgentApiNeedsItsToken) {
  const std::string url = agent_->api_url();
  ASSERT_EQ(Http("GET", url + "/healthz").status, 200);  // liveness stays open, says nothing
  EXPECT_EQ(Http("GET", url + "/metrics").status, 200);  // open, like tided's
  for (const char* path :
       {"/v1/instances/x-1/logs", "/v1/instances/x-1/logs?follow=true", "/v1/other"}) {
    auto none = Http("GET", url + path);
    EXPECT_EQ(none.status, 401) << path << " " << none.body;
    auto wrong = Http("GET", url + path, "", "agent-api-secret-0123456788");
    EXPECT_EQ(wrong.status, 401) << path;
    // tided's own tokens are not the agent's.
    EXPECT_EQ(Http("GET", url + path, "", tided_->token()).status, 401) << path;
  }
  EXPECT_EQ(Http("GET", url + "/v1/instances/x-1/logs", "", "agent-api-secret-0123456789").status,
            404);
  // Nothing tided shows carries the token, and the agent never logs it.
  EXPECT_EQ(tided_->Get("/v1/nodes").body.find("agent-api-secret"), std::string::npos);
  EXPECT_EQ(agent_->proc()->Log().find("agent-api-secret"), std::string::npos);
  EXPECT_EQ(tided_->proc()->Log().find("agent-api-secret"), std::string::npos);
}

// A workload that forks, calls setsid() and leaves a daemon behind: the daemon is outside the
// instance's process group, but inside its cgroup, and dies when the workload is deleted.
TEST_F(PrivilegeTest, SetsidDaemonDiesWithItsInstance) {
  ASSERT_EQ(tided_
                ->Post("/v1/apply",
                       "apiVersion: tide/v1\nkind: Service\nmetadata: {name: escaper}\nspec:\n"
                       "  command: [/bin/sh, -c, \"setsid sleep 1000 & exec sleep 1001\"]\n"
                       "  terminationGracePeriodSeconds: 1\n")
                .status,
            200);
  ASSERT_TRUE(WaitFor([&] { return PidsOfWorkload("escaper").size() == 2; }, 20s))
      << tided_->Instances("escaper").dump(2);
  ASSERT_EQ(tided_->Delete("/v1/workloads/escaper").status, 200);
  EXPECT_TRUE(WaitFor([&] { return PidsOfWorkload("escaper").empty(); }, 20s))
      << PidsOfWorkload("escaper").size() << " processes outlived the delete";
}

// docs/security.md: data directories 0700, the files in them 0600, after a real run.
TEST_F(PrivilegeTest, DataDirsArePrivate) {
  ASSERT_EQ(tided_->Post("/v1/apply", IdService("private", "")).status, 200);
  CmdResult r;
  ASSERT_TRUE(WaitFor(
      [&] {
        r = RunTidectl({"logs", "private"}, tided_->api(), tided_->token());
        return r.out.find("ids=") != std::string::npos;
      },
      20s))
      << r.out << r.err;
  std::set<std::string> seen;
  for (const std::string& root : {tided_->data_dir(), dir_.path() + "/agent-node-a/data"}) {
    struct stat st;
    ASSERT_EQ(::stat(root.c_str(), &st), 0) << root;
    EXPECT_EQ(st.st_mode & 07777, 0700u) << root;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
      ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
      seen.insert(e.path().filename().string());
      if (S_ISDIR(st.st_mode)) {
        EXPECT_EQ(st.st_mode & 07777, 0700u) << e.path();
      } else if (S_ISREG(st.st_mode)) {
        EXPECT_EQ(st.st_mode & 07777, 0600u) << e.path();
      }
    }
  }
  // The walk saw what matters: the store and its WAL, the instance records, a log.
  for (const char* want : {"tide.db", "tide.db-wal", "instances.json"}) {
    EXPECT_TRUE(seen.count(want)) << want;
  }
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(),
                          [](const std::string& n) { return n.ends_with(".log"); }));
}

// A damaged store: tided refuses to start and says why, instead of serving what is left.
TEST_F(PrivilegeTest, TidedRefusesADamagedStore) {
  std::string yaml;
  for (int i = 0; i < 40; ++i) {
    yaml += "---\napiVersion: tide/v1\nkind: Service\nmetadata: {name: s" + std::to_string(i) +
            "}\nspec: {command: [/bin/true], replicas: 0}\n";
  }
  ASSERT_EQ(tided_->Post("/v1/apply", yaml).status, 200);
  agent_.reset();
  tided_->proc()->Terminate();  // a clean stop checkpoints the WAL into tide.db
  const std::string db = tided_->data_dir() + "/tide.db";
  const auto size = std::filesystem::file_size(db);
  ASSERT_GE(size, 4u * 4096u);
  {
    FILE* f = std::fopen(db.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    for (uintmax_t off = 4096; off + 64 < size; off += 4096) {
      std::fseek(f, static_cast<long>(off), SEEK_SET);
      const char junk[64] = "\x0d\xff\xff\xff\xff garbage";
      std::fwrite(junk, 1, sizeof junk, f);
    }
    std::fclose(f);
  }
  Proc p({TidedBin(), "--data-dir", tided_->data_dir(), "--no-local-agent", "--api-listen",
          "127.0.0.1:" + std::to_string(FreePort()), "--gateway-listen",
          "127.0.0.1:" + std::to_string(FreePort())},
         dir_.path() + "/tided-damaged.log");
  ASSERT_TRUE(WaitFor([&] { return !p.Alive(); }, 20s)) << p.Log();
  EXPECT_NE(p.Log().find("is damaged"), std::string::npos) << p.Log();
  EXPECT_NE(p.Log().find("quick_check"), std::string::npos) << p.Log();
}

}  // namespace
}  // namespace tide::testing
