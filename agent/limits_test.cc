#include "agent/limits.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

TEST(LimitsTest, EnforcerNames) {
  EXPECT_STREQ(LimitEnforcerName(LimitEnforcer::kNone), "none");
  EXPECT_STREQ(LimitEnforcerName(LimitEnforcer::kCgroup2), "cgroup2");
  EXPECT_STREQ(LimitEnforcerName(LimitEnforcer::kCgroup1), "cgroup1");
  EXPECT_STREQ(LimitEnforcerName(LimitEnforcer::kRlimit), "rlimit");
}

TEST(LimitsTest, DetectsHybridLayoutFromFakeProc) {
  TempDir t;
  ::mkdir((t / "self").c_str(), 0755);
  std::string v2 = t / "unified", v1 = t / "memory";
  std::filesystem::create_directories(v2 + "/svc");
  WriteAll(v2 + "/svc/cgroup.subtree_control", "cpu memory pids\n");
  WriteAll(t / "self/mountinfo",
           "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
           "35 31 0:32 /ns " +
               v1 +
               " rw,relatime - cgroup cgroup rw,memory\n"
               "36 31 0:33 / /x rw - cgroup cgroup rw,cpu,cpuacct\n"
               "41 31 0:38 / " +
               v2 + " rw,relatime - cgroup2 cgroup2 rw\n");
  WriteAll(t / "self/cgroup", "9:name=systemd:/\n4:memory:/ns/agent\n1:cpu,cpuacct:/\n0::/svc\n");
  CgroupLayout l = DetectCgroupLayout(t.path());
  EXPECT_EQ(l.cgroup2_parent, v2 + "/svc/tide");
  EXPECT_EQ(l.cgroup1_parent, v1 + "/agent/tide");  // the mount root "/ns" is stripped

  // Without memory in the v2 subtree_control, v2 is not offered.
  WriteAll(v2 + "/svc/cgroup.subtree_control", "cpu pids\n");
  EXPECT_EQ(DetectCgroupLayout(t.path()).cgroup2_parent, "");
}

TEST(LimitsTest, PreparesCgroup2FilesAndSeesOomKills) {
  TempDir t;
  std::string parent = t / "tide";
  std::string dir = MemoryLimits::InstanceDir(parent, "web/1");
  EXPECT_EQ(dir, parent + "/web_1");
  std::filesystem::create_directories(dir);
  WriteAll(parent + "/cgroup.subtree_control", "memory\n");
  WriteAll(dir + "/memory.max", "");
  WriteAll(dir + "/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n");
  MemoryLimits limits(CgroupLayout{parent, ""});
  ChildLimit cl;
  ASSERT_TRUE(limits.Prepare("web/1", 64 << 20, &cl).ok());
  EXPECT_EQ(cl.enforcer, LimitEnforcer::kCgroup2);
  EXPECT_EQ(cl.procs_path, dir + "/cgroup.procs");
  EXPECT_EQ(ReadAll(dir + "/memory.max"), std::to_string(64 << 20));
  EXPECT_FALSE(limits.OomKilled("web/1"));  // the 2 earlier kills are the baseline
  WriteAll(dir + "/memory.events", "oom 2\noom_kill 3\n");
  EXPECT_TRUE(limits.OomKilled("web/1"));
}

TEST(LimitsTest, FallsBackToRlimitAndNone) {
  TempDir t;
  // A v1 parent that is not a cgroup (no memory.limit_in_bytes appears) falls through to rlimit.
  MemoryLimits limits(CgroupLayout{"", t / "v1/tide"});
  ChildLimit cl;
  ASSERT_TRUE(limits.Prepare("a", 1 << 30, &cl).ok());
  EXPECT_EQ(cl.enforcer, LimitEnforcer::kRlimit);
  EXPECT_EQ(cl.rlimit_bytes, 1 << 30);
  ASSERT_TRUE(limits.Prepare("a", 0, &cl).ok());
  EXPECT_EQ(cl.enforcer, LimitEnforcer::kNone);
  EXPECT_FALSE(limits.Prepare("a", -1, &cl).ok());
  limits.Cleanup("a");
  EXPECT_FALSE(std::filesystem::exists(t / "v1/tide/a"));
}

TEST(LimitsTest, ChildAppliesRlimit) {
  ChildLimit cl;
  cl.enforcer = LimitEnforcer::kRlimit;
  cl.rlimit_bytes = 512 << 20;
  int rc = InChild([&] {
    if (cl.ApplyInChild() != 0) return 1;
    struct rlimit rl;
    ::getrlimit(RLIMIT_AS, &rl);
    return rl.rlim_cur == static_cast<rlim_t>(512 << 20) ? 0 : 2;
  });
  EXPECT_EQ(rc, 0);
}

TEST(LimitsTest, ChildWritesItsPidIntoProcs) {
  TempDir t;
  ChildLimit cl;
  cl.enforcer = LimitEnforcer::kCgroup1;
  cl.procs_path = t / "cgroup.procs";
  WriteAll(cl.procs_path, "");
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(cl.ApplyInChild());
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(ReadAll(cl.procs_path), std::to_string(pid));

  cl.procs_path = t / "missing/cgroup.procs";
  EXPECT_NE(InChild([&] { return cl.ApplyInChild(); }), 0);
}

TEST(LimitsTest, RealHostDetectionIsConsistent) {
  CgroupLayout l = DetectCgroupLayout();
  for (const std::string& p : {l.cgroup1_parent, l.cgroup2_parent}) {
    if (!p.empty()) {
      EXPECT_EQ(p.rfind("/sys/fs/cgroup", 0), 0u) << p;
      EXPECT_EQ(p.substr(p.size() - 5), "/tide") << p;
    }
  }
}

}  // namespace
}  // namespace tide
