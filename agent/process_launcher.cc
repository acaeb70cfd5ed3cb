#include "agent/process_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
// Boost 1.81's Process v2 headers name boost::optional, boost::decay, boost::remove_pointer...
// unqualified and only compile when something else declared them; with BOOST_PROCESS_USE_STD_FS
// nothing does, so declare them first.
#include <boost/optional.hpp>
#include <boost/type_traits.hpp>
// (keep this order)
#include <boost/process/v2/posix/default_launcher.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "agent/proc_stats.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace tide {
namespace {

namespace bp = boost::process::v2;
namespace fs = std::filesystem;
using boost::system::error_code;

constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";
constexpr size_t kMaxRememberedExits = 4096;

error_code LastError() { return error_code(errno, boost::system::system_category()); }

// Marks every fd >= 3 close-on-exec, so nothing the agent holds (sockets, files) leaks into the
// workload. Boost's own close-all runs after this, but in 1.81 it skips fds below its error pipe.
void CloexecAllFromThree() {
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  struct rlimit rl;
  long max_fd = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                    ? static_cast<long>(rl.rlim_cur)
                    : 65536;
  for (long fd = 3; fd < max_fd; ++fd) ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
}

// Boost.Process initializer: everything Tide needs in the child between fork and exec. Only
// async-signal-safe calls; all strings were prepared by the parent.
struct ChildSetup {
  const char* const* envp;
  const char* chdir_path;  // nullptr: stay in the agent's cwd
  const ChildLimit* limit;

  template <class Launcher, class Path>
  error_code on_setup(Launcher& launcher, const Path&, const char* const*) {
    launcher.env = envp;  // the child's environment is exactly spec.env
    return {};
  }

  template <class Launcher, class Path>
  error_code on_exec_setup(Launcher&, const Path&, const char* const*) {
    if (::setpgid(0, 0) != 0) return LastError();
    if (limit->ApplyInChild() != 0) return LastError();
    if (chdir_path != nullptr && ::chdir(chdir_path) != 0) return LastError();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
    }
    CloexecAllFromThree();
    return {};
  }

  // Boost reports errno to the parent, then would call exit(): leave without running the
  // agent's atexit handlers or flushing its stdio buffers in the child.
  template <class Launcher, class Path, class Argv>
  void on_exec_error(Launcher&, const Path&, Argv&, const error_code&) {
    ::_exit(127);
  }
};

// An fd that is closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  // Moves the fd to >= 3 so dup2 onto 0/1/2 never is a no-op that keeps FD_CLOEXEC.
  bool Raise() {
    if (fd < 0 || fd > 2) return fd >= 0;
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    ::close(fd);
    fd = moved;
    return fd >= 0;
  }
};

bool IsExecutableFile(const fs::path& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

ExitInfo FromWaitStatus(int status) {
  ExitInfo info;
  if (WIFEXITED(status)) {
    info.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    info.signal = WTERMSIG(status);
  }
  return info;
}

}  // namespace

struct BoostProcessLauncher::Impl {
  explicit Impl(Options o)
      : stats(o.proc_root), limits(o.cgroups ? *o.cgroups : DetectCgroupLayout(o.proc_root)) {}

  struct Child {
    uint64_t start_time = 0;
    std::string instance_id;
  };
  struct Ended {
    ExitInfo info;
    std::string instance_id;
  };
  using Key = std::pair<int, uint64_t>;

  void Remember(Key key, const Ended& e) {
    if (ended.emplace(key, e).second) order.push_back(key);
    while (order.size() > kMaxRememberedExits) {
      ended.erase(order.front());
      order.pop_front();
    }
  }

  std::mutex launch_mu;  // one fork at a time; guards ctx
  boost::asio::io_context ctx;
  ProcStats stats;
  MemoryLimits limits;

  std::mutex mu;                  // guards the maps below
  std::map<int, Child> children;  // launched and not yet reaped, by pid
  std::map<Key, Ended> ended;     // reaped: answers repeated TryReap calls
  std::deque<Key> order;          // insertion order of `ended`, to bound it
};

BoostProcessLauncher::BoostProcessLauncher() : BoostProcessLauncher(Options()) {}
BoostProcessLauncher::BoostProcessLauncher(Options options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
BoostProcessLauncher::~BoostProcessLauncher() = default;

Status BoostProcessLauncher::ResolveExecutable(const std::string& name,
                                               const std::map<std::string, std::string>& env,
                                               const std::string& working_dir, std::string* path) {
  if (name.empty()) return Status::Invalid("empty command");
  std::error_code ec;
  fs::path base = working_dir.empty() ? fs::current_path(ec) : fs::absolute(working_dir, ec);
  auto anchored = [&](const fs::path& p) { return p.is_absolute() ? p : base / p; };
  if (name.find('/') != std::string::npos) {
    fs::path p = anchored(name).lexically_normal();
    if (!IsExecutableFile(p)) return Status::NotFound("executable not found: " + name);
    *path = p.string();
    return Status::Ok();
  }
  auto it = env.find("PATH");
  std::string search = it != env.end() ? it->second : kDefaultPath;
  size_t start = 0;
  for (;;) {
    size_t colon = search.find(':', start);
    std::string dir = search.substr(start, colon == std::string::npos ? colon : colon - start);
    fs::path p = anchored(fs::path(dir.empty() ? "." : dir) / name).lexically_normal();
    if (IsExecutableFile(p)) {
      *path = p.string();
      return Status::Ok();
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return Status::NotFound("executable not found: " + name);
}

Status BoostProcessLauncher::Launch(const LaunchSpec& spec, LaunchResult* out) {
  if (spec.argv.empty()) return Status::Invalid("empty command");
  std::string chdir_path;
  if (!spec.working_dir.empty()) {
    std::error_code ec;
    chdir_path = fs::absolute(spec.working_dir, ec).lexically_normal().string();
    if (ec || !fs::is_directory(chdir_path, ec)) {
      return Status::NotFound("working directory not found: " + spec.working_dir);
    }
  }
  std::string exe;
  Status s = ResolveExecutable(spec.argv[0], spec.env, spec.working_dir, &exe);
  if (!s.ok()) return s;

  const std::string log_path = spec.log_path.empty() ? "/dev/null" : spec.log_path;
  Fd log{::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)};
  if (!log.Raise()) {
    return Status::Internal("cannot open log file " + log_path + ": " + std::strerror(errno));
  }
  Fd null_in{::open("/dev/null", O_RDONLY | O_CLOEXEC)};
  if (!null_in.Raise()) return Status::Internal(std::string("/dev/null: ") + std::strerror(errno));

  ChildLimit limit;
  s = impl_->limits.Prepare(spec.instance_id, spec.memory_limit_bytes, &limit);
  if (!s.ok()) return s;

  std::vector<std::string> env_strings;
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<const char*> envp;
  for (const auto& e : env_strings) envp.push_back(e.c_str());
  envp.push_back(nullptr);
  std::vector<const char*> argv;
  for (const auto& a : spec.argv) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  const char** argv_ptr = argv.data();

  ChildSetup setup{envp.data(), chdir_path.empty() ? nullptr : chdir_path.c_str(), &limit};
  int pid = -1;
  error_code ec;
  {
    std::lock_guard<std::mutex> lock(impl_->launch_mu);
    bp::posix::default_launcher launcher;
    auto proc = launcher(impl_->ctx.get_executor(), ec, bp::filesystem::path(exe), argv_ptr,
                         bp::process_stdio{null_in.fd, log.fd, log.fd}, setup);
    if (ec) {
      // The child (if it was forked) has already _exit()ed: reap exactly that pid.
      if (launcher.pid > 0) ::waitpid(launcher.pid, nullptr, 0);
    } else {
      pid = proc.id();
      proc.detach();  // the handle returned here only closes its pidfd; the child keeps running
    }
  }
  if (ec) return Status::Internal("cannot start " + spec.argv[0] + ": " + ec.message());

  LaunchResult r;
  r.pid = pid;
  impl_->stats.StartTime(pid, &r.start_time);  // a zombie still has its stat: only we reap it
  r.limit_enforcer = LimitEnforcerName(limit.enforcer);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->children[pid] = Impl::Child{r.start_time, spec.instance_id};
    impl_->ended.erase({pid, r.start_time});
  }
  *out = r;
  return Status::Ok();
}

void BoostProcessLauncher::SignalGroup(int pid, int sig) {
  if (pid <= 1) return;  // kill(-1) / kill(0) would hit far more than one instance
  if (::kill(-pid, sig) != 0 && errno == ESRCH) ::kill(pid, sig);
}

bool BoostProcessLauncher::IsAlive(int pid, uint64_t start_time) {
  ProcStat st;
  if (!impl_->stats.ReadStat(pid, &st)) return false;
  return st.start_time == start_time && st.state != 'Z' && st.state != 'X';
}

std::optional<ExitInfo> BoostProcessLauncher::TryReap(int pid, uint64_t start_time) {
  if (pid <= 0) return ExitInfo{};
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl::Key key{pid, start_time};
  if (auto it = impl_->ended.find(key); it != impl_->ended.end()) return it->second.info;
  auto child = impl_->children.find(pid);
  if (child != impl_->children.end() && child->second.start_time == start_time) {
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return std::nullopt;
    Impl::Ended e;
    e.instance_id = child->second.instance_id;
    impl_->children.erase(child);
    if (r == pid) {
      e.info = FromWaitStatus(status);
      bool died_badly = e.info.signal == SIGKILL || e.info.exit_code != 0;
      e.info.oom_killed = died_badly && impl_->limits.OomKilled(e.instance_id);
      impl_->Remember(key, e);
      return e.info;
    }
    // ECHILD: reaped elsewhere (e.g. SIGCHLD ignored); fall back to /proc.
    if (!IsAlive(pid, start_time)) {
      impl_->Remember(key, e);
      return e.info;
    }
    return std::nullopt;
  }
  if (IsAlive(pid, start_time)) return std::nullopt;
  return ExitInfo{};  // not our child: how it ended is unknown
}

bool BoostProcessLauncher::Sample(int pid, ProcSample* out) {
  return impl_->stats.SampleGroup(pid, out);
}

void BoostProcessLauncher::Cleanup(const std::string& instance_id) {
  impl_->limits.Cleanup(instance_id);
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto it = impl_->order.begin(); it != impl_->order.end();) {
    auto e = impl_->ended.find(*it);
    if (e != impl_->ended.end() && e->second.instance_id == instance_id) {
      impl_->ended.erase(e);
      it = impl_->order.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace tide
