// Helpers shared by the agent OS-layer tests: temp directories, file helpers and waiting on a
// condition with a deadline (never a fixed sleep).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/proc_stats.h"
#include "api/clock.h"

namespace tide::testing {

// Pids of the live (not zombie) processes for which pred(pid, stat) holds.
inline std::vector<int> ProcessesWhere(const std::function<bool(int, const ProcStat&)>& pred) {
  std::vector<int> out;
  ProcStats stats;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    int pid = std::atoi(e.path().filename().c_str());
    ProcStat st;
    if (pid > 0 && stats.ReadStat(pid, &st) && st.state != 'Z' && pred(pid, st)) {
      out.push_back(pid);
    }
  }
  return out;
}

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tide-os-XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    path_ = p ? std::filesystem::canonical(p).string() : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteAll(const std::string& path, const std::string& text, bool append = false) {
  std::ofstream out(path, append ? std::ios::app : std::ios::trunc);
  out << text;
}

// Polls pred until it is true or timeout_ms passed (measured with SystemClock).
inline bool WaitFor(const std::function<bool()>& pred, int64_t timeout_ms = 5000) {
  const int64_t deadline = SystemClock::Get().NowMs() + timeout_ms;
  while (!pred()) {
    if (SystemClock::Get().NowMs() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace tide::testing
