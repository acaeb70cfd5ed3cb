// Helpers shared by the agent OS-layer tests: temp directories, file helpers and waiting on a
// condition with a deadline (never a fixed sleep).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
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

// A TCP port free on every interface right now (bound to 0 and closed again).
inline int FreeTcpPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a {};
  a.sin_family = AF_INET;
  socklen_t len = sizeof a;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// True when a TCP connection to 127.0.0.1:port completes.
inline bool CanConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// The check both launch paths (direct and through a stub) must pass for socket activation: the
// program saw LISTEN_FDS=1, LISTEN_FDNAMES=http, LISTEN_PID equal to its own pid, a socket on
// fd 3; and the port accepts connections before the program does.
inline const char* kActivationScript =
    "echo \"pid=$$ listen_pid=$LISTEN_PID fds=$LISTEN_FDS names=$LISTEN_FDNAMES\"; "
    "[ -S /proc/self/fd/3 ] && echo socket-on-3; exec sleep 60";

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
