// Spawn: starts one program the way the agent needs it, as cheaply as posix_spawn.
//
// The child is created with clone(CLONE_VM | CLONE_VFORK) on a stack of its own (as glibc's
// posix_spawn does): no copy of the agent's page tables, and the calling thread resumes once
// the child has exec'd or failed. Between clone and exec the child only makes system calls on
// data the caller prepared (SpawnRequest holds no C++ objects it could touch). In that window it:
//   resets every signal disposition to default, joins its own process group (setpgid(0, 0)),
//   sets the umask (SpawnRequest::umask),
//   applies the memory limit (ChildLimit::ApplyInChild), puts stdin/stdout/stderr on the given
//   fds, switches user when asked (supplementary groups, then gid, then uid: after the cgroup
//   join and the log fds, which stay the agent's), changes directory (as the new user), marks
//   every other fd close-on-exec, unblocks all signals, and execs `path` with exactly argv and
//   envp (never a shell).
// The user switch uses raw system calls (setgroups, setresgid, setresuid): glibc's wrappers
// would broadcast the change to every thread of the process they believe they are in, and a
// CLONE_VM child shares the agent's thread list.
// A failure in that window (exec included) comes back as an error Status naming the step and
// errno; the failed child is reaped before Spawn returns, so it leaves no zombie.
//
// Why not Boost.Process v2 (1.81): its default launcher fork()s, which measured about twice
// the cost of posix_spawn per launch in the agent; its vfork_launcher runs the child on the
// caller's stack and returned into a corrupted frame after a failed exec (segfault).
// posix_spawn itself cannot join a cgroup or set an rlimit in the child.
//
// Thread-safety: any number of threads may call Spawn at once. All signals are blocked in the
// calling thread for the duration of the clone, so no handler of the agent runs in the child.
#pragma once

#include <sys/types.h>

#include <cstddef>

#include "agent/limits.h"
#include "api/status.h"

namespace tide {

struct SpawnRequest {
  const char* path = nullptr;   // absolute path of the executable
  char* const* argv = nullptr;  // nullptr-terminated
  char* const* envp = nullptr;  // nullptr-terminated: the child's whole environment
  int stdin_fd = -1;            // each dup2'ed onto 0 / 1 / 2: must be >= 3
  int stdout_fd = -1;
  int stderr_fd = -1;
  const char* chdir_path = nullptr;   // nullptr: stay in the caller's working directory
  const ChildLimit* limit = nullptr;  // nullptr: no limit
  // The workload's umask: the agent itself runs with 077 (its files are private), workloads get
  // the usual 022 unless the caller says otherwise.
  mode_t umask = 022;
  // Credentials to switch to; ignored unless switch_user (see agent/run_as.h).
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;  // supplementary groups
  size_t ngroups = 0;
  // Socket activation: dup2'ed onto fd 3 (must be >= 4); then the child writes its pid as
  // decimal digits and a NUL into listen_pid_digits (at least 11 bytes: the value part of the
  // envp entry "LISTEN_PID=..."), since only the child knows it.
  int listen_fd = -1;
  char* listen_pid_digits = nullptr;
};

// Starts the child; *pid is set on success.
Status Spawn(const SpawnRequest& req, int* pid);

}  // namespace tide
