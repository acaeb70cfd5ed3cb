#include "agent/proc_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>

namespace tide {
namespace {

// Reads a small file completely; false when it cannot be opened.
bool ReadSmallFile(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

bool AllDigits(const char* s) {
  if (*s == '\0') return false;
  for (; *s; ++s) {
    if (*s < '0' || *s > '9') return false;
  }
  return true;
}

}  // namespace

bool ParseProcStat(const std::string& text, ProcStat* out) {
  // "PID (comm) S ppid pgrp ...": comm may hold anything, so split at the LAST ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 > text.size()) return false;
  ProcStat st;
  st.pid = std::atoi(text.c_str());
  std::istringstream in(text.substr(close + 2));
  // Fields from 3 (state) on; index i below is the 1-based field number.
  std::string field;
  for (int i = 3; i <= 24 && (in >> field); ++i) {
    switch (i) {
      case 3:
        st.state = field[0];
        break;
      case 4:
        st.ppid = std::atoi(field.c_str());
        break;
      case 5:
        st.pgrp = std::atoi(field.c_str());
        break;
      case 14:
        st.utime = std::strtoull(field.c_str(), nullptr, 10);
        break;
      case 15:
        st.stime = std::strtoull(field.c_str(), nullptr, 10);
        break;
      case 16:
        st.cutime = std::strtoull(field.c_str(), nullptr, 10);
        break;
      case 17:
        st.cstime = std::strtoull(field.c_str(), nullptr, 10);
        break;
      case 22:
        st.start_time = std::strtoull(field.c_str(), nullptr, 10);
        break;
      case 24:
        st.rss_pages = std::strtoll(field.c_str(), nullptr, 10);
        *out = st;
        return true;
      default:
        break;
    }
  }
  return false;
}

ProcStats::ProcStats(std::string proc_root, long clk_tck, long page_size)
    : root_(std::move(proc_root)),
      clk_tck_(clk_tck > 0 ? clk_tck : ::sysconf(_SC_CLK_TCK)),
      page_size_(page_size > 0 ? page_size : ::sysconf(_SC_PAGESIZE)) {
  if (clk_tck_ <= 0) clk_tck_ = 100;
  if (page_size_ <= 0) page_size_ = 4096;
}

bool ProcStats::ReadStat(int pid, ProcStat* out) const {
  if (pid <= 0) return false;
  std::string text;
  if (!ReadSmallFile(root_ + "/" + std::to_string(pid) + "/stat", &text)) return false;
  return ParseProcStat(text, out);
}

bool ProcStats::StartTime(int pid, uint64_t* out) const {
  ProcStat st;
  if (!ReadStat(pid, &st)) return false;
  *out = st.start_time;
  return true;
}

int64_t ProcStats::RssBytes(const ProcStat& st) const {
  std::string text;
  int64_t pages = st.rss_pages;
  if (ReadSmallFile(root_ + "/" + std::to_string(st.pid) + "/statm", &text)) {
    // "size resident shared text lib data dt" (pages)
    std::istringstream in(text);
    int64_t size = 0, resident = 0;
    if (in >> size >> resident) pages = resident;
  }
  return pages > 0 ? pages * page_size_ : 0;
}

bool ProcStats::SampleGroup(int pgid, ProcSample* out) const {
  auto samples = SampleGroups({pgid});
  auto it = samples.find(pgid);
  if (it == samples.end()) return false;
  *out = it->second;
  return true;
}

std::map<int, ProcSample> ProcStats::SampleGroups(const std::vector<int>& pgids) const {
  struct Sum {
    uint64_t ticks = 0;
    int64_t rss = 0;
    bool any = false;
  };
  std::map<int, Sum> sums;
  for (int g : pgids) {
    if (g > 0) sums.emplace(g, Sum{});
  }
  std::map<int, ProcSample> out;
  if (sums.empty()) return out;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(root_.c_str()), ::closedir);
  if (!dir) return out;
  while (struct dirent* e = ::readdir(dir.get())) {
    if (!AllDigits(e->d_name)) continue;
    ProcStat st;
    if (!ReadStat(std::atoi(e->d_name), &st)) continue;
    auto it = sums.find(st.pgrp);
    if (it == sums.end()) continue;
    Sum& sum = it->second;
    sum.any = true;
    sum.ticks += st.utime + st.stime + st.cutime + st.cstime;
    if (st.state != 'Z' && st.state != 'X') sum.rss += RssBytes(st);
  }
  for (const auto& [g, sum] : sums) {
    if (!sum.any) continue;
    out[g] = ProcSample{static_cast<double>(sum.ticks) / static_cast<double>(clk_tck_), sum.rss};
  }
  return out;
}

}  // namespace tide
