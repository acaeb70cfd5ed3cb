#include "agent/process_launcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <vector>

#include "agent/os_test_util.h"
#include "agent/proc_stats.h"

namespace tide {
namespace {

using testing::ReadAll;
using testing::TempDir;
using testing::WaitFor;
using testing::WriteAll;

const std::map<std::string, std::string> kEnv = {{"PATH", "/usr/bin:/bin"}};

// Live (non-zombie) processes whose process group is pgid.
std::vector<int> LiveGroupMembers(int pgid) {
  return testing::ProcessesWhere([&](int, const ProcStat& st) { return st.pgrp == pgid; });
}

class LauncherTest : public ::testing::Test {
 protected:
  ~LauncherTest() override {
    // Leave nothing behind, whatever the test did.
    for (const auto& r : launched_) {
      launcher_.SignalGroup(r.pid, SIGKILL);
      WaitFor([&] { return launcher_.TryReap(r.pid, r.start_time).has_value(); });
    }
    for (const auto& id : ids_) launcher_.Cleanup(id);
  }

  LaunchSpec Spec(std::vector<std::string> argv) {
    LaunchSpec s;
#if defined(__GNUC__) && !defined(__clang__)  // GCC bug 105651: at -O3 GCC 12 reports a bogus
#pragma GCC diagnostic push                   // -Wrestrict in "c" + std::string&&
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
    s.instance_id = "t" + std::to_string(::getpid()) + "-" + std::to_string(ids_.size());
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    ids_.push_back(s.instance_id);
    s.argv = std::move(argv);
    s.env = kEnv;
    s.log_path = dir_ / (s.instance_id + ".log");
    return s;
  }

  LaunchResult Start(const LaunchSpec& spec) {
    LaunchResult r;
    Status s = launcher_.Launch(spec, &r);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (s.ok()) launched_.push_back(r);
    return r;
  }

  // Waits for the process to end and returns how.
  ExitInfo Finish(const LaunchResult& r) {
    std::optional<ExitInfo> info;
    EXPECT_TRUE(
        WaitFor([&] { return (info = launcher_.TryReap(r.pid, r.start_time)).has_value(); }));
    return info.value_or(ExitInfo{});
  }

  // Runs argv to completion and returns its log.
  std::string Run(LaunchSpec spec, ExitInfo* info = nullptr) {
    LaunchResult r = Start(spec);
    ExitInfo e = Finish(r);
    if (info) *info = e;
    return ReadAll(spec.log_path);
  }

  TempDir dir_;
  OsProcessLauncher launcher_;
  std::vector<LaunchResult> launched_;
  std::vector<std::string> ids_;
};

TEST_F(LauncherTest, SocketActivationHandsOverAListeningSocketOnFd3WithTheChildsPid) {
  const int port = testing::FreeTcpPort();
  ASSERT_GT(port, 0);
  LaunchSpec s = Spec({"/bin/sh", "-c", testing::kActivationScript});
  s.listen_port = port;
  LaunchResult r = Start(s);
  ASSERT_TRUE(WaitFor([&] { return ReadAll(s.log_path).find("fds=") != std::string::npos; }));
  const std::string pid = std::to_string(r.pid);
  const std::string log = ReadAll(s.log_path);
  EXPECT_NE(log.find("pid=" + pid + " listen_pid=" + pid + " fds=1 names=http"), std::string::npos)
      << log;
  EXPECT_TRUE(WaitFor([&] { return ReadAll(s.log_path).find("socket-on-3") != std::string::npos; }))
      << ReadAll(s.log_path);
  EXPECT_TRUE(testing::CanConnect(port)) << "the kernel queues connections nobody accepted yet";
}

TEST_F(LauncherTest, SocketActivationOnAPortInUseFailsTheLaunchNamingThePort) {
  int busy = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a {};
  a.sin_family = AF_INET;
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(busy, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(busy, 1), 0);
  ASSERT_EQ(::getsockname(busy, reinterpret_cast<sockaddr*>(&a), &len), 0);
  LaunchSpec s = Spec({"/bin/true"});
  s.listen_port = ntohs(a.sin_port);
  LaunchResult r;
  Status st = launcher_.Launch(s, &r);
  ::close(busy);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(
      st.message().find("socket activation: cannot bind port " + std::to_string(s.listen_port)),
      std::string::npos)
      << st.message();
}

TEST_F(LauncherTest, StdoutAndStderrGoToTheLogWithoutAShell) {
  ExitInfo e;
  std::string log = Run(Spec({"sh", "-c", "echo hi; echo err >&2"}), &e);
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(e.signal, 0);
  EXPECT_NE(log.find("hi\n"), std::string::npos) << log;
  EXPECT_NE(log.find("err\n"), std::string::npos) << log;

  // argv is passed verbatim: shell metacharacters are just bytes.
  LaunchSpec spec = Spec({"echo", "$HOME; rm -rf /tmp/x", "*"});
  EXPECT_EQ(Run(spec), "$HOME; rm -rf /tmp/x *\n");
  // Appends: a second run adds to the same file.
  std::string path = spec.log_path;
  spec = Spec({"echo", "again"});
  spec.log_path = path;
  EXPECT_EQ(Run(spec), "$HOME; rm -rf /tmp/x *\nagain\n");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(LauncherTest, EnvironmentIsExactlyTheSpec) {
  ::setenv("TIDE_PARENT_ONLY", "leak", 1);
  LaunchSpec spec = Spec({"env"});
  spec.env = {{"PATH", "/usr/bin:/bin"}, {"FOO", "bar baz"}};
  EXPECT_EQ(Run(spec), "FOO=bar baz\nPATH=/usr/bin:/bin\n");
  ::unsetenv("TIDE_PARENT_ONLY");
}

TEST_F(LauncherTest, ResolvesArgv0ThroughTheChildsPath) {
  std::filesystem::create_directories(dir_ / "layer/bin");
  std::string tool = dir_ / "layer/bin/tide-hello";
  WriteAll(tool, "#!/bin/sh\necho from-layer \"$1\"\n");
  ::chmod(tool.c_str(), 0755);
  LaunchSpec spec = Spec({"tide-hello", "x"});
  spec.env["PATH"] = dir_ / "layer/bin" + ":/usr/bin:/bin";
  EXPECT_EQ(Run(spec), "from-layer x\n");

  std::string path;
  EXPECT_TRUE(OsProcessLauncher::ResolveExecutable("sh", kEnv, "", &path).ok());
  EXPECT_TRUE(path == "/usr/bin/sh" || path == "/bin/sh") << path;
  // Not on the agent's PATH semantics: only the child's PATH counts.
  EXPECT_FALSE(OsProcessLauncher::ResolveExecutable("tide-hello", kEnv, "", &path).ok());
  // A file without the execute bit is not an executable.
  WriteAll(dir_ / "plain", "x");
  EXPECT_FALSE(OsProcessLauncher::ResolveExecutable("./plain", kEnv, dir_.path(), &path).ok());
}

TEST_F(LauncherTest, MissingExecutableOrWorkingDirIsAnError) {
  LaunchResult r;
  Status s = launcher_.Launch(Spec({"tide-no-such-binary"}), &r);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "executable not found: tide-no-such-binary");
  s = launcher_.Launch(Spec({"/nonexistent/bin/app"}), &r);
  EXPECT_EQ(s.message(), "executable not found: /nonexistent/bin/app");
  LaunchSpec spec = Spec({"true"});
  spec.working_dir = dir_ / "no-such-dir";
  s = launcher_.Launch(spec, &r);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(spec.working_dir), std::string::npos) << s.message();
  spec = Spec({"true"});
  spec.argv.clear();
  EXPECT_FALSE(launcher_.Launch(spec, &r).ok());
}

TEST_F(LauncherTest, ExecFailureIsAnErrorAndLeavesNoZombie) {
  std::string bad = dir_ / "not-a-program";
  WriteAll(bad, "no shebang here\n");
  ::chmod(bad.c_str(), 0755);
  LaunchResult r;
  Status s = launcher_.Launch(Spec({bad}), &r);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot start"), std::string::npos) << s.message();
  // The forked child was reaped: this test process has no children left.
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(LauncherTest, WorkingDirRelativeExecutableAndStdin) {
  std::filesystem::create_directories(dir_ / "app");
  WriteAll(dir_ / "app/run.sh", "#!/bin/sh\npwd\ncat\necho done\n");
  ::chmod((dir_ / "app/run.sh").c_str(), 0755);
  LaunchSpec spec = Spec({"./run.sh"});
  spec.working_dir = dir_ / "app";
  ExitInfo e;
  // cat reads /dev/null: it ends at once instead of waiting on the agent's stdin.
  EXPECT_EQ(Run(spec, &e), dir_ / "app" + "\ndone\n");
  EXPECT_EQ(e.exit_code, 0);
}

TEST_F(LauncherTest, NoFdsLeakAndSignalsAreReset) {
  int leaky = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaky, 3);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  ::pthread_sigmask(SIG_BLOCK, &block, &old);
  auto old_handler = ::signal(SIGUSR1, SIG_IGN);

  std::string script =
      "ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; "
      "grep -E '^Sig(Blk|Ign)' /proc/self/status";
  std::string log = Run(Spec({"sh", "-c", script}));

  ::signal(SIGUSR1, old_handler);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(leaky);
  // ls sees 0,1,2 and its own directory fd (3); nothing of ours.
  EXPECT_EQ(log.substr(0, log.find('\n')), "0 1 2 3 ") << log;
  EXPECT_NE(log.find("SigBlk:\t0000000000000000"), std::string::npos) << log;
  EXPECT_NE(log.find("SigIgn:\t0000000000000000"), std::string::npos) << log;
}

TEST_F(LauncherTest, SignalGroupKillsTheWholeGroup) {
  LaunchResult r = Start(Spec({"sh", "-c", "sleep 100 & sleep 100; echo never"}));
  ASSERT_TRUE(WaitFor([&] { return LiveGroupMembers(r.pid).size() >= 2; }));
  ProcStat st;
  ASSERT_TRUE(ProcStats().ReadStat(r.pid, &st));
  EXPECT_EQ(st.pgrp, r.pid);  // its own process group
  EXPECT_NE(st.pgrp, ::getpgrp());
  EXPECT_TRUE(launcher_.IsAlive(r.pid, r.start_time));
  EXPECT_FALSE(launcher_.TryReap(r.pid, r.start_time).has_value());

  launcher_.SignalGroup(r.pid, SIGKILL);
  ExitInfo e = Finish(r);
  EXPECT_EQ(e.signal, SIGKILL);
  EXPECT_EQ(e.exit_code, -1);
  EXPECT_FALSE(e.oom_killed);
  EXPECT_TRUE(WaitFor([&] { return LiveGroupMembers(r.pid).empty(); }));
  EXPECT_FALSE(launcher_.IsAlive(r.pid, r.start_time));
  // Asking again gives the same answer.
  auto again = launcher_.TryReap(r.pid, r.start_time);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->signal, SIGKILL);
}

TEST_F(LauncherTest, IsAliveChecksTheStartTime) {
  LaunchResult r = Start(Spec({"sleep", "100"}));
  EXPECT_GT(r.start_time, 0u);
  EXPECT_TRUE(launcher_.IsAlive(r.pid, r.start_time));
  EXPECT_FALSE(launcher_.IsAlive(r.pid, r.start_time + 1));
  // A wrong start time names a process that is gone; TryReap must not reap the real one.
  auto other = launcher_.TryReap(r.pid, r.start_time + 1);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->exit_code, -1);
  EXPECT_TRUE(launcher_.IsAlive(r.pid, r.start_time));
  launcher_.SignalGroup(r.pid, SIGTERM);
  EXPECT_EQ(Finish(r).signal, SIGTERM);
  EXPECT_FALSE(launcher_.IsAlive(r.pid, r.start_time));
}

TEST_F(LauncherTest, TryReapGivesTheExitCode) {
  LaunchResult r = Start(Spec({"sh", "-c", "exit 3"}));
  ExitInfo e = Finish(r);
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_EQ(e.signal, 0);
  EXPECT_FALSE(e.oom_killed);
}

TEST_F(LauncherTest, NonChildrenEndWithUnknownCodeAndKeepTheirStatus) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl("/bin/sleep", "sleep", "100", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  uint64_t start = 0;
  ASSERT_TRUE(WaitFor([&] { return ProcStats().StartTime(pid, &start); }));
  EXPECT_FALSE(launcher_.TryReap(pid, start).has_value());
  ::kill(pid, SIGKILL);
  EXPECT_TRUE(WaitFor([&] { return !launcher_.IsAlive(pid, start); }));
  auto e = launcher_.TryReap(pid, start);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->exit_code, -1);
  EXPECT_EQ(e->signal, 0);
  // The launcher did not steal the status: its real parent still gets it.
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
}

TEST_F(LauncherTest, TheExitListenerHearsOfAnEndAtOnce) {
  std::atomic<int> calls{0};
  launcher_.SetExitListener([&] { ++calls; });
  LaunchResult r = Start(Spec({"sleep", "100"}));
  LaunchResult other = Start(Spec({"sleep", "100"}));
  EXPECT_EQ(calls.load(), 0);
  launcher_.SignalGroup(r.pid, SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return calls.load() >= 1; }));
  Finish(r);
  // Only that one ended; after SetExitListener(nullptr), nothing is called.
  launcher_.SetExitListener(nullptr);
  const int seen = calls.load();
  launcher_.SignalGroup(other.pid, SIGKILL);
  Finish(other);
  EXPECT_EQ(calls.load(), seen);
}

// LaunchMany launches from threads with a private descriptor table: the children inherit none
// of ours, our own descriptors stay open, and every child is still watched for its end.
TEST_F(LauncherTest, LaunchManyChildrenAreWatchedAndInheritNothing) {
  int leaky = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaky, 3);
  std::atomic<int> calls{0};
  launcher_.SetExitListener([&] { ++calls; });
  std::vector<LaunchSpec> specs;
  for (int i = 0; i < 6; ++i) {
    specs.push_back(Spec({"sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '; exit 3"}));
  }
  std::vector<Status> statuses;
  std::vector<LaunchResult> results;
  launcher_.LaunchMany(specs, &statuses, &results);
  ASSERT_EQ(statuses.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].ToString();
    launched_.push_back(results[i]);
  }
  ASSERT_TRUE(WaitFor([&] { return calls.load() >= 1; }));
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(Finish(results[i]).exit_code, 3);
    EXPECT_EQ(ReadAll(specs[i].log_path), "0 1 2 3 ");  // ls's own directory fd is 3
  }
  EXPECT_EQ(::fcntl(leaky, F_GETFD), 0);  // still open in our table
  ::close(leaky);
  launcher_.SetExitListener(nullptr);
}

TEST_F(LauncherTest, SampleSeesALiveProcess) {
  LaunchResult r = Start(Spec({"sleep", "100"}));
  LaunchResult other = Start(Spec({"sleep", "100"}));
  std::map<int, ProcSample> s;
  ASSERT_TRUE(WaitFor([&] {
    s = launcher_.Sample({r.pid, other.pid});
    return s.size() == 2 && s[r.pid].rss_bytes > 0 && s[other.pid].rss_bytes > 0;
  }));
  launcher_.SignalGroup(r.pid, SIGKILL);
  Finish(r);
  s = launcher_.Sample({r.pid, other.pid});
  EXPECT_EQ(s.count(r.pid), 0u);
  EXPECT_EQ(s.count(other.pid), 1u);
  launcher_.SignalGroup(other.pid, SIGKILL);
  Finish(other);
}

TEST_F(LauncherTest, MemoryLimitStopsAnAllocatingProcess) {
  const int64_t limit = 64 << 20;
  // dd fills a 256 MiB buffer from /dev/zero, touching every page.
  LaunchSpec big = Spec({"dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"});
  big.memory_limit_bytes = limit;
  LaunchResult r = Start(big);
  std::set<std::string> kinds = {"cgroup2", "cgroup1", "rlimit"};
  EXPECT_TRUE(kinds.count(r.limit_enforcer)) << r.limit_enforcer;
  bool over = false;
  int64_t max_rss = 0;
  std::optional<ExitInfo> e;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = launcher_.Sample({r.pid});
        if (s.count(r.pid)) max_rss = std::max(max_rss, s[r.pid].rss_bytes);
        if (max_rss > limit + (8 << 20)) over = true;
        return (e = launcher_.TryReap(r.pid, r.start_time)).has_value();
      },
      20000));
  EXPECT_FALSE(over) << "rss went to " << max_rss;
  EXPECT_FALSE(e->exit_code == 0 && e->signal == 0) << ReadAll(big.log_path);
  if (r.limit_enforcer != "rlimit") {
    EXPECT_EQ(e->signal, SIGKILL);
    EXPECT_TRUE(e->oom_killed);
  }
  std::cout << "memory limit enforced by " << r.limit_enforcer << "\n";

  // The same limit does not get in the way of a small process.
  LaunchSpec small = Spec({"dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=4"});
  small.memory_limit_bytes = limit;
  ExitInfo ok;
  Run(small, &ok);
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_FALSE(ok.oom_killed);

  LaunchSpec none = Spec({"true"});
  EXPECT_EQ(Start(none).limit_enforcer, "none");
}

TEST_F(LauncherTest, RlimitFallbackWhenNoCgroupIsUsable) {
  OsProcessLauncher::Options options;
  options.cgroups = CgroupLayout{};  // as on a host without usable cgroups
  OsProcessLauncher launcher(options);
  LaunchSpec spec = Spec({"dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"});
  spec.memory_limit_bytes = 64 << 20;
  LaunchResult r;
  ASSERT_TRUE(launcher.Launch(spec, &r).ok());
  EXPECT_EQ(r.limit_enforcer, "rlimit");
  std::optional<ExitInfo> e;
  ASSERT_TRUE(WaitFor([&] { return (e = launcher.TryReap(r.pid, r.start_time)).has_value(); }));
  EXPECT_NE(e->exit_code, 0);  // dd cannot get its buffer
  EXPECT_NE(ReadAll(spec.log_path).find("dd:"), std::string::npos) << ReadAll(spec.log_path);
}

TEST_F(LauncherTest, CleanupRemovesTheCgroup) {
  CgroupLayout layout = DetectCgroupLayout();
  LaunchSpec spec = Spec({"true"});
  spec.memory_limit_bytes = 128 << 20;
  LaunchResult r = Start(spec);
  Finish(r);
  std::string dir;
  if (r.limit_enforcer == "cgroup2")
    dir = MemoryLimits::InstanceDir(layout.cgroup2_parent, spec.instance_id);
  if (r.limit_enforcer == "cgroup1")
    dir = MemoryLimits::InstanceDir(layout.cgroup1_parent, spec.instance_id);
  if (dir.empty()) GTEST_SKIP() << "no cgroup on this host (" << r.limit_enforcer << ")";
  EXPECT_TRUE(std::filesystem::exists(dir));
  launcher_.Cleanup(spec.instance_id);
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace tide
