// Exec stubs: processes started ahead of need, already inside a cgroup of their own, that become
// an instance when told to (issue 13, "limits off the hot path").
//
// Why: joining a cgroup (writing a pid to cgroup.procs) takes the kernel's cgroup threadgroup
// lock for writing, which waits for an RCU grace period: 0.2-50 ms per join on this project's
// cgroup v1 hosts, measured, against 2-4 ms for the whole start of a small server. A stub pays
// that join before any request needs it (agent/cgroup_pool.h starts them); at a cold start the
// agent renames the stub's cgroup to the instance's, writes the limit and sends the launch.
//
// A stub is the agent's own binary run again as {"tide-exec-stub", kExecStubArg}: main() calls
// MaybeRunExecStub first thing. It is started through agent/spawn.h like any instance (own
// process group, default signals, umask 077, its cgroup joined), with a socket on its stdin.
// It waits for one launch message, then does what spawn.h's child does after the cgroup join:
// umask, stdio from the fds that came with the message, user switch (groups, gid, uid), chdir,
// every other fd close-on-exec, execve. The pid stays the same, so the instance is the agent's
// own child (reaped and watched as usual). An exec failure comes back on the socket as the step
// and errno; success closes the socket (close-on-exec). End of file before a message (the
// agent closed it or died) makes the stub exit 0: no stub outlives its agent.
//
// The message never passes through a shell; argv and envp are sent as they are.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "api/status.h"

namespace tide {

inline constexpr const char* kExecStubArg = "--tide-exec-stub";

// Call at the top of main(): when argv is a stub's, runs the stub and never returns.
void MaybeRunExecStub(int argc, char** argv);

// The binary stubs are started from, for an agent whose own binary is `self_exe`: the
// statically linked `tide-exec-stub` (agent/exec_stub_main.cc) beside the agent's binary when
// it is there and executable, else `self_exe` itself. Same protocol either way; the small one
// execs in about 0.4 ms where a stub of tided's binary took 1.0 ms (p50; 2.0 against 0.5 ms at
// p90), measured with strace -T during coldstart_bench: an exec first unmaps what the stub
// mapped (the agent's 10 MB of binary and libraries, 144 mappings), and a cold start waits for
// that exec.
std::string ExecStubBinary(const std::string& self_exe);

struct StubLaunch {
  std::string path;  // absolute path of the executable
  std::vector<std::string> argv;
  std::vector<std::string> envp;  // "K=V", the whole environment
  std::string chdir_path;         // "" = stay
  mode_t umask = 022;
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool listen_fd = false;  // a fourth fd comes with the message: put on fd 3 (socket activation)
};

// The launch message's payload (the fds travel beside it). Decode rejects anything malformed.
std::string EncodeStubLaunch(const StubLaunch& launch);
bool DecodeStubLaunch(const std::string& bytes, StubLaunch* out);

// Agent side: sends `launch` with stdin/stdout/stderr fds to the stub behind `sock` and waits up
// to timeout_ms until it has exec'd. Error: the step that failed and its errno, "stub: ..." when
// the stub is gone or silent (the caller then kills and reaps it). Does not close `sock`.
// listen_fd: -1, or the socket to pass when launch.listen_fd.
Status SendStubLaunch(int sock, const StubLaunch& launch, int stdin_fd, int stdout_fd,
                      int stderr_fd, int listen_fd, int timeout_ms);

}  // namespace tide
