#include "bench/bench_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <thread>

extern char** environ;

namespace tide::bench {

std::string TcpSinkBin() { return TIDE_BENCH_TCP_SINK_BIN; }
std::string TinyHttpBin() { return TIDE_BENCH_TINY_HTTP_BIN; }

double MsSince(SteadyClock::time_point t0) { return MsBetween(t0, SteadyClock::now()); }

double MsBetween(SteadyClock::time_point t0, SteadyClock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

long RssKib(pid_t pid) { return StatusField(pid, "VmRSS"); }

long StatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line, prefix = field + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::atol(line.c_str() + prefix.size());
  }
  return -1;
}

double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  // Fields after the name start at 3 (state); utime is 14 and stime 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

pid_t SpawnPlain(const std::vector<std::string>& argv,
                 const std::map<std::string, std::string>& extra_env, const std::string& log_path) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (!extra_env.count(kv.substr(0, kv.find('=')))) env_strings.push_back(std::move(kv));
  }
  for (const auto& [k, v] : extra_env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);
  std::string out = log_path.empty() ? "/dev/null" : log_path;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc == 0 ? pid : -1;
}

double TreeCpuSeconds(pid_t pid) {
  double total = CpuSeconds(pid);
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] < '0' || name[0] > '9') continue;
    std::ifstream in(e.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(text.substr(close + 2));
    std::string state;
    long ppid = 0;
    fields >> state >> ppid;
    if (ppid == pid) total += CpuSeconds(std::atoi(name.c_str()));
  }
  return total;
}

void KillAndReap(pid_t pid) {
  if (pid <= 0) return;
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

bool WaitExit(pid_t pid, int timeout_ms) {
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

// Connected socket to 127.0.0.1:port, or -1.
int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a = Loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

bool CanConnect(int port) {
  int fd = Connect(port);
  if (fd < 0) return false;
  close(fd);
  return true;
}

int RawHttpGet(int port, const std::string& path, bool retry_connect, int deadline_ms,
               std::map<std::string, std::string>* headers) {
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(deadline_ms);
  int fd = -1;
  while ((fd = Connect(port)) < 0) {
    if (!retry_connect || SteadyClock::now() >= deadline) return 0;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return 0;
  }
  std::string in;
  char buf[4096];
  while (true) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now())
            .count());
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) break;
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) break;
    in.append(buf, static_cast<size_t>(r));
  }
  close(fd);
  if (in.rfind("HTTP/1.", 0) != 0 || in.size() < 12) return 0;
  if (headers) {
    size_t end = in.find("\r\n\r\n");
    size_t pos = in.find("\r\n");
    while (pos != std::string::npos && pos < end) {
      size_t next = in.find("\r\n", pos + 2);
      std::string line = in.substr(pos + 2, next - pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        size_t v = line.find_first_not_of(' ', colon + 1);
        (*headers)[line.substr(0, colon)] = v == std::string::npos ? "" : line.substr(v);
      }
      pos = next;
    }
  }
  return std::atoi(in.c_str() + 9);
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = Loopback(0);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

int FreePortRange(int count, int lo, int hi) {
  std::mt19937 rng(static_cast<unsigned>(getpid()) ^
                   static_cast<unsigned>(SteadyClock::now().time_since_epoch().count()));
  // First a range no socket touches, then one where only TIME_WAIT leftovers of earlier runs
  // linger (every run leaves hundreds for a minute): tcp_sink listens with SO_REUSEADDR, but
  // the agent prefers untouched ports and would pay for looking past them.
  for (bool reuse_addr : {false, true}) {
    for (int attempt = 0; attempt < 50; ++attempt) {
      int start = lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo - count));
      bool all_free = true;
      for (int p = start; p < start + count && all_free; ++p) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        if (reuse_addr) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a = Loopback(p);
        all_free = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        close(fd);
      }
      if (all_free) return start;
    }
  }
  return 0;
}

std::string WorkloadConfig::SpecLines() const {
  return memory.empty() ? "" : "  resources: {memory: " + memory + "}\n";
}

std::string WorkloadConfig::Describe() const {
  return memory.empty() ? "no-frills: NO memory limit, default readiness probe (TCP)"
                        : "realistic: memory limit " + memory + ", default readiness probe (TCP)";
}

bool ParseMemoryFlag(int argc, char** argv, int* i, WorkloadConfig* c, bool* bad) {
  if (std::strcmp(argv[*i], "--memory") != 0) return false;
  if (*i + 1 >= argc) {
    *bad = true;
    return true;
  }
  std::string v = argv[++*i];
  if (v == "none") {
    c->memory.clear();
    return true;
  }
  size_t digits = v.find_first_not_of("0123456789");
  std::string unit = digits == std::string::npos ? "" : v.substr(digits);
  if (digits == 0 || (unit != "" && unit != "Ki" && unit != "Mi" && unit != "Gi")) {
    std::fprintf(stderr, "--memory: expected a quantity like 64Mi or none, got '%s'\n", v.c_str());
    *bad = true;
    return true;
  }
  c->memory = v;
  return true;
}

std::string EnforcerOf(const nlohmann::json& items) {
  std::string out;
  for (const auto& i : items) {
    std::string e = i.value("limitEnforcer", "");
    if (e.empty()) continue;
    if (!out.empty() && out != e) return "mixed";
    out = e;
  }
  return out;
}

bool AnyNodeReady(const nlohmann::json& nodes) {
  if (!nodes.is_object() || !nodes.contains("items")) return false;
  for (const auto& n : nodes["items"]) {
    if (n.value("state", "") == "Ready") return true;
  }
  return false;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

void Summary::AtMost(const std::string& name, double value, double limit, const std::string& unit) {
  rows_.push_back({name, unit, value <= limit ? "PASS" : "MISS", value, limit, "<="});
}

void Summary::AtLeast(const std::string& name, double value, double limit,
                      const std::string& unit) {
  rows_.push_back({name, unit, value >= limit ? "PASS" : "MISS", value, limit, ">="});
}

void Summary::Info(const std::string& name, double value, const std::string& unit) {
  rows_.push_back({name, unit, "", value, 0, ""});
}

int Summary::Print() const {
  std::printf("\n== %s: summary ==\n", title_.c_str());
  bool missed = false;
  for (const auto& r : rows_) {
    if (r.verdict.empty()) {
      std::printf("  %-58s %10.2f %-6s\n", r.name.c_str(), r.value, r.unit.c_str());
      continue;
    }
    missed = missed || r.verdict == "MISS";
    std::printf("  %-58s %10.2f %-6s target %s %.2f  %s\n", r.name.c_str(), r.value, r.unit.c_str(),
                r.op, r.limit, r.verdict.c_str());
  }
  std::printf("== %s: %s ==\n", title_.c_str(), missed ? "MISS" : "PASS");
  std::fflush(stdout);
  return missed ? 1 : 0;
}

}  // namespace tide::bench
