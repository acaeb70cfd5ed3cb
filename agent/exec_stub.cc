#include "agent/exec_stub.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace tide {
namespace {

constexpr uint32_t kMagic = 0x54534c31;             // "TSL1"
constexpr uint32_t kMaxPayload = 8u * 1024 * 1024;  // argv + env: far above ARG_MAX's usual 2 MiB
constexpr uint32_t kMaxItems = 1u << 20;
constexpr int kStubSocketFd = 16;

// The stub's answer when a step fails: which step and its errno.
struct Failure {
  int32_t err;
  char step[28];
};

void PutU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }
void PutStr(std::string* out, const std::string& s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

struct Reader {
  const std::string& b;
  size_t at = 0;
  bool U32(uint32_t* v) {
    if (b.size() - at < 4) return false;
    std::memcpy(v, b.data() + at, 4);
    at += 4;
    return true;
  }
  bool Str(std::string* s) {
    uint32_t n;
    if (!U32(&n) || b.size() - at < n) return false;
    s->assign(b.data() + at, n);
    at += n;
    return true;
  }
  bool Strs(std::vector<std::string>* v) {
    uint32_t n;
    if (!U32(&n) || n > kMaxItems) return false;
    v->resize(n);
    for (auto& s : *v) {
      if (!Str(&s) || s.find('\0') != std::string::npos) return false;
    }
    return true;
  }
};

bool ReadFull(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool WriteFull(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

[[noreturn]] void StubFail(int sock, const char* step) {
  Failure f{};
  f.err = errno != 0 ? errno : EIO;
  std::strncpy(f.step, step, sizeof f.step - 1);
  WriteFull(sock, reinterpret_cast<const char*>(&f), sizeof f);
  ::_exit(127);
}

// The launch header and its three fds travel in one message: the header in `iov`, the fds in
// `control` (filled by the sender, read by the receiver).
struct FdMessage {
  uint32_t header[2] = {0, 0};
  char control[CMSG_SPACE(4 * sizeof(int))] = {};
  struct iovec iov {};
  struct msghdr msg {};
  FdMessage() {
    iov.iov_base = header;
    iov.iov_len = sizeof header;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
};

// The stub: a fresh single-threaded process, so ordinary C++ is safe here.
[[noreturn]] void RunStub() {
  // Far from 0-3, where the launch puts stdio and the activation socket: a dup2 onto fd 3 must
  // never close this socket, which reports a failed step.
  const int sock = ::fcntl(0, F_DUPFD_CLOEXEC, kStubSocketFd);
  if (sock < 0) ::_exit(126);
  FdMessage m;
  uint32_t* header = m.header;
  struct msghdr& msg = m.msg;
  int fds[4] = {-1, -1, -1, -1};
  ssize_t got;
  do {
    got = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got <= 0) ::_exit(0);  // the agent closed the socket: the pool is shutting down
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
      (c->cmsg_len != CMSG_LEN(3 * sizeof(int)) && c->cmsg_len != CMSG_LEN(4 * sizeof(int)))) {
    errno = EPROTO;
    StubFail(sock, "stub message");
  }
  const size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
  std::memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
  if (static_cast<size_t>(got) < sizeof m.header &&
      !ReadFull(sock, reinterpret_cast<char*>(header) + got, sizeof m.header - got)) {
    ::_exit(0);
  }
  if (header[0] != kMagic || header[1] > kMaxPayload) {
    errno = EPROTO;
    StubFail(sock, "stub message");
  }
  std::string payload(header[1], '\0');
  if (!ReadFull(sock, payload.data(), payload.size())) ::_exit(0);
  StubLaunch l;
  if (!DecodeStubLaunch(payload, &l) || l.listen_fd != (nfds == 4)) {
    errno = EPROTO;
    StubFail(sock, "stub message");
  }
  std::vector<char*> argv, envp;
  for (auto& a : l.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : l.envp) envp.push_back(e.data());
  envp.push_back(nullptr);

  // From here on, the order of agent/spawn.h's child after its cgroup join.
  ::umask(l.umask);
  if (::dup2(fds[0], 0) < 0 || ::dup2(fds[1], 1) < 0 || ::dup2(fds[2], 2) < 0) {
    StubFail(sock, "dup2");
  }
  if (l.listen_fd && ::dup2(fds[3], 3) < 0) StubFail(sock, "listen fd");
  if (l.switch_user) {
    if (::syscall(SYS_setgroups, l.groups.size(), l.groups.data()) != 0) {
      StubFail(sock, "setgroups");
    }
    if (::syscall(SYS_setresgid, l.gid, l.gid, l.gid) != 0) StubFail(sock, "setgid");
    if (::syscall(SYS_setresuid, l.uid, l.uid, l.uid) != 0) StubFail(sock, "setuid");
  }
  if (!l.chdir_path.empty() && ::chdir(l.chdir_path.c_str()) != 0) StubFail(sock, "chdir");
  const unsigned first = l.listen_fd ? 4U : 3U;
  if (::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = static_cast<int>(first); fd < 65536; ++fd) {
      if (fd != sock) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
  ::execve(l.path.c_str(), argv.data(), envp.data());
  StubFail(sock, "exec");
}

}  // namespace

void MaybeRunExecStub(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], kExecStubArg) == 0) RunStub();
}

std::string ExecStubBinary(const std::string& self_exe) {
  char buf[4096];
  const ssize_t n = ::readlink(self_exe.c_str(), buf, sizeof buf - 1);
  const std::string exe = n > 0 ? std::string(buf, static_cast<size_t>(n)) : self_exe;
  const size_t slash = exe.rfind('/');
  if (slash == std::string::npos) return self_exe;
  const std::string stub = exe.substr(0, slash + 1) + "tide-exec-stub";
  struct stat st;
  if (::stat(stub.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(stub.c_str(), X_OK) != 0) {
    return self_exe;
  }
  return stub;
}

std::string EncodeStubLaunch(const StubLaunch& l) {
  std::string out;
  PutU32(&out, l.umask);
  PutU32(&out, l.switch_user ? 1 : 0);
  PutU32(&out, l.uid);
  PutU32(&out, l.gid);
  PutU32(&out, l.listen_fd ? 1 : 0);
  PutU32(&out, static_cast<uint32_t>(l.groups.size()));
  for (gid_t g : l.groups) PutU32(&out, g);
  PutStr(&out, l.path);
  PutStr(&out, l.chdir_path);
  PutU32(&out, static_cast<uint32_t>(l.argv.size()));
  for (const auto& a : l.argv) PutStr(&out, a);
  PutU32(&out, static_cast<uint32_t>(l.envp.size()));
  for (const auto& e : l.envp) PutStr(&out, e);
  return out;
}

bool DecodeStubLaunch(const std::string& bytes, StubLaunch* out) {
  Reader r{bytes};
  StubLaunch l;
  uint32_t umask, switch_user, uid, gid, listen_fd, ngroups;
  if (!r.U32(&umask) || !r.U32(&switch_user) || !r.U32(&uid) || !r.U32(&gid) ||
      !r.U32(&listen_fd) || !r.U32(&ngroups) || umask > 0777 || switch_user > 1 || listen_fd > 1 ||
      ngroups > 65536) {
    return false;
  }
  l.listen_fd = listen_fd == 1;
  l.umask = static_cast<mode_t>(umask);
  l.switch_user = switch_user == 1;
  l.uid = uid;
  l.gid = gid;
  for (uint32_t i = 0; i < ngroups; ++i) {
    uint32_t g;
    if (!r.U32(&g)) return false;
    l.groups.push_back(g);
  }
  if (!r.Str(&l.path) || l.path.empty() || l.path[0] != '/' ||
      l.path.find('\0') != std::string::npos || !r.Str(&l.chdir_path) ||
      l.chdir_path.find('\0') != std::string::npos || !r.Strs(&l.argv) || l.argv.empty() ||
      !r.Strs(&l.envp) || r.at != bytes.size()) {
    return false;
  }
  *out = std::move(l);
  return true;
}

Status SendStubLaunch(int sock, const StubLaunch& launch, int stdin_fd, int stdout_fd,
                      int stderr_fd, int listen_fd, int timeout_ms) {
  const std::string payload = EncodeStubLaunch(launch);
  if (payload.size() > kMaxPayload) return Status::Invalid("stub: argv and env are too large");
  FdMessage m;
  m.header[0] = kMagic;
  m.header[1] = static_cast<uint32_t>(payload.size());
  uint32_t* header = m.header;
  struct msghdr& msg = m.msg;
  if (launch.listen_fd != (listen_fd >= 0)) return Status::Invalid("stub: listen fd mismatch");
  int fds[4] = {stdin_fd, stdout_fd, stderr_fd, listen_fd};
  const size_t nfds = listen_fd >= 0 ? 4 : 3;
  msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
  std::memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  ssize_t sent;
  do {
    sent = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return Status::Internal(std::string("stub: send: ") + std::strerror(errno));
  if (static_cast<size_t>(sent) < sizeof m.header &&
      !WriteFull(sock, reinterpret_cast<const char*>(header) + sent, sizeof m.header - sent)) {
    return Status::Internal("stub: send: the stub is gone");
  }
  if (!WriteFull(sock, payload.data(), payload.size())) {
    return Status::Internal("stub: send: the stub is gone");
  }
  // Exec closes the stub's end (close-on-exec): end of file is success.
  Failure f{};
  size_t have = 0;
  for (;;) {
    struct pollfd p {
      sock, POLLIN, 0
    };
    int rc = ::poll(&p, 1, timeout_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0)
      return Status::Internal("stub: no answer within " + std::to_string(timeout_ms) + " ms");
    if (rc < 0) return Status::Internal(std::string("stub: poll: ") + std::strerror(errno));
    ssize_t r = ::read(sock, reinterpret_cast<char*>(&f) + have, sizeof f - have);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::Internal(std::string("stub: read: ") + std::strerror(errno));
    if (r == 0) break;
    have += static_cast<size_t>(r);
    if (have == sizeof f) break;
  }
  if (have == 0) return Status::Ok();
  if (have < sizeof f) return Status::Internal("stub: a short answer");
  f.step[sizeof f.step - 1] = '\0';
  return Status::Internal(std::string(f.step) + ": " + std::strerror(f.err));
}

}  // namespace tide
