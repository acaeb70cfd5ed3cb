#include "agent/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace tide {
namespace {

constexpr size_t kChildStackBytes = 256 * 1024;

// Shared between the parent and the child (CLONE_VM): the child writes `err`/`step` and exits.
struct ChildContext {
  const SpawnRequest* req;
  int err = 0;
  const char* step = nullptr;
};

// Marks every fd >= first close-on-exec, so nothing the agent holds (sockets, files) leaks into
// the workload.
void CloexecAllFrom(unsigned first) {
  if (::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  struct rlimit rl;
  long max_fd = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                    ? static_cast<long>(rl.rlim_cur)
                    : 65536;
  for (long fd = first; fd < max_fd; ++fd) ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
}

// Writes pid as decimal digits and a NUL into out (async-signal-safe).
void WritePid(long pid, char* out) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + pid % 10);
    pid /= 10;
  } while (pid > 0 && n < 20);
  for (int i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  out[n] = '\0';
}

[[noreturn]] void Fail(ChildContext* c, const char* step) {
  c->err = errno != 0 ? errno : EIO;
  c->step = step;
  ::_exit(127);
}

// Runs in the child, on its own stack, sharing the parent's memory until execve.
int ChildMain(void* arg) {
  auto* c = static_cast<ChildContext*>(arg);
  const SpawnRequest& r = *c->req;
  // Without CLONE_SIGHAND the child has its own copy of the handler table: resetting it here
  // leaves the agent's handlers alone.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  if (::setpgid(0, 0) != 0) Fail(c, "setpgid");
  ::umask(r.umask);
  if (r.limit != nullptr && r.limit->ApplyInChild() != 0)
    Fail(c, "resource limits (cgroup or rlimit)");
  if (::dup2(r.stdin_fd, 0) < 0 || ::dup2(r.stdout_fd, 1) < 0 || ::dup2(r.stderr_fd, 2) < 0) {
    Fail(c, "dup2");
  }
  if (r.listen_fd >= 0) {
    if (::dup2(r.listen_fd, 3) < 0) Fail(c, "listen fd");
    if (r.listen_pid_digits != nullptr) WritePid(::syscall(SYS_getpid), r.listen_pid_digits);
  }
  if (r.switch_user) {
    if (::syscall(SYS_setgroups, r.ngroups, r.groups) != 0) Fail(c, "setgroups");
    if (::syscall(SYS_setresgid, r.gid, r.gid, r.gid) != 0) Fail(c, "setgid");
    if (::syscall(SYS_setresuid, r.uid, r.uid, r.uid) != 0) Fail(c, "setuid");
  }
  if (r.chdir_path != nullptr && ::chdir(r.chdir_path) != 0) Fail(c, "chdir");
  CloexecAllFrom(r.listen_fd >= 0 ? 4U : 3U);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(r.path, r.argv, r.envp);
  Fail(c, "exec");
}

}  // namespace

Status Spawn(const SpawnRequest& req, int* pid) {
  if (req.path == nullptr || req.argv == nullptr || req.envp == nullptr) {
    return Status::Invalid("spawn: path, argv and envp are required");
  }
  if (req.stdin_fd < 3 || req.stdout_fd < 3 || req.stderr_fd < 3) {
    return Status::Invalid("spawn: stdio fds must be >= 3");
  }
  if (req.listen_fd >= 0 && req.listen_fd < 4) {
    return Status::Invalid("spawn: the listen fd must be >= 4");
  }
  void* stack = ::mmap(nullptr, kChildStackBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    return Status::Internal(std::string("spawn: no memory for the child stack: ") +
                            std::strerror(errno));
  }
  ChildContext ctx{&req};
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  // The stack grows down on every Linux architecture Tide builds for.
  const int child = ::clone(ChildMain, static_cast<char*>(stack) + kChildStackBytes,
                            CLONE_VM | CLONE_VFORK | SIGCHLD, &ctx);
  const int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::munmap(stack, kChildStackBytes);
  if (child < 0) return Status::Internal(std::string("clone: ") + std::strerror(clone_errno));
  if (ctx.step != nullptr) {
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return Status::Internal(std::string(ctx.step) + ": " + std::strerror(ctx.err));
  }
  *pid = child;
  return Status::Ok();
}

}  // namespace tide
