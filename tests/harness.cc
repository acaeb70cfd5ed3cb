#include "tests/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace tide::testing {

namespace fs = std::filesystem;

std::string TidedBin() { return TIDE_TIDED_BIN; }
std::string AgentBin() { return TIDE_AGENT_BIN; }
std::string TidectlBin() { return TIDE_TIDECTL_BIN; }
std::string TestappBin() { return TIDE_TESTAPP_BIN; }

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "tide-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  KillProcessesLoggingUnder(path_);
  // TIDE_KEEP_TEST_DIRS=1 keeps every test's directory (logs of tided, agents and instances)
  // for a look after a failure (docs/testing.md).
  if (const char* keep = std::getenv("TIDE_KEEP_TEST_DIRS"); keep && *keep == '1') return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {
// Directories of the tided and agent processes this test process started: instances log under
// them. ctest runs tests in parallel, and workload names repeat across tests.
std::mutex roots_mu;
std::set<std::string> roots;

void AddTestRoot(const std::string& dir) {
  std::lock_guard<std::mutex> lk(roots_mu);
  roots.insert(dir);
}

// True when pid's stdout goes to a file under one of this test process's directories (or when
// this process started no tided/agent at all).
bool LogsUnderTestRoots(const std::string& pid) {
  std::lock_guard<std::mutex> lk(roots_mu);
  if (roots.empty()) return true;
  std::error_code ec;
  std::string target = fs::read_symlink("/proc/" + pid + "/fd/1", ec).string();
  if (ec) return false;
  for (const auto& r : roots) {
    if (target.compare(0, r.size(), r) == 0) return true;
  }
  return false;
}
}  // namespace

int ReservePortBlock() {
  for (int k = 0; k < 10000 / kPortBlock; ++k) {
    std::string path = "/tmp/tide-test-ports-" + std::to_string(k) + ".lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return 20000 + k * kPortBlock;  // fd kept open
    ::close(fd);
  }
  throw std::runtime_error("no free test port block in 20000-29999");
}

namespace {

// Whether 127.0.0.1:port can be bound now.
bool Bindable(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

}  // namespace

// From a block of this process's own, below the kernel's ephemeral range: a
// port the kernel hands out to any client socket (the old bind-to-0 way) could be taken by one
// of the many connections parallel tests open before the daemon binds it ("Address already in
// use" under load).
int FreePort() {
  static std::mutex mu;
  static int base = -1;
  static int next = 0;
  std::lock_guard<std::mutex> lk(mu);
  // Blocks of 100 in 30000-32699, apart from the instance blocks (20000-29999): a daemon that
  // outlives its test process a moment never holds a port another test gives its instances.
  constexpr int kListenBlock = 100;
  if (base < 0) {
    for (int k = 0; k < 27 && base < 0; ++k) {
      const std::string path = "/tmp/tide-test-listen-" + std::to_string(k) + ".lock";
      const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
      if (fd < 0) continue;
      if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
        base = 30000 + k * kListenBlock;  // fd kept open: the block is this process's
      } else {
        ::close(fd);
      }
    }
    if (base < 0) throw std::runtime_error("no free listen port block in 30000-32699");
  }
  for (int tries = 0; tries < kListenBlock; ++tries) {
    const int port = base + (next++ % kListenBlock);
    if (Bindable(port)) return port;
  }
  throw std::runtime_error("no bindable port left in this test's block");
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

static std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Proc::Proc(std::vector<std::string> argv, std::string log_path,
           std::map<std::string, std::string> extra_env)
    : log_path_(std::move(log_path)) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (!extra_env.count(key)) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : extra_env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (auto& s : argv) args.push_back(s.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  int rc = posix_spawn(&pid_, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("posix_spawn " + argv[0] + " failed");
}

Proc::~Proc() {
  if (pid_ > 0 && !reaped_) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool Proc::Alive() {
  if (reaped_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

void Proc::Kill9() {
  if (reaped_) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  reaped_ = true;
}

int Proc::Terminate(int sig, std::chrono::milliseconds timeout) {
  if (reaped_) return 0;
  kill(pid_, sig);
  int st = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      reaped_ = true;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill9();
  return -1;
}

std::string Proc::Log() const { return ReadFile(log_path_); }

json HttpResult::Json() const {
  json j = json::parse(body, nullptr, false);
  return j.is_discarded() ? json() : j;
}

static std::string& HttpsCaFile() {
  static std::string path;
  return path;
}
void SetHttpsCaFile(const std::string& path) { HttpsCaFile() = path; }

HttpResult Http(const std::string& method, const std::string& url, const std::string& body,
                const std::string& token, const std::string& content_type, int timeout_seconds,
                const std::map<std::string, std::string>& extra_headers) {
  // url = http[s]://host:port/path
  size_t slash = url.find('/', url.find("://") + 3);
  std::string base = url.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : url.substr(slash);
  httplib::Client cli(base);
  if (!HttpsCaFile().empty()) cli.set_ca_cert_path(HttpsCaFile());
  cli.set_connection_timeout(5, 0);
  cli.set_read_timeout(timeout_seconds, 0);
  httplib::Headers h;
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  for (const auto& [k, v] : extra_headers) h.emplace(k, v);
  auto call = [&]() -> httplib::Result {
    if (method == "POST") return cli.Post(path, h, body, content_type);
    if (method == "PUT") return cli.Put(path, h, body, content_type);
    if (method == "DELETE") return cli.Delete(path, h);
    return cli.Get(path, h);
  };
  httplib::Result r = call();
  HttpResult out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  for (const auto& [k, v] : r->headers) out.headers[k] = v;
  return out;
}

// ---- Tided ----

static const char* kAdminToken = "admin-token-0123456789";
static const char* kReadToken = "read-token-0123456789";
static const char* kAgentToken = "agent-token-0123456789";

Tided::Tided(const std::string& dir, Options opts)
    : dir_(dir), data_dir_(dir + "/tided-data"), token_(kAdminToken), opts_(std::move(opts)) {
  AddTestRoot(dir_);
  api_port_ = FreePort();
  agent_port_lo_ = ReservePortBlock();
  gw_port_ = FreePort();
  WriteFile(dir_ + "/tokens.yaml", std::string("tokens:\n") + "  - {name: ops, token: \"" +
                                       kAdminToken +
                                       "\", role: admin}\n  - {name: viewer, token: \"" +
                                       kReadToken + "\", role: read}\n  - {name: nodes, token: \"" +
                                       kAgentToken + "\", role: agent}\n" + opts_.extra_tokens);
  WriteFile(dir_ + "/agent.token", std::string(kAgentToken) + "\n");
  Start();
}

void Tided::Start() {
  std::vector<std::string> argv = {
      TidedBin(),
      "--api-listen",
      "127.0.0.1:" + std::to_string(api_port_),
      "--gateway-listen",
      "127.0.0.1:" + std::to_string(gw_port_),
      "--data-dir",
      data_dir_,
      "--tokens-file",
      dir_ + "/tokens.yaml",
      "--node-grace",
      opts_.node_grace,
      "--agent-port-range",
      std::to_string(agent_port_lo_) + "-" + std::to_string(agent_port_lo_ + kPortBlock - 1)};
  if (!opts_.local_agent) argv.push_back("--no-local-agent");
  for (const auto& a : opts_.extra_args) argv.push_back(a);
  proc_ = std::make_unique<Proc>(argv, dir_ + "/tided.log");
  bool up = WaitFor([&] { return Http("GET", api() + "/healthz").status == 200; },
                    std::chrono::seconds(20));
  if (!up) throw std::runtime_error("tided did not come up:\n" + proc_->Log());
}

std::string Tided::ReadToken() { return kReadToken; }
std::string Tided::JoinToken() { return kAgentToken; }

void Tided::Kill9() { proc_->Kill9(); }
std::string Tided::api() const {
  return (opts_.https ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(api_port_);
}
std::string Tided::gateway() const { return "http://127.0.0.1:" + std::to_string(gw_port_); }
HttpResult Tided::Get(const std::string& path) const {
  return Http("GET", api() + path, "", token_);
}
HttpResult Tided::Post(const std::string& path, const std::string& body,
                       const std::string& ctype) const {
  return Http("POST", api() + path, body, token_, ctype);
}
HttpResult Tided::Put(const std::string& path, const std::string& body) const {
  return Http("PUT", api() + path, body, token_);
}
HttpResult Tided::Delete(const std::string& path) const {
  return Http("DELETE", api() + path, "", token_);
}

json Tided::Instances(const std::string& workload) const {
  json j = Get("/v1/instances?workload=" + workload).Json();
  return j.is_object() && j.contains("items") ? j["items"] : json::array();
}

int Tided::ReadyCount(const std::string& workload) const {
  int n = 0;
  for (const auto& i : Instances(workload)) n += i.value("state", "") == "Ready" ? 1 : 0;
  return n;
}

// ---- AgentProc ----

AgentProc::AgentProc(const std::string& dir, const Tided& tided, const std::string& name,
                     int port_lo, int port_hi, const std::string& extra)
    : dir_(dir + "/agent-" + name),
      name_(name),
      server_(tided.api()),
      token_file_(dir + "/agent.token"),
      extra_(extra),
      port_lo_(port_lo),
      port_hi_(port_hi),
      api_port_(FreePort()) {
  AddTestRoot(dir_);
  fs::create_directories(dir_);
  Start();
}

void AgentProc::Start() {
  std::vector<std::string> argv = {
      AgentBin(),     "--server",     server_,
      "--name",       name_,          "--token-file",
      token_file_,    "--listen",     "127.0.0.1:" + std::to_string(api_port_),
      "--advertise",  "127.0.0.1",    "--data-dir",
      dir_ + "/data", "--port-range", std::to_string(port_lo_) + "-" + std::to_string(port_hi_)};
  // Workloads keep the agent's own user (root here) unless the test sets a node default: the
  // tests that are not about users run as a single-node dev install does.
  if (extra_.find("--default-user") == std::string::npos) {
    argv.insert(argv.end(), {"--allow-root", "--default-user", ""});
  }
  if (!extra_.empty()) {
    std::istringstream ss(extra_);
    std::string a;
    while (ss >> a) argv.push_back(a);
  }
  proc_ = std::make_unique<Proc>(argv, dir_ + "/agent.log");
}

void AgentProc::Kill9() { proc_->Kill9(); }

// ---- tidectl ----

CmdResult RunTidectl(const std::vector<std::string>& args, const std::string& server,
                     const std::string& token, const std::string& stdin_text) {
  TempDir tmp;
  std::string in = tmp.path() + "/stdin", out = tmp.path() + "/stdout",
              err = tmp.path() + "/stderr";
  WriteFile(in, stdin_text);
  std::vector<std::string> argv = {TidectlBin()};
  for (const auto& a : args) argv.push_back(a);
  std::vector<char*> cargs;
  for (auto& s : argv) cargs.push_back(s.data());
  cargs.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("TIDE_", 0) == 0) continue;
    env_strings.push_back(kv);
  }
  if (!server.empty()) env_strings.push_back("TIDE_SERVER=" + server);
  if (!token.empty()) env_strings.push_back("TIDE_TOKEN=" + token);
  env_strings.push_back("TIDE_CONFIG=" + tmp.path() + "/none.yaml");
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  CmdResult r;
  if (posix_spawn(&pid, cargs[0], &fa, nullptr, cargs.data(), envp.data()) != 0) return r;
  posix_spawn_file_actions_destroy(&fa);
  int st = 0;
  waitpid(pid, &st, 0);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

bool PidAlive(int pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

std::vector<int> PidsOfWorkload(const std::string& workload) {
  std::vector<int> out;
  std::string needle = "TIDE_WORKLOAD=" + workload;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::string env = ReadFile(e.path().string() + "/environ");
    size_t pos = 0;
    while (pos < env.size()) {
      size_t end = env.find('\0', pos);
      if (end == std::string::npos) end = env.size();
      if (env.compare(pos, end - pos, needle) == 0) {
        int pid = std::stoi(name);
        if (PidAlive(pid) && LogsUnderTestRoots(name)) out.push_back(pid);
        break;
      }
      pos = end + 1;
    }
  }
  return out;
}

void KillProcessesLoggingUnder(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::error_code lec;
    fs::path target = fs::read_symlink(e.path() / "fd" / "1", lec);
    if (lec) continue;
    if (target.string().rfind(dir + "/", 0) == 0) kill(std::stoi(name), SIGKILL);
  }
}

void PrintInstanceLogTails(const std::string& dir, int lines) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() != ".log" || p.parent_path().filename() != "logs") continue;
    std::string text = ReadFile(p.string());
    size_t pos = text.size();
    for (int n = 0; n <= lines && pos != std::string::npos && pos > 0; ++n) {
      pos = text.rfind('\n', pos - 1);
    }
    std::cerr << "---- " << p.string() << " (last lines)\n"
              << (pos == std::string::npos ? text : text.substr(pos + 1)) << "\n";
  }
}

}  // namespace tide::testing
