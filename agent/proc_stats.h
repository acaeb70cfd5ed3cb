// ProcStats: reads CPU time, resident memory and start times from a /proc tree.
//
// The /proc root is a constructor parameter so tests can point it at a fake tree in a temp dir
// (with fixed clock-tick and page-size values); production uses "/proc" and sysconf values.
// An instance is sampled as the sum over every process whose process group id equals the
// instance's pid (the launcher makes each instance a process-group leader).
//
// CPU: utime + stime of each live member plus cutime + cstime (time of members' children that
// have already been reaped), so the total keeps growing when short-lived children of the
// instance come and go. RSS: resident pages from /proc/PID/statm (falling back to field 24 of
// /proc/PID/stat) times the page size.
//
// Stateless apart from its configuration: every method is const and safe to call from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/launcher.h"

namespace tide {

// The fields of /proc/PID/stat Tide uses.
struct ProcStat {
  int pid = 0;
  char state = '?';  // R, S, D, Z, T, X, ...
  int ppid = 0;
  int pgrp = 0;
  uint64_t utime = 0, stime = 0, cutime = 0, cstime = 0;  // clock ticks
  uint64_t start_time = 0;                                // field 22, ticks after boot
  int64_t rss_pages = 0;                                  // field 24
};

// Parses the text of a /proc/PID/stat file (the comm field may contain spaces and ')').
bool ParseProcStat(const std::string& text, ProcStat* out);

class ProcStats {
 public:
  // clk_tck / page_size <= 0 mean "ask sysconf".
  explicit ProcStats(std::string proc_root = "/proc", long clk_tck = 0, long page_size = 0);

  // Reads PROC/PID/stat. False when the process does not exist (or the file is unreadable).
  bool ReadStat(int pid, ProcStat* out) const;
  // Start time (field 22) of pid. False when the process does not exist.
  bool StartTime(int pid, uint64_t* out) const;
  // Sums CPU and RSS over every process whose pgid == pgid. False when no process of the group
  // could be read.
  bool SampleGroup(int pgid, ProcSample* out) const;
  // SampleGroup for many groups with ONE pass over /proc (the cost of a pass grows with every
  // process on the host, so a per-instance pass is quadratic on a busy node). Groups of which
  // no process could be read are absent from the result.
  std::map<int, ProcSample> SampleGroups(const std::vector<int>& pgids) const;

 private:
  int64_t RssBytes(const ProcStat& st) const;

  std::string root_;
  long clk_tck_;
  long page_size_;
};

}  // namespace tide
