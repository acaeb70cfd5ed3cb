#include "agent/freezer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/cgroup_files.h"

// The frozen tier on real processes: each mechanism this host offers freezes a busy process
// (no CPU while frozen), thaws it, reports a process killed while frozen as gone, and leaves
// nothing frozen across a restart (ThawLeftovers).
namespace tide {
namespace {

// A child in a process group of its own that burns CPU until killed. With `procs` set, it first
// joins that cgroup.procs file.
pid_t BusyChild(const std::string& procs = "") {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    if (!procs.empty()) cgroupfs::WriteText(procs, std::to_string(::getpid()));
    for (;;) asm volatile("" ::: "memory");  // a busy loop the compiler keeps
  }
  ::setpgid(pid, pid);
  return pid;
}

// utime + stime of `pid`, in clock ticks.
long CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  long ut = 0, st = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) ut = std::stol(field);
    if (i == 15) st = std::stol(field);
  }
  return ut + st;
}

// CPU ticks used over `ms` of wall time.
long CpuOver(pid_t pid, int ms) {
  long a = CpuTicks(pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));  // measuring a rate, not waiting
  return CpuTicks(pid) - a;
}

// Whether the process stops using CPU within 5 s: a v1 freeze or a SIGSTOP completes a little
// after the call that asks for it (a fixed 50 ms wait was sometimes too short, docs/testing.md).
bool CpuStops(pid_t pid) {
  for (int i = 0; i < 25; ++i) {
    if (CpuOver(pid, 200) == 0) return true;
  }
  return false;
}

void Reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// Freezes, checks no CPU advances, thaws, checks it runs again.
void FreezeAndThaw(InstanceFreezer& f, const std::string& id, pid_t pid, const char* method) {
  EXPECT_EQ(f.MethodFor(id), method);
  ASSERT_TRUE(f.Freeze(id, pid).ok());
  EXPECT_TRUE(f.IsFrozen(id));
  EXPECT_TRUE(f.Freeze(id, pid).ok());                         // idempotent
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the freeze settle
  EXPECT_EQ(CpuOver(pid, 300), 0) << method;
  ASSERT_TRUE(f.Thaw(id).ok());
  EXPECT_FALSE(f.IsFrozen(id));
  EXPECT_GT(CpuOver(pid, 300), 0) << method;
  EXPECT_TRUE(f.Thaw(id).ok());  // not frozen: nothing to do
}

TEST(FreezerTest, SignalFallbackStopsTheGroup) {
  InstanceFreezer f(FreezerPaths{});
  pid_t pid = BusyChild();
  FreezeAndThaw(f, "sig-1", pid, "signal");
  // /proc shows a stopped process while frozen.
  ASSERT_TRUE(f.Freeze("sig-1", pid).ok());
  std::string status;
  for (int i = 0; i < 200 && status.find("State:\tT") == std::string::npos; ++i) {
    cgroupfs::ReadText("/proc/" + std::to_string(pid) + "/status", &status);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_NE(status.find("State:\tT"), std::string::npos) << status;
  // Killed while frozen: a thaw reports it gone, so the gateway sends the request elsewhere.
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_EQ(f.Thaw("sig-1").code(), Status::Code::kNotFound);
  EXPECT_FALSE(f.IsFrozen("sig-1"));
  EXPECT_FALSE(f.Freeze("sig-1", 0).ok());  // no process: a clear error
}

TEST(FreezerTest, CgroupFreezerOfThisHost) {
  CgroupLayout layout = DetectCgroupLayout();
  FreezerPaths paths = DetectFreezerPaths(layout);
  MemoryLimits limits(layout);
  ChildLimit cl;
  const std::string id = "freezer-test-" + std::to_string(::getpid());
  ASSERT_TRUE(limits.Prepare(id, 0, &cl).ok());
  if (cl.procs_path.empty() || (paths.v2_parent.empty() && paths.v1_freezer_parent.empty())) {
    GTEST_SKIP() << "no instance cgroup or freezer on this host";
  }
  const char* method = cl.enforcer == LimitEnforcer::kCgroup2 ? "cgroup2" : "cgroup1";
  if (std::string(method) == "cgroup1" && paths.v1_freezer_parent.empty()) {
    GTEST_SKIP() << "v1 memory cgroup without a v1 freezer";
  }
  pid_t pid = BusyChild(cl.procs_path);
  // Wait until the child is in its cgroup (it joins itself after the fork).
  std::string procs;
  for (int i = 0; i < 400 && procs.find(std::to_string(pid)) == std::string::npos; ++i) {
    cgroupfs::ReadText(cl.procs_path, &procs);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  InstanceFreezer f(paths);
  FreezeAndThaw(f, id, pid, method);
  if (std::string(method) == "cgroup1") {
    // The empty cgroup that keeps the kernel's freezer key on stays frozen, with no process.
    const std::string hold = paths.v1_freezer_parent + "/" + InstanceFreezer::kV1HoldCgroup;
    std::string state, members;
    ASSERT_TRUE(cgroupfs::ReadText(hold + "/freezer.state", &state));
    EXPECT_TRUE(state.starts_with("FROZEN")) << state;
    ASSERT_TRUE(cgroupfs::ReadText(hold + "/cgroup.procs", &members));
    EXPECT_EQ(members, "");
  }
  f.Release(id, true);
  Reap(pid);
  limits.Cleanup(id);
}

TEST(FreezerTest, LeftoversAreThawedAtStart) {
  CgroupLayout layout = DetectCgroupLayout();
  FreezerPaths paths = DetectFreezerPaths(layout);
  // The signal fallback: a group stopped by an earlier agent gets SIGCONT.
  pid_t pid = BusyChild();
  {
    InstanceFreezer before(FreezerPaths{});
    ASSERT_TRUE(before.Freeze("left-1", pid).ok());
  }  // the agent goes away; the process stays stopped
  EXPECT_TRUE(CpuStops(pid));
  InstanceFreezer after(FreezerPaths{});
  after.ThawLeftovers({{"left-1", pid}});
  EXPECT_GT(CpuOver(pid, 300), 0);
  Reap(pid);

  // A v1 freezer cgroup left FROZEN is thawed.
  if (paths.v1_freezer_parent.empty()) return;
  MemoryLimits limits(layout);
  ChildLimit cl;
  const std::string id = "freezer-left-" + std::to_string(::getpid());
  ASSERT_TRUE(limits.Prepare(id, 0, &cl).ok());
  if (cl.enforcer == LimitEnforcer::kCgroup2 || cl.procs_path.empty()) return;
  pid = BusyChild(cl.procs_path);
  std::string procs;
  for (int i = 0; i < 400 && procs.find(std::to_string(pid)) == std::string::npos; ++i) {
    cgroupfs::ReadText(cl.procs_path, &procs);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  {
    InstanceFreezer before(paths);
    ASSERT_TRUE(before.Freeze(id, pid).ok());
  }
  EXPECT_TRUE(CpuStops(pid));
  InstanceFreezer again(paths);
  // Another agent's instances are not this one's to thaw: it stays frozen...
  EXPECT_EQ(again.ThawLeftovers({{"someone-else", 0}}), 0);
  EXPECT_TRUE(CpuStops(pid));
  // ...and this agent's own is thawed.
  EXPECT_EQ(again.ThawLeftovers({{id, 0}}), 1);
  EXPECT_GT(CpuOver(pid, 300), 0);
  Reap(pid);
  again.Release(id, true);
  limits.Cleanup(id);
}

}  // namespace
}  // namespace tide
