// Exec stubs and the cgroup pool (agent/exec_stub.h, agent/cgroup_pool.h) through the real
// launcher: this binary's main() is a stub's too, as the agent's is.
#include "agent/exec_stub.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "agent/cgroup_pool.h"
#include "agent/os_test_util.h"
#include "agent/proc_stats.h"
#include "agent/process_launcher.h"

namespace tide {
namespace {

using testing::ReadAll;
using testing::TempDir;
using testing::WaitFor;

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Pids of this process's children that are waiting stubs.
std::vector<int> OurStubs() {
  const std::string stub_cmdline =
      std::string("tide-exec-stub\0", 15) + kExecStubArg + std::string(1, '\0');
  return testing::ProcessesWhere([&](int pid, const ProcStat& st) {
    return st.ppid == ::getpid() &&
           ReadFileText("/proc/" + std::to_string(pid) + "/cmdline") == stub_cmdline;
  });
}

// The stubs once n of them show in /proc (a stub counted ready may still be finishing its exec).
std::vector<int> WaitForStubs(size_t n) {
  std::vector<int> stubs;
  WaitFor([&] { return (stubs = OurStubs()).size() == n; });
  return stubs;
}

StubLaunch Sample() {
  StubLaunch l;
  l.path = "/bin/echo";
  l.argv = {"echo", "a b", ""};
  l.envp = {"A=1", "B="};
  l.chdir_path = "/tmp";
  l.umask = 027;
  l.switch_user = true;
  l.uid = 1000;
  l.gid = 100;
  l.groups = {4, 27};
  l.listen_fd = true;
  return l;
}

TEST(ExecStubMessageTest, RoundTripsEveryField) {
  StubLaunch out;
  ASSERT_TRUE(DecodeStubLaunch(EncodeStubLaunch(Sample()), &out));
  EXPECT_EQ(out.path, "/bin/echo");
  EXPECT_EQ(out.argv, (std::vector<std::string>{"echo", "a b", ""}));
  EXPECT_EQ(out.envp, (std::vector<std::string>{"A=1", "B="}));
  EXPECT_EQ(out.chdir_path, "/tmp");
  EXPECT_EQ(out.umask, 027u);
  EXPECT_TRUE(out.switch_user);
  EXPECT_EQ(out.uid, 1000u);
  EXPECT_EQ(out.gid, 100u);
  EXPECT_EQ(out.groups, (std::vector<gid_t>{4, 27}));
  EXPECT_TRUE(out.listen_fd);
}

TEST(ExecStubMessageTest, RefusesTruncatedPaddedOrOddMessages) {
  const std::string good = EncodeStubLaunch(Sample());
  StubLaunch out;
  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_FALSE(DecodeStubLaunch(good.substr(0, cut), &out)) << "cut at " << cut;
  }
  EXPECT_FALSE(DecodeStubLaunch(good + "x", &out));
  StubLaunch relative = Sample();
  relative.path = "echo";
  EXPECT_FALSE(DecodeStubLaunch(EncodeStubLaunch(relative), &out));
  StubLaunch no_argv = Sample();
  no_argv.argv.clear();
  EXPECT_FALSE(DecodeStubLaunch(EncodeStubLaunch(no_argv), &out));
  StubLaunch nul = Sample();
  nul.envp.push_back(std::string("X=a\0b", 5));
  EXPECT_FALSE(DecodeStubLaunch(EncodeStubLaunch(nul), &out));
}

// Stubs run the small `tide-exec-stub` beside the agent's binary when it is there and
// executable, else the agent's binary; a link (such as /proc/self/exe) counts where it points.
TEST(ExecStubBinaryTest, TheSmallStubBesideTheAgentElseTheAgentItself) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir.path() + "/bin").c_str(), 0755), 0);
  const std::string agent = dir.path() + "/bin/tide-agent";
  const std::string stub = dir.path() + "/bin/tide-exec-stub";
  const std::string link = dir.path() + "/agent-link";
  std::ofstream(agent) << "#!/bin/sh\n";
  ::chmod(agent.c_str(), 0755);
  ASSERT_EQ(::symlink(agent.c_str(), link.c_str()), 0);
  EXPECT_EQ(ExecStubBinary(agent), agent);  // none beside it
  std::ofstream(stub) << "#!/bin/sh\n";
  ::chmod(stub.c_str(), 0644);
  EXPECT_EQ(ExecStubBinary(agent), agent);  // not executable
  ::chmod(stub.c_str(), 0755);
  EXPECT_EQ(ExecStubBinary(agent), stub);
  EXPECT_EQ(ExecStubBinary(link), stub);
  // The build puts it beside the test binaries too: CgroupPoolTest below runs the real one.
  EXPECT_EQ(ExecStubBinary("/proc/self/exe").substr(ExecStubBinary("/proc/self/exe").rfind('/')),
            "/tide-exec-stub");
}

// The refill waits for a quiet moment after a Take (the launch's exec must not wait for a
// new stub's cgroup join), except when no stub is left.
TEST(CgroupPoolRefillTest, WaitsAfterATakeUnlessThePoolIsEmpty) {
  const int64_t q = CgroupPool::kRefillQuietMs;
  EXPECT_EQ(CgroupPool::RefillAt(3, 5000), 5000 + q);
  EXPECT_EQ(CgroupPool::RefillAt(1, 5000), 5000 + q);
  EXPECT_EQ(CgroupPool::RefillAt(0, 5000), 5000);
  EXPECT_GE(q, 50);  // longer than a cold start of a small program through the gateway
}

class CgroupPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CgroupLayout layout = DetectCgroupLayout();
    if (::geteuid() != 0 || (layout.cgroup1_parent.empty() && layout.cgroup2_parent.empty())) {
      GTEST_SKIP() << "needs root and a writable cgroup hierarchy";
    }
    OsProcessLauncher::Options o;
    o.cgroup_pool = 2;
    o.pool_exe = "/proc/self/exe";
    launcher_ = std::make_unique<OsProcessLauncher>(o);
    if (!launcher_->WaitPoolReady(2, 10000)) GTEST_SKIP() << "no pool on this host";
  }
  void TearDown() override {
    if (launcher_ == nullptr) return;
    for (const auto& [r, id] : launched_) {
      launcher_->SignalGroup(r.pid, SIGKILL);
      WaitFor([&] { return launcher_->TryReap(r.pid, r.start_time).has_value(); });
      launcher_->Cleanup(id);
    }
  }
  LaunchSpec Spec(const std::string& id, std::vector<std::string> argv) {
    LaunchSpec s;
    s.instance_id = id;
    s.argv = std::move(argv);
    s.env = {{"PATH", "/usr/bin:/bin"}, {"ONLY", "this"}};
    s.log_path = dir_.path() + "/" + id + ".log";
    return s;
  }
  Status Launch(const LaunchSpec& s, LaunchResult* r) {
    Status st = launcher_->Launch(s, r);
    if (st.ok()) launched_.push_back({*r, s.instance_id});
    return st;
  }

  TempDir dir_;
  std::unique_ptr<OsProcessLauncher> launcher_;
  std::vector<std::pair<LaunchResult, std::string>> launched_;
};

// The stub becomes the instance: same pid (so it was started before the launch), the instance's
// cgroup with its limit, exactly its env, its log file.
TEST_F(CgroupPoolTest, AReadyStubBecomesTheInstanceInItsOwnLimitedCgroup) {
  std::vector<int> stubs = WaitForStubs(2);
  ASSERT_EQ(stubs.size(), 2u);
  LaunchSpec s = Spec("pooled-1", {"/bin/sh", "-c", "env; echo started; exec sleep 60"});
  s.memory_limit_bytes = 64 << 20;
  LaunchResult r;
  ASSERT_TRUE(Launch(s, &r).ok());
  EXPECT_TRUE(r.pid == stubs[0] || r.pid == stubs[1]) << "pid " << r.pid << " is not a stub's";
  EXPECT_TRUE(r.limit_enforcer == "cgroup1" || r.limit_enforcer == "cgroup2") << r.limit_enforcer;
  ASSERT_TRUE(WaitFor([&] { return ReadAll(s.log_path).find("started") != std::string::npos; }));
  const std::string log = ReadAll(s.log_path);
  EXPECT_NE(log.find("ONLY=this"), std::string::npos) << log;
  EXPECT_EQ(log.find("TIDE_"), std::string::npos) << "the agent's env leaked: " << log;
  const std::string cg = ReadFileText("/proc/" + std::to_string(r.pid) + "/cgroup");
  EXPECT_NE(cg.find("/tide/pooled-1"), std::string::npos) << cg;
  EXPECT_EQ(cg.find("pool-"), std::string::npos) << cg;
  // The pool fills up again off the launch path.
  EXPECT_TRUE(launcher_->WaitPoolReady(2, 10000));
}

// A pooled launch's log file is a spare made ahead on the refill thread and renamed into
// place; a log that is there already (a restart) is appended to; spares of agents that are gone
// are removed.
TEST_F(CgroupPoolTest, APooledLaunchRenamesASpareLogIntoPlaceAndKeepsAnExistingLog) {
  auto spares = [&] {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
      const std::string name = e.path().filename().string();
      if (name.rfind(".spare-", 0) == 0) out.push_back(name);
    }
    return out;
  };
  const std::string gone = dir_.path() + "/.spare-2147483647-0.log";  // no such pid
  std::ofstream(gone) << "";
  LaunchResult r;
  LaunchSpec first = Spec("pooled-log-1", {"/bin/sh", "-c", "echo one; exec sleep 60"});
  ASSERT_TRUE(Launch(first, &r).ok());
  ASSERT_TRUE(WaitFor([&] { return ReadAll(first.log_path).find("one") != std::string::npos; }));
  // The refill after the launch makes one spare beside the log and removes the one left over.
  ASSERT_TRUE(WaitFor([&] {
    auto s = spares();
    return s.size() == 1 && s[0].rfind(".spare-" + std::to_string(::getpid()) + "-", 0) == 0;
  })) << spares().size();
  const std::string spare = dir_.path() + "/" + spares()[0];
  LaunchSpec second = Spec("pooled-log-2", {"/bin/sh", "-c", "echo two; exec sleep 60"});
  ASSERT_TRUE(Launch(second, &r).ok());
  ASSERT_TRUE(WaitFor([&] { return ReadAll(second.log_path).find("two") != std::string::npos; }));
  struct stat st;
  EXPECT_NE(::stat(spare.c_str(), &st), 0) << "the spare was not renamed into place";
  EXPECT_EQ((::stat(second.log_path.c_str(), &st), st.st_mode & 0777), 0600u);
  // A restart's log keeps what it had.
  ASSERT_TRUE(WaitFor([&] { return spares().size() == 1; }));
  LaunchSpec again = Spec("pooled-log-3", {"/bin/sh", "-c", "echo three; exec sleep 60"});
  std::ofstream(again.log_path) << "before\n";
  ASSERT_TRUE(Launch(again, &r).ok());
  ASSERT_TRUE(WaitFor([&] { return ReadAll(again.log_path).find("three") != std::string::npos; }));
  EXPECT_EQ(ReadAll(again.log_path), "before\nthree\n");
}

TEST_F(CgroupPoolTest, SocketActivationThroughAStubGivesTheStubsPid) {
  std::vector<int> stubs = WaitForStubs(2);
  ASSERT_EQ(stubs.size(), 2u);
  const int port = testing::FreeTcpPort();
  ASSERT_GT(port, 0);
  LaunchSpec s = Spec("pooled-sa", {"/bin/sh", "-c", testing::kActivationScript});
  s.listen_port = port;
  LaunchResult r;
  ASSERT_TRUE(Launch(s, &r).ok());
  EXPECT_TRUE(r.pid == stubs[0] || r.pid == stubs[1]) << "pid " << r.pid << " is not a stub's";
  ASSERT_TRUE(WaitFor([&] { return ReadAll(s.log_path).find("fds=") != std::string::npos; }));
  const std::string pid = std::to_string(r.pid);
  const std::string log = ReadAll(s.log_path);
  EXPECT_NE(log.find("pid=" + pid + " listen_pid=" + pid + " fds=1 names=http"), std::string::npos)
      << log;
  EXPECT_TRUE(
      WaitFor([&] { return ReadAll(s.log_path).find("socket-on-3") != std::string::npos; }));
  EXPECT_TRUE(testing::CanConnect(port));
}

TEST_F(CgroupPoolTest, AnExecFailureInTheStubFailsTheLaunchNamingTheStep) {
  const std::string script = dir_.path() + "/bad-interpreter";
  {
    std::ofstream f(script);
    f << "#!/nonexistent/interpreter\n";
  }
  ::chmod(script.c_str(), 0755);
  LaunchResult r;
  Status st = Launch(Spec("pooled-bad", {script}), &r);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("exec: No such file"), std::string::npos) << st.message();
  launcher_->Cleanup("pooled-bad");
  EXPECT_TRUE(launcher_->WaitPoolReady(2, 10000));
}

// The activation socket goes on fd 3: it must not take the place of the stub's own socket, or a
// failed step would look like a successful exec.
TEST_F(CgroupPoolTest, AFailedStepIsReportedWithAnActivationSocketToo) {
  const std::string script = dir_.path() + "/bad-interpreter-sa";
  {
    std::ofstream f(script);
    f << "#!/nonexistent/interpreter\n";
  }
  ::chmod(script.c_str(), 0755);
  LaunchSpec s = Spec("pooled-bad-sa", {script});
  s.listen_port = testing::FreeTcpPort();
  LaunchResult r;
  Status st = Launch(s, &r);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("exec: No such file"), std::string::npos) << st.message();
  launcher_->Cleanup("pooled-bad-sa");
}

TEST_F(CgroupPoolTest, AStubKilledWhileWaitingIsReplacedByAnOrdinaryLaunch) {
  for (int pid : WaitForStubs(2)) ::kill(pid, SIGKILL);
  LaunchSpec s = Spec("pooled-2", {"/bin/sh", "-c", "echo up; exec sleep 60"});
  LaunchResult r;
  ASSERT_TRUE(Launch(s, &r).ok());
  ASSERT_TRUE(WaitFor([&] { return ReadAll(s.log_path).find("up") != std::string::npos; }));
}

TEST_F(CgroupPoolTest, StubsEndWithTheirLauncher) {
  ASSERT_EQ(WaitForStubs(2).size(), 2u);
  launcher_.reset();
  EXPECT_TRUE(OurStubs().empty());
}

}  // namespace
}  // namespace tide

int main(int argc, char** argv) {
  tide::MaybeRunExecStub(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
