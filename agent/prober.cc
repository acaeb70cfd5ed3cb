#include "agent/prober.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

namespace tide {
namespace {

std::string Errno(const char* what, int err) { return std::string(what) + ": " + strerror(err); }

// A finished connect on fd: ok when SO_ERROR is 0.
ProbeResult ConnectOutcome(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0) return {true, ""};
  return {false, Errno("connect", err)};
}

// Starts a non-blocking connect to 127.0.0.1:port. Returns the result when it is known at once;
// otherwise nullopt with *pending_fd open and connecting.
std::optional<ProbeResult> StartConnect(int port, int* pending_fd) {
  *pending_fd = -1;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ProbeResult{false, Errno("socket", errno)};
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
    ::close(fd);
    return ProbeResult{true, ""};
  }
  const int err = errno;
  if (err == EINPROGRESS) {
    *pending_fd = fd;
    return std::nullopt;
  }
  ::close(fd);
  return ProbeResult{false, Errno("connect", err)};
}

int64_t ToMs(double seconds) { return static_cast<int64_t>(std::llround(seconds * 1000.0)); }

// argv[0] as a path: itself when it has a '/', else the first executable match in env's PATH.
std::string ResolveExecutable(const std::string& name, const StringMap& env) {
  if (name.find('/') != std::string::npos) return name;
  auto it = env.find("PATH");
  const std::string path = it != env.end() ? it->second : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
#if defined(__GNUC__) && !defined(__clang__)  // GCC bug 105329: at -O3 GCC 12 reports a bogus
#pragma GCC diagnostic push                   // -Wrestrict in assigning a one-character literal
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
    if (dir.empty()) dir = ".";
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// Waits up to timeout_ms for pid to end; reaps it. True with *status when it ended in time.
bool WaitWithTimeout(pid_t pid, int64_t timeout_ms, int* status) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(timeout_ms, INT32_MAX)));
    } while (rc < 0 && errno == EINTR);
    ::close(pidfd);
    if (rc > 0) return ::waitpid(pid, status, 0) == pid;
    return false;
  }
  // Kernels without pidfd: check every few ms.
  const int64_t deadline = SystemClock::Get().NowMs() + timeout_ms;
  while (true) {
    pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return false;
    if (SystemClock::Get().NowMs() >= deadline) return false;
    ::usleep(2000);
  }
}

}  // namespace

RealProber::RealProber(int workers, Clock& clock) : clock_(clock) {
  for (int i = 0; i < std::max(1, workers); ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

RealProber::~RealProber() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  for (auto& [ticket, pc] : connecting_) ::close(pc.fd);
}

Prober::Ticket RealProber::Submit(const Probe& probe, const ProbeTarget& target) {
  std::lock_guard<std::mutex> lock(mu_);
  const Ticket ticket = next_ticket_++;
  switch (probe.type) {
    case Probe::Type::kTcp: {
      int fd = -1;
      auto result = StartConnect(target.port, &fd);
      if (result) {
        done_[ticket] = *result;
      } else {
        connecting_[ticket] = {fd, clock_.NowMs() + ToMs(probe.timeout_seconds)};
      }
      return ticket;
    }
    case Probe::Type::kHttp: {
      const int port = target.port;
      const std::string path = probe.http_path;
      const double timeout = probe.timeout_seconds;
      queue_.push_back({ticket, [port, path, timeout] { return RunHttp(port, path, timeout); }});
      break;
    }
    case Probe::Type::kExec: {
      const auto argv = probe.exec;
      const double timeout = probe.timeout_seconds;
      queue_.push_back(
          {ticket, [argv, target, timeout] { return RunExec(argv, target, timeout); }});
      break;
    }
  }
  running_.insert(ticket);
  cv_.notify_one();
  return ticket;
}

std::optional<ProbeResult> RealProber::Poll(Ticket ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = done_.find(ticket); it != done_.end()) {
    ProbeResult r = std::move(it->second);
    done_.erase(it);
    return r;
  }
  if (auto it = connecting_.find(ticket); it != connecting_.end()) {
    pollfd p{it->second.fd, POLLOUT, 0};
    std::optional<ProbeResult> r;
    if (::poll(&p, 1, 0) > 0) {
      r = ConnectOutcome(it->second.fd);
    } else if (clock_.NowMs() >= it->second.deadline_ms) {
      r = ProbeResult{false, "connect: timed out"};
    }
    if (r) {
      ::close(it->second.fd);
      connecting_.erase(it);
    }
    return r;
  }
  return std::nullopt;
}

void RealProber::Cancel(Ticket ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  done_.erase(ticket);
  running_.erase(ticket);  // a worker that finishes it drops the result
  if (auto it = connecting_.find(ticket); it != connecting_.end()) {
    ::close(it->second.fd);
    connecting_.erase(it);
  }
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [ticket](const Job& j) { return j.ticket == ticket; }),
               queue_.end());
}

void RealProber::Finish(Ticket ticket, ProbeResult result) {
  if (running_.erase(ticket) > 0) done_[ticket] = std::move(result);
}

void RealProber::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    ProbeResult r = job.run();
    lock.lock();
    Finish(job.ticket, std::move(r));
  }
}

ProbeResult RealProber::RunHttp(int port, const std::string& path, double timeout_seconds) {
  httplib::Client cli("127.0.0.1", port);
  const int64_t us = std::max<int64_t>(1000, ToMs(timeout_seconds) * 1000);
  cli.set_connection_timeout(us / 1'000'000, us % 1'000'000);
  cli.set_read_timeout(us / 1'000'000, us % 1'000'000);
  cli.set_write_timeout(us / 1'000'000, us % 1'000'000);
  cli.set_keep_alive(false);
  auto res = cli.Get(path.empty() ? "/" : path);
  if (!res) return {false, "GET " + path + ": " + httplib::to_string(res.error())};
  if (res->status >= 200 && res->status < 400) return {true, ""};
  return {false, "GET " + path + ": HTTP " + std::to_string(res->status)};
}

ProbeResult RealProber::RunExec(const std::vector<std::string>& argv, const ProbeTarget& target,
                                double timeout_seconds) {
  if (argv.empty()) return {false, "exec: empty command"};
  const std::string exe = ResolveExecutable(argv[0], target.env);
  if (exe.empty()) return {false, "exec: executable not found: " + argv[0]};

  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<std::string> envs;
  for (const auto& [k, v] : target.env) envs.push_back(k + "=" + v);
  std::vector<char*> cenv;
  for (auto& e : envs) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  if (!target.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&fa, target.working_dir.c_str());
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, exe.c_str(), &fa, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return {false, Errno(("exec " + argv[0]).c_str(), rc)};

  int status = 0;
  const bool ended = WaitWithTimeout(pid, std::max<int64_t>(1, ToMs(timeout_seconds)), &status);
  ::kill(-pid, SIGKILL);  // the probe's group: a timed-out probe, or anything it left behind
  if (!ended) {
    ::waitpid(pid, &status, 0);
    return {false, "exec " + argv[0] + ": timed out"};
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {true, ""};
  if (WIFSIGNALED(status)) {
    return {false, "exec " + argv[0] + ": killed by signal " + std::to_string(WTERMSIG(status))};
  }
  return {false, "exec " + argv[0] + ": exit code " + std::to_string(WEXITSTATUS(status))};
}

}  // namespace tide
