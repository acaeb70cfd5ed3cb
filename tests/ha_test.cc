// Several tided on one etcd (docs/ha.md): one leader that all members name, reads and writes on
// any member, and a new leader soon after kill -9 of the old one. Real etcd, real tided.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "daemon/store/etcd_testutil.h"
#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

std::string Service(const std::string& name) {
  return "apiVersion: tide/v1\nkind: Service\nmetadata: {name: " + name +
         "}\nspec: {command: [\"/bin/true\"], replicas: 1}\n";
}

class HaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.ok()) << etcd_.error();
    for (int i = 0; i < 3; ++i) {
      const std::string d = dir_.path() + "/m" + std::to_string(i);
      std::filesystem::create_directories(d);
      Tided::Options o;
      o.extra_args = {
          "--store", etcd_.store_url(), "--name", "m" + std::to_string(i), "--leader-ttl", "2s"};
      members_.push_back(std::make_unique<Tided>(d, o));
    }
  }
  // Every live member names the same leader, and that one says it is itself; "" until then.
  std::string AgreedLeader(const std::vector<size_t>& live) {
    std::string leader;
    for (size_t i : live) {
      HttpResult r = members_[i]->Get("/v1/leader");
      if (r.status != 200) return "";
      json j = r.Json();
      const std::string l = j.value("leader", "");
      if (l.empty() || (!leader.empty() && l != leader)) return "";
      leader = l;
    }
    return leader;
  }
  TempDir dir_;
  TestEtcd etcd_;
  std::vector<std::unique_ptr<Tided>> members_;
};

TEST_F(HaTest, OneLeaderWritesOnAnyMemberAndANewLeaderAfterKill9) {
  std::string leader;
  ASSERT_TRUE(WaitFor([&] { return !(leader = AgreedLeader({0, 1, 2})).empty(); }, 10s));
  const size_t li = static_cast<size_t>(leader[1] - '0');
  json self = members_[li]->Get("/v1/leader").Json();
  EXPECT_EQ(self.value("self", ""), leader);

  // A write sent to a follower takes effect, and every member reads it.
  const size_t fi = (li + 1) % 3;
  HttpResult r = members_[fi]->Post("/v1/apply", Service("web"));
  ASSERT_EQ(r.status, 200) << r.body;
  for (auto& m : members_) EXPECT_EQ(m->Get("/v1/workloads/web").status, 200);
  // Hostile: an invalid apply on any member is refused whole, with the same error.
  r = members_[fi]->Post("/v1/apply", Service("ok-one") + "---\n" + Service("Bad_Name"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(members_[li]->Get("/v1/workloads/ok-one").status, 404);

  // kill -9 the leader: a survivor leads within the SPEC's 5 s (goal 2 s).
  const auto t0 = std::chrono::steady_clock::now();
  members_[li]->Kill9();
  std::vector<size_t> live;
  for (size_t i = 0; i < 3; ++i) {
    if (i != li) live.push_back(i);
  }
  std::string next;
  ASSERT_TRUE(WaitFor(
      [&] {
        next = AgreedLeader(live);
        return !next.empty() && next != leader;
      },
      8s));
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf("leader loss -> new leader: %lld ms (lease TTL 2 s)\n", static_cast<long long>(ms));
  EXPECT_LT(ms, 5000);
  // What was answered 2xx is still there, on the new leader too.
  EXPECT_EQ(members_[live[0]]->Get("/v1/workloads/web").status, 200);
  EXPECT_EQ(members_[live[1]]->Post("/v1/apply", Service("after")).status, 200);
}

// A leader paused past its lease (SIGSTOP) is replaced; when it resumes it learns it was deposed
// and says so, instead of acting as leader (its writes are fenced: ElectorTest).
TEST_F(HaTest, APausedLeaderIsReplacedAndLearnsItWasDeposed) {
  std::string leader;
  ASSERT_TRUE(WaitFor([&] { return !(leader = AgreedLeader({0, 1, 2})).empty(); }, 10s));
  const size_t li = static_cast<size_t>(leader[1] - '0');
  ::kill(members_[li]->proc()->pid(), SIGSTOP);
  std::vector<size_t> live;
  for (size_t i = 0; i < 3; ++i) {
    if (i != li) live.push_back(i);
  }
  std::string next;
  const bool replaced = WaitFor(
      [&] {
        next = AgreedLeader(live);
        return !next.empty() && next != leader;
      },
      8s);
  ::kill(members_[li]->proc()->pid(), SIGCONT);
  ASSERT_TRUE(replaced);
  ASSERT_TRUE(WaitFor(
      [&] { return members_[li]->Get("/v1/leader").Json().value("leader", "") == next; }, 5s))
      << members_[li]->Get("/v1/leader").body;
  EXPECT_EQ(AgreedLeader({0, 1, 2}), next);  // one leader, named by all three
}

TEST_F(HaTest, AGracefulStopHandsOverAtOnce) {
  std::string leader;
  ASSERT_TRUE(WaitFor([&] { return !(leader = AgreedLeader({0, 1, 2})).empty(); }, 10s));
  const size_t li = static_cast<size_t>(leader[1] - '0');
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(members_[li]->proc()->Terminate(SIGTERM, 10s), 0);
  std::vector<size_t> live;
  for (size_t i = 0; i < 3; ++i) {
    if (i != li) live.push_back(i);
  }
  std::string next;
  ASSERT_TRUE(WaitFor(
      [&] {
        next = AgreedLeader(live);
        return !next.empty() && next != leader;
      },
      5s));
  // The lease was revoked: no TTL to wait out.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
}

// Every member runs its local agent; only the leader places instances, so a Service of one
// replica runs once in the whole cluster, not once per member.
TEST(HaLocalAgents, OnlyTheLeaderPlacesInstances) {
  TestEtcd etcd;
  ASSERT_TRUE(etcd.ok()) << etcd.error();
  TempDir dir;
  std::vector<std::unique_ptr<Tided>> ms;
  for (int i = 0; i < 3; ++i) {
    const std::string d = dir.path() + "/m" + std::to_string(i);
    std::filesystem::create_directories(d);
    Tided::Options o;
    o.local_agent = true;
    o.extra_args = {"--store", etcd.store_url(), "--name", "m" + std::to_string(i), "--leader-ttl",
                    "2s"};
    ms.push_back(std::make_unique<Tided>(d, o));
  }
  ASSERT_TRUE(
      WaitFor([&] { return ms[0]->Get("/v1/leader").Json().value("leader", "") != ""; }, 10s));
  const std::string yaml =
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: one}\nspec:\n"
      "  command: [\"" +
      TestappBin() +
      "\", \"--port\", \"${PORT}\"]\n"
      "  replicas: 1\n";
  ASSERT_EQ(ms[1]->Post("/v1/apply", yaml).status, 200);
  auto total = [&] {
    int n = 0;
    for (auto& m : ms) n += m->ReadyCount("one");
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return total() >= 1; }, 20s));
  // Give followers every chance to (wrongly) start their own: several reconcile passes.
  EXPECT_FALSE(WaitFor([&] { return total() > 1; }, 3s)) << "more than one member placed it";
  EXPECT_EQ(total(), 1);
}

TEST(HaFlags, BadStoreFlagsAreRefusedNamingTheFlag) {
  TempDir dir;
  for (auto [args, want] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--store", "mysql://x"}, "--store"},
           {{"--store", "etcd://127.0.0.1"}, "--store"},
           {{"--store", "etcd://127.0.0.1:2379", "--store-prefix", "tide"}, "--store-prefix"},
           {{"--store", "etcd://127.0.0.1:2379", "--leader-ttl", "1500ms"}, "--leader-ttl"},
           {{"--name", "a b"}, "--name"}}) {
    std::vector<std::string> argv = {TidedBin(),     "--data-dir",      dir.path() + "/d",
                                     "--api-listen", "127.0.0.1:0",     "--gateway-listen",
                                     "127.0.0.1:0",  "--no-local-agent"};
    argv.insert(argv.end(), args.begin(), args.end());
    Proc p(argv, dir.path() + "/tided.log");
    EXPECT_EQ(p.Terminate(0, 10s), 2) << p.Log();
    EXPECT_NE(p.Log().find(want), std::string::npos) << p.Log();
  }
}

}  // namespace
}  // namespace tide::testing
