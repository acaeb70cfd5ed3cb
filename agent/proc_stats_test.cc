#include "agent/proc_stats.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/os_test_util.h"

namespace tide {
namespace {

using testing::TempDir;
using testing::WaitFor;
using testing::WriteAll;

// A /proc/PID/stat line with the fields Tide reads; the rest are filler.
std::string StatLine(int pid, const std::string& comm, char state, int pgrp, int utime, int stime,
                     int cutime, int cstime, uint64_t start, int rss_pages) {
  std::ostringstream s;
  s << pid << " (" << comm << ") " << state << " 1 " << pgrp << " " << pgrp
    << " 0 -1 4194560 100 0 0 0 " << utime << " " << stime << " " << cutime << " " << cstime
    << " 20 0 1 0 " << start << " 1000000 " << rss_pages << " 18446744073709551615\n";
  return s.str();
}

void AddProc(const TempDir& dir, int pid, const std::string& stat, const std::string& statm) {
  std::string d = dir / std::to_string(pid);
  ::mkdir(d.c_str(), 0755);
  WriteAll(d + "/stat", stat);
  if (!statm.empty()) WriteAll(d + "/statm", statm);
}

TEST(ProcStatsTest, ParsesCommWithSpacesAndParens) {
  ProcStat st;
  ASSERT_TRUE(ParseProcStat(StatLine(42, "a) (b c", 'S', 40, 7, 8, 1, 2, 12345, 9), &st));
  EXPECT_EQ(st.pid, 42);
  EXPECT_EQ(st.state, 'S');
  EXPECT_EQ(st.pgrp, 40);
  EXPECT_EQ(st.utime, 7u);
  EXPECT_EQ(st.stime, 8u);
  EXPECT_EQ(st.cutime, 1u);
  EXPECT_EQ(st.cstime, 2u);
  EXPECT_EQ(st.start_time, 12345u);
  EXPECT_EQ(st.rss_pages, 9);
  EXPECT_FALSE(ParseProcStat("garbage", &st));
  EXPECT_FALSE(ParseProcStat("1 (x) S 1 2", &st));
}

TEST(ProcStatsTest, SumsTheProcessGroupOfAFakeProcTree) {
  TempDir proc;
  AddProc(proc, 100, StatLine(100, "leader", 'S', 100, 100, 50, 10, 0, 777, 1),
          "500 10 0 0 0 0 0\n");
  AddProc(proc, 101, StatLine(101, "child", 'R', 100, 200, 0, 0, 0, 778, 5), "");  // stat rss
  AddProc(proc, 102, StatLine(102, "zombie", 'Z', 100, 40, 0, 0, 0, 779, 0), "0 0 0 0 0 0 0\n");
  AddProc(proc, 200, StatLine(200, "other", 'S', 200, 999, 999, 0, 0, 780, 99), "9 9 0 0 0 0 0\n");
  WriteAll(proc / "self", "not a pid dir");
  ProcStats stats(proc.path(), /*clk_tck=*/100, /*page_size=*/4096);

  ProcSample s;
  ASSERT_TRUE(stats.SampleGroup(100, &s));
  EXPECT_DOUBLE_EQ(s.cpu_seconds_total, (100 + 50 + 10 + 200 + 40) / 100.0);
  EXPECT_EQ(s.rss_bytes, (10 + 5) * 4096);
  EXPECT_FALSE(stats.SampleGroup(300, &s));

  // One pass answers several groups; a group with no process is absent.
  auto many = stats.SampleGroups({100, 200, 300, 0});
  ASSERT_EQ(many.size(), 2u);
  EXPECT_DOUBLE_EQ(many[100].cpu_seconds_total, (100 + 50 + 10 + 200 + 40) / 100.0);
  EXPECT_EQ(many[100].rss_bytes, (10 + 5) * 4096);
  EXPECT_DOUBLE_EQ(many[200].cpu_seconds_total, (999 + 999) / 100.0);
  EXPECT_EQ(many[200].rss_bytes, 9 * 4096);

  uint64_t start = 0;
  ASSERT_TRUE(stats.StartTime(101, &start));
  EXPECT_EQ(start, 778u);
  EXPECT_FALSE(stats.StartTime(555, &start));
}

TEST(ProcStatsTest, ReadsTheRealProcForAChildGroup) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // either side may win the race; both calls are fine
  ProcStats stats;
  ProcSample s;
  EXPECT_TRUE(WaitFor([&] { return stats.SampleGroup(pid, &s) && s.rss_bytes > 0; }));
  EXPECT_GT(s.rss_bytes, 0);
  EXPECT_GE(s.cpu_seconds_total, 0.0);
  uint64_t start = 0;
  EXPECT_TRUE(stats.StartTime(pid, &start));
  EXPECT_GT(start, 0u);
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_FALSE(stats.StartTime(pid, &start));
}

}  // namespace
}  // namespace tide
