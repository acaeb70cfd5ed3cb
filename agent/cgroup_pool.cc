#include "agent/cgroup_pool.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "agent/exec_stub.h"
#include "agent/spawn.h"

namespace tide {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Reap(int pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

CgroupPool::CgroupPool(MemoryLimits& limits, const PidsLimits* pids, Options options)
    : limits_(limits), pids_(pids), options_(std::move(options)) {
  if (options_.size == 0 || options_.self_exe.empty()) return;
  RemoveStaleDirs();
  refill_ = std::thread([this] { RefillLoop(); });
}

CgroupPool::~CgroupPool() {
  std::deque<Stub> stubs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    stubs.swap(ready_);
  }
  cv_.notify_all();
  if (refill_.joinable()) refill_.join();
  for (const Stub& s : stubs) {
    ::close(s.sock);  // end of file: the stub exits 0
    Reap(s.pid);
    CleanupCgroups(s.pool_id);
  }
}

void CgroupPool::CleanupCgroups(const std::string& id) {
  limits_.Cleanup(id);
  if (pids_ != nullptr) pids_->Cleanup(id);
}

void CgroupPool::RemoveStaleDirs() {
  const CgroupLayout& l = limits_.layout();
  std::vector<const std::string*> parents = {&l.cgroup2_parent, &l.cgroup1_parent};
  if (pids_ != nullptr) parents.push_back(&pids_->layout().cgroup1_parent);
  for (const std::string* parent : parents) {
    if (parent->empty()) continue;
    DIR* d = ::opendir(parent->c_str());
    if (d == nullptr) continue;
    std::vector<std::string> stale;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind("pool-", 0) != 0) continue;
      int pid = std::atoi(name.c_str() + 5);
      if (pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM)) continue;  // its agent lives
      stale.push_back(name);
    }
    ::closedir(d);
    for (const auto& name : stale) CleanupCgroups(name);
  }
}

std::optional<CgroupPool::Stub> CgroupPool::StartStub() {
  Stub stub;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stub.pool_id = "pool-" + std::to_string(::getpid()) + "-" + std::to_string(next_++);
  }
  ChildLimit limit;
  if (!limits_.Prepare(stub.pool_id, 0, &limit).ok() || limit.procs_path.empty()) {
    CleanupCgroups(stub.pool_id);
    return std::nullopt;
  }
  // The pids cgroup too (v1: a second join), with a high limit Adopt replaces. Without a pids
  // cgroup the stub takes no rlimit: instances that need one launch the ordinary way.
  if (pids_ != nullptr && pids_->Prepare(stub.pool_id, PidsLimits::kPoolMax, &limit).ok() &&
      limit.pids_enforcer == LimitEnforcer::kRlimit) {
    limit.pids_enforcer = LimitEnforcer::kNone;
    limit.nproc = 0;
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    CleanupCgroups(stub.pool_id);
    return std::nullopt;
  }
  // Spawn wants stdio fds >= 3.
  int null_out = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  int in = sv[1] > 2 ? sv[1] : ::fcntl(sv[1], F_DUPFD_CLOEXEC, 3);
  if (null_out >= 0 && null_out < 3) {
    int moved = ::fcntl(null_out, F_DUPFD_CLOEXEC, 3);
    ::close(null_out);
    null_out = moved;
  }
  const char* argv[] = {"tide-exec-stub", kExecStubArg, nullptr};
  const char* envp[] = {nullptr};
  SpawnRequest req;
  req.path = options_.self_exe.c_str();
  req.argv = const_cast<char* const*>(argv);
  req.envp = const_cast<char* const*>(envp);
  req.stdin_fd = in;
  req.stdout_fd = req.stderr_fd = null_out;
  req.limit = &limit;
  req.umask = 077;
  int pid = -1;
  Status s = (in >= 3 && null_out >= 3) ? Spawn(req, &pid) : Status::Internal("no fds");
  if (in != sv[1]) ::close(in);
  ::close(sv[1]);
  if (null_out >= 0) ::close(null_out);
  if (!s.ok()) {
    ::close(sv[0]);
    CleanupCgroups(stub.pool_id);
    return std::nullopt;
  }
  stub.pid = pid;
  stub.sock = sv[0];
  return stub;
}

void CgroupPool::RefillLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (broken_ || ready_.size() >= options_.size) {
      cv_.wait(lock);
      continue;
    }
    if (const int64_t wait = RefillAt(ready_.size(), last_take_ms_) - SteadyMs(); wait > 0) {
      cv_.wait_for(lock, std::chrono::milliseconds(wait));
      continue;
    }
    lock.unlock();
    std::optional<Stub> stub = StartStub();
    if (options_.alongside) options_.alongside();
    lock.lock();
    if (!stub) {
      broken_ = true;
      continue;
    }
    if (stopping_) {
      ::close(stub->sock);
      Reap(stub->pid);
      CleanupCgroups(stub->pool_id);
      break;
    }
    ready_.push_back(*stub);
    cv_.notify_all();
  }
}

std::optional<CgroupPool::Stub> CgroupPool::Take() {
  std::optional<Stub> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ready_.empty()) {
      out = ready_.front();
      ready_.pop_front();
    }
    last_take_ms_ = SteadyMs();
  }
  cv_.notify_all();
  return out;
}

int64_t CgroupPool::RefillAt(size_t ready, int64_t last_take_ms) {
  return ready == 0 ? last_take_ms : last_take_ms + kRefillQuietMs;
}

void CgroupPool::Discard(const Stub& stub, const std::string& instance_id) {
  ::kill(stub.pid, SIGKILL);
  ::close(stub.sock);
  Reap(stub.pid);
  CleanupCgroups(stub.pool_id);
  if (!instance_id.empty()) CleanupCgroups(instance_id);
}

bool CgroupPool::WaitReady(size_t n, int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
    return ready_.size() >= n || broken_;
  }) && ready_.size() >= n;
}

size_t CgroupPool::Ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_.size();
}

}  // namespace tide
