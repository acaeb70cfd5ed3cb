// Faults of an etcd-backed Tide (docs/ha.md "Failures"), with real etcd and real tided processes
// on loopback:
//   - a leader paused (SIGSTOP) past its lease is deposed, and when it resumes etcd refuses its
//     fenced write (tide_fenced_writes_refused_total) and it does not lead;
//   - etcd stopped for 20 s: warm traffic through the gateway keeps flowing, applies answer 503
//     naming etcd, nothing answered 2xx is lost, and Tide resumes on its own;
//   - a 3-member etcd cluster loses the member tided talks to, then raft's leader: Tide keeps a
//     leader and applies keep working;
//   - moving from SQLite to etcd: `tided --export` of a SQLite data dir, `tided --import` into
//     etcd, and a tided on etcd serves every object; a corrupt file changes nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "daemon/store/etcd_testutil.h"
#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

std::string Layer(const std::string& name) {
  return "apiVersion: tide/v1\nkind: Layer\nmetadata: {name: " + name + "}\nspec: {path: /tmp}\n";
}

std::string Idle(const std::string& name) {
  return "apiVersion: tide/v1\nkind: Service\nmetadata: {name: " + name +
         "}\nspec: {command: [\"/bin/true\"], replicas: 0}\n";
}

// The value of an unlabelled counter in tided's /metrics; -1 when absent.
double MetricValue(const Tided& t, const std::string& name) {
  HttpResult r = t.Get("/metrics");
  const std::string pat = "\n" + name + " ";
  const size_t at = r.body.find(pat);
  if (r.status != 200 || at == std::string::npos) return -1;
  return std::atof(r.body.c_str() + at + pat.size());
}

// Members m0..m2 of one Tide cluster on `store`, without agents unless asked.
std::vector<std::unique_ptr<Tided>> Members(const TempDir& dir, const std::string& store, int n,
                                            bool local_agent = false) {
  std::vector<std::unique_ptr<Tided>> ms;
  for (int i = 0; i < n; ++i) {
    const std::string d = dir.path() + "/m" + std::to_string(i);
    std::filesystem::create_directories(d);
    Tided::Options o;
    o.local_agent = local_agent;
    o.extra_args = {"--store", store, "--name", "m" + std::to_string(i), "--leader-ttl", "2s"};
    ms.push_back(std::make_unique<Tided>(d, o));
  }
  return ms;
}

std::vector<size_t> AllBut(size_t n, size_t skip) {
  std::vector<size_t> v;
  for (size_t i = 0; i < n; ++i) {
    if (i != skip) v.push_back(i);
  }
  return v;
}

TEST(HaFault, APausedLeaderIsDeposedAndEtcdRefusesItsFencedWrite) {
  TestEtcd etcd;
  ASSERT_TRUE(etcd.ok()) << etcd.error();
  TempDir dir;
  auto ms = Members(dir, etcd.store_url(), 3);
  std::string leader;
  ASSERT_TRUE(WaitFor([&] { return !(leader = AgreedLeader(ms, {0, 1, 2})).empty(); }, 10s));
  const size_t li = static_cast<size_t>(leader[1] - '0');
  for (auto& m : ms) ASSERT_EQ(MetricValue(*m, "tide_fenced_writes_refused_total"), 0);

  ::kill(ms[li]->proc()->pid(), SIGSTOP);
  std::string next;
  const bool replaced = WaitFor(
      [&] {
        next = AgreedLeader(ms, AllBut(3, li));
        return !next.empty() && next != leader;
      },
      10s);
  ::kill(ms[li]->proc()->pid(), SIGCONT);
  ASSERT_TRUE(replaced);

  // Its first round after the pause is a fenced transaction; etcd refuses it.
  EXPECT_TRUE(
      WaitFor([&] { return MetricValue(*ms[li], "tide_fenced_writes_refused_total") >= 1; }, 5s))
      << ms[li]->proc()->Log();
  EXPECT_NE(ms[li]->proc()->Log().find("write refused by the fence"), std::string::npos);
  // It learned: it names the new leader, not itself, and so does everyone.
  ASSERT_TRUE(WaitFor(
      [&] {
        return AgreedLeader(ms, {0, 1, 2}) == next;
      },
      5s))
      << ms[li]->Get("/v1/leader").body;
  // The members that were never deposed had nothing refused.
  for (size_t i : AllBut(3, li)) {
    EXPECT_EQ(MetricValue(*ms[i], "tide_fenced_writes_refused_total"), 0) << i;
  }
}

TEST(HaFault, EtcdDownTwentySecondsWarmTrafficFlowsAppliesAnswer503AndTideResumes) {
  TestEtcd etcd;
  ASSERT_TRUE(etcd.ok()) << etcd.error();
  TempDir dir;
  auto ms = Members(dir, etcd.store_url(), 1, /*local_agent=*/true);
  Tided& t = *ms[0];
  ASSERT_TRUE(WaitFor([&] { return AgreedLeader(ms, {0}) == "m0"; }, 10s));
  ASSERT_EQ(t.Post("/v1/apply", TestappManifest("warm", 2)).status, 200);
  ASSERT_TRUE(WaitFor([&] { return t.ReadyCount("warm") == 2; }, 30s));
  ASSERT_TRUE(
      WaitFor([&] { return Http("GET", t.gateway() + "/service/warm/").status == 200; }, 10s));
  // Everything answered 2xx before the outage must be there after it.
  std::vector<std::string> before = {"warm"};
  for (int i = 0; i < 5; ++i) {
    const std::string n = "before-" + std::to_string(i);
    ASSERT_EQ(t.Post("/v1/apply", Idle(n)).status, 200);
    before.push_back(n);
  }
  ASSERT_EQ(t.Post("/v1/apply", Layer("base")).status, 200);

  std::atomic<bool> stop{false};
  std::atomic<int> sent{0}, failed{0};
  std::string first_failure;
  std::thread traffic([&] {
    while (!stop) {
      HttpResult r = Http("GET", t.gateway() + "/service/warm/", "", "", "application/json", 10);
      ++sent;
      if (r.status != 200 && failed++ == 0) {
        first_failure = std::to_string(r.status) + " " + r.body;
      }
      std::this_thread::sleep_for(20ms);  // ~50 requests a second
    }
  });

  etcd.Pause();
  const auto down_at = std::chrono::steady_clock::now();
  // Applies during the outage answer 503 naming etcd; nothing of them appears later.
  HttpResult during = t.Post("/v1/apply", Idle("during"));
  EXPECT_EQ(during.status, 503) << during.body;
  EXPECT_NE(during.body.find("etcd"), std::string::npos) << during.body;
  // No member leads without etcd.
  EXPECT_TRUE(WaitFor([&] { return t.Get("/v1/leader").Json().value("leader", "x").empty(); }, 8s));
  std::this_thread::sleep_until(down_at + 20s);
  const int sent_during = sent.load();
  etcd.Resume();

  // Tide resumes on its own: an apply after recovery succeeds and gets placed.
  ASSERT_TRUE(
      WaitFor([&] { return t.Post("/v1/apply", TestappManifest("after", 1)).status == 200; }, 30s));
  EXPECT_TRUE(WaitFor([&] { return t.ReadyCount("after") == 1; }, 40s))
      << t.Get("/v1/workloads/after").body;
  EXPECT_TRUE(WaitFor([&] { return AgreedLeader(ms, {0}) == "m0"; }, 10s));
  stop = true;
  traffic.join();

  EXPECT_EQ(failed.load(), 0) << "of " << sent.load() << "; first: " << first_failure;
  EXPECT_GT(sent_during, 200) << "traffic did not flow during the outage";
  for (const auto& n : before) EXPECT_EQ(t.Get("/v1/workloads/" + n).status, 200) << n;
  EXPECT_NE(t.Get("/v1/layers").body.find("\"base\""), std::string::npos);
  EXPECT_EQ(t.ReadyCount("warm"), 2);
  std::printf("etcd down 20 s: %d requests to the warm Service, %d failed\n", sent.load(),
              failed.load());
}

TEST(HaFault, ThreeMemberEtcdLosesAMemberThenItsRaftLeaderAndTideKeepsALeader) {
  TestEtcdCluster etcd;
  ASSERT_TRUE(etcd.ok()) << etcd.error();
  TempDir dir;
  auto ms = Members(dir, etcd.store_url(), 3);
  ASSERT_TRUE(WaitFor([&] { return !AgreedLeader(ms, {0, 1, 2}).empty(); }, 10s));
  int applied = 0;
  auto apply_ok = [&](size_t member) {
    const std::string n = "w" + std::to_string(applied);
    if (ms[member]->Post("/v1/apply", Idle(n)).status != 200) return false;
    ++applied;
    return true;
  };
  ASSERT_TRUE(apply_ok(0));

  // Every member talks to the first endpoint first: kill -9 that one.
  etcd.Kill(0);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitFor([&] { return !AgreedLeader(ms, {0, 1, 2}).empty(); }, 10s));
  EXPECT_TRUE(WaitFor([&] { return apply_ok(1); }, 10s));
  std::printf("etcd member behind every tided killed: leader and apply again after %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - t0)
                                         .count()));
  ASSERT_TRUE(etcd.Restart(0)) << etcd.error(0);

  // Then raft's own leader.
  int raft = -1;
  ASSERT_TRUE(WaitFor([&] { return (raft = etcd.RaftLeader()) >= 0; }, 10s));
  etcd.Kill(raft);
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitFor([&] { return !AgreedLeader(ms, {0, 1, 2}).empty(); }, 15s));
  EXPECT_TRUE(WaitFor([&] { return apply_ok(2); }, 15s));
  std::printf("etcd raft leader (e%d) killed: leader and apply again after %lld ms\n", raft,
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - t1)
                                         .count()));
  // Nothing answered 2xx is lost, on any member.
  for (int i = 0; i < applied; ++i) {
    for (auto& m : ms) EXPECT_EQ(m->Get("/v1/workloads/w" + std::to_string(i)).status, 200);
  }
  EXPECT_EQ(applied, 3);
}

// Runs `tided ARGS...` to completion (export/import are one-off); its exit code and output.
int RunTided(const TempDir& dir, std::vector<std::string> args, std::string* log) {
  args.insert(args.begin(), TidedBin());
  static int n = 0;
  Proc p(args, dir.path() + "/oneoff-" + std::to_string(n++) + ".log");
  const int rc = p.Terminate(0, 30s);
  *log = p.Log();
  return rc;
}

TEST(HaFault, MovingFromSqliteToEtcdKeepsEveryObjectAndACorruptFileChangesNothing) {
  TempDir dir;
  std::string sqlite_data;
  {
    std::filesystem::create_directories(dir.path() + "/old");
    Tided old(dir.path() + "/old");
    sqlite_data = old.data_dir();
    ASSERT_EQ(old.Post("/v1/apply", Layer("base")).status, 200);
    for (const char* n : {"a", "b", "c"}) ASSERT_EQ(old.Post("/v1/apply", Idle(n)).status, 200);
    std::string a2 = Idle("a");  // generation 2
    a2.replace(a2.find("/bin/true"), 9, "/bin/false");
    ASSERT_EQ(old.Post("/v1/apply", a2).status, 200);
    ASSERT_EQ(old.Put("/v1/workloads/b/scale", R"({"replicas": 0})").status, 200);
    EXPECT_EQ(old.proc()->Terminate(SIGTERM, 10s), 0);
  }
  const std::string file = dir.path() + "/tide-export.json";
  std::string log;
  ASSERT_EQ(RunTided(dir, {"--data-dir", sqlite_data, "--export", file}, &log), 0) << log;
  EXPECT_NE(log.find("exported 3 workload(s) and 1 layer(s)"), std::string::npos) << log;

  TestEtcd etcd;
  ASSERT_TRUE(etcd.ok()) << etcd.error();
  const std::vector<std::string> on_etcd = {"--store", etcd.store_url(), "--data-dir",
                                            dir.path() + "/import-data"};
  // Hostile input: refused naming the problem, and nothing reaches etcd.
  const std::string bad = dir.path() + "/bad.json";
  {
    std::ifstream in(file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = text.find("\"generation\"");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, 12, "\"generation\": \"x\", \"g\"");
    std::ofstream(bad) << text;
  }
  auto args = on_etcd;
  args.insert(args.end(), {"--import", bad});
  EXPECT_EQ(RunTided(dir, args, &log), 1) << log;
  EXPECT_NE(log.find("objects["), std::string::npos) << log;
  EXPECT_NE(log.find("nothing was written"), std::string::npos) << log;

  args = on_etcd;
  args.insert(args.end(), {"--import", file});
  ASSERT_EQ(RunTided(dir, args, &log), 0) << log;
  EXPECT_NE(log.find("imported 4 object(s)"), std::string::npos) << log;
  // Again: the target is no longer empty.
  EXPECT_EQ(RunTided(dir, args, &log), 1) << log;
  EXPECT_NE(log.find("--import-replace"), std::string::npos) << log;

  // A member on etcd serves what the SQLite tided held, with generations and scale kept.
  auto ms = Members(dir, etcd.store_url(), 1);
  for (const char* n : {"a", "b", "c"})
    EXPECT_EQ(ms[0]->Get(std::string("/v1/workloads/") + n).status, 200);
  EXPECT_NE(ms[0]->Get("/v1/layers").body.find("\"base\""), std::string::npos);
  json b = ms[0]->Get("/v1/workloads/b").Json();
  EXPECT_NE(b.dump().find("\"scaleOverride\":0"), std::string::npos) << b.dump();
  EXPECT_EQ(ms[0]->Get("/v1/workloads/a").Json()["metadata"].value("generation", 0), 2);
}

}  // namespace
}  // namespace tide::testing
