#include "agent/pids_limit.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "agent/os_test_util.h"

namespace tide {
namespace {

using testing::ReadAll;
using testing::TempDir;
using testing::WriteAll;

// Runs fn in a forked child and returns its exit code.
int InChild(const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Forks up to `tries` children that wait for the parent, then releases and reaps them all.
// Returns how many forks succeeded (a bounded fork bomb).
int ForkUpTo(int tries) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  int made = 0;
  for (; made < tries; ++made) {
    pid_t pid = ::fork();
    if (pid < 0) break;
    if (pid == 0) {
      ::close(fds[1]);
      char c;
      (void)!::read(fds[0], &c, 1);  // EOF once the parent closes its end
      ::_exit(0);
    }
  }
  ::close(fds[1]);
  ::close(fds[0]);
  while (::wait(nullptr) > 0) {
  }
  return made;
}

TEST(PidsLimitTest, DetectsV1AndV2FromFakeProc) {
  TempDir t;
  ::mkdir((t / "self").c_str(), 0755);
  std::string v2 = t / "unified", v1 = t / "pids";
  std::filesystem::create_directories(v2 + "/svc");
  WriteAll(v2 + "/svc/cgroup.subtree_control", "memory pids\n");
  WriteAll(t / "self/mountinfo",
           "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
           "35 31 0:32 /ns " +
               v1 +
               " rw,relatime - cgroup cgroup rw,pids\n"
               "36 31 0:33 / /x rw - cgroup cgroup rw,memory\n"
               "41 31 0:38 / " +
               v2 + " rw,relatime - cgroup2 cgroup2 rw\n");
  WriteAll(t / "self/cgroup", "8:pids:/ns/agent\n4:memory:/m\n0::/svc\n");
  PidsLayout l = DetectPidsLayout(t.path());
  EXPECT_EQ(l.cgroup2_parent, v2 + "/svc/tide");
  EXPECT_EQ(l.cgroup1_parent, v1 + "/agent/tide");  // the mount root "/ns" is stripped

  // Without pids in the v2 subtree_control and without a v1 pids line: nothing to use.
  WriteAll(v2 + "/svc/cgroup.subtree_control", "memory\n");
  WriteAll(t / "self/cgroup", "4:memory:/m\n0::/svc\n");
  l = DetectPidsLayout(t.path());
  EXPECT_EQ(l.cgroup2_parent, "");
  EXPECT_EQ(l.cgroup1_parent, "");
  EXPECT_EQ(PidsLimits(l).Describe(), "rlimit (RLIMIT_NPROC)");
}

TEST(PidsLimitTest, WritesPidsMaxIntoTheInstanceCgroup) {
  TempDir t;
  std::string parent = t / "tide";
  std::string dir = MemoryLimits::InstanceDir(parent, "web/1");
  std::filesystem::create_directories(dir);
  WriteAll(dir + "/cgroup.procs", "");  // what a cgroup file system shows in a new directory
  WriteAll(dir + "/pids.max", "");      // a cgroup file takes each write whole
  WriteAll(parent + "/cgroup.subtree_control", "");  // nothing enabled yet

  PidsLimits v1(PidsLayout{"", parent});
  ChildLimit cl;
  ASSERT_TRUE(v1.Prepare("web/1", 64, &cl).ok());
  EXPECT_EQ(cl.pids_enforcer, LimitEnforcer::kCgroup1);
  EXPECT_EQ(cl.pids_procs_path, dir + "/cgroup.procs");
  EXPECT_EQ(ReadAll(dir + "/pids.max"), "64");
  EXPECT_EQ(v1.Describe(), "cgroup1 (" + parent + ")");

  // v2: the same directory as the memory cgroup needs no second join; +pids is enabled.
  PidsLimits v2(PidsLayout{parent, ""});
  cl = ChildLimit();
  cl.procs_path = dir + "/cgroup.procs";
  WriteAll(dir + "/pids.max", "");
  ASSERT_TRUE(v2.Prepare("web/1", 100, &cl).ok());
  EXPECT_EQ(cl.pids_enforcer, LimitEnforcer::kCgroup2);
  EXPECT_EQ(cl.pids_procs_path, "");
  EXPECT_EQ(ReadAll(dir + "/pids.max"), "100");
  EXPECT_EQ(ReadAll(parent + "/cgroup.subtree_control"), "+pids");
}

TEST(PidsLimitTest, UnlimitedMakesNothingAndNoCgroupFallsBackToRlimit) {
  TempDir t;
  PidsLimits limits(PidsLayout{"", t / "v1/tide"});  // not a cgroup file system
  ChildLimit cl;
  cl.pids_enforcer = LimitEnforcer::kCgroup1;  // left over: Prepare resets it
  ASSERT_TRUE(limits.Prepare("a", 0, &cl).ok());
  EXPECT_EQ(cl.pids_enforcer, LimitEnforcer::kNone);
  EXPECT_FALSE(std::filesystem::exists(t / "v1/tide/a"));

  ASSERT_TRUE(limits.Prepare("a", 32, &cl).ok());
  EXPECT_EQ(cl.pids_enforcer, LimitEnforcer::kRlimit);
  EXPECT_EQ(cl.nproc, 32);
  EXPECT_EQ(cl.pids_procs_path, "");
  EXPECT_FALSE(std::filesystem::exists(t / "v1/tide/a"));  // the failed attempt left nothing
  EXPECT_FALSE(limits.Prepare("a", -1, &cl).ok());
}

TEST(PidsLimitTest, ChildAppliesRlimitNproc) {
  ChildLimit cl;
  cl.pids_enforcer = LimitEnforcer::kRlimit;
  cl.nproc = 77;
  int rc = InChild([&] {
    if (cl.ApplyInChild() != 0) return 1;
    struct rlimit rl;
    ::getrlimit(RLIMIT_NPROC, &rl);
    return rl.rlim_cur == 77 && rl.rlim_max == 77 ? 0 : 2;
  });
  EXPECT_EQ(rc, 0);
}

TEST(PidsLimitTest, ChildJoinsBothCgroups) {
  TempDir t;
  ChildLimit cl;
  cl.procs_path = t / "memory.procs";
  cl.pids_procs_path = t / "pids.procs";
  WriteAll(cl.procs_path, "");
  WriteAll(cl.pids_procs_path, "");
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(cl.ApplyInChild());
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(ReadAll(cl.procs_path), std::to_string(pid));
  EXPECT_EQ(ReadAll(cl.pids_procs_path), std::to_string(pid));
  cl.pids_procs_path = t / "missing/cgroup.procs";  // a failed join is an error, not ignored
  EXPECT_NE(InChild([&] { return cl.ApplyInChild(); }), 0);
}

// The real controller of this host, when there is one and we may use it: a bounded fork bomb
// stops at the limit and Cleanup removes the cgroup.
TEST(PidsLimitTest, RealControllerStopsAForkBomb) {
  PidsLimits limits(DetectPidsLayout());
  if (::geteuid() != 0 || limits.Describe().starts_with("rlimit")) {
    GTEST_SKIP() << "no pids controller usable here: " << limits.Describe();
  }
  const std::string id = "pids-unit-" + std::to_string(::getpid());
  ChildLimit cl;
  ASSERT_TRUE(limits.Prepare(id, 8, &cl).ok());
  if (cl.pids_enforcer == LimitEnforcer::kRlimit) GTEST_SKIP() << "cgroup not writable";
  int made = InChild([&] { return cl.ApplyInChild() != 0 ? 255 : ForkUpTo(200); });
  EXPECT_GE(made, 1);
  EXPECT_LE(made, 7) << "8 tasks: the child itself and at most 7 more";
  limits.Cleanup(id);
  const PidsLayout& l = limits.layout();
  for (const std::string& parent : {l.cgroup2_parent, l.cgroup1_parent}) {
    if (!parent.empty()) {
      EXPECT_FALSE(std::filesystem::exists(MemoryLimits::InstanceDir(parent, id))) << parent;
    }
  }
  // Without the limit the same child forks all 200.
  EXPECT_EQ(InChild([] { return ForkUpTo(200); }), 200);
}

}  // namespace
}  // namespace tide
