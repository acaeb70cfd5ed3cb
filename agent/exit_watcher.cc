#include "agent/exit_watcher.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace tide {
namespace {

constexpr uint64_t kWakeEvent = ~uint64_t{0};  // epoll data of wake_fd_; a pid is never this

int PidfdOpen(int pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace

ExitWatcher::ExitWatcher() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || wake_fd_ < 0) return;  // Watch() then does nothing
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeEvent;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  thread_ = std::thread([this] { Loop(); });
}

ExitWatcher::~ExitWatcher() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    thread_.join();
  }
  for (const auto& [pid, fd] : pidfds_) ::close(fd);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void ExitWatcher::SetListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lk(listener_mu_);
  listener_ = std::move(listener);
}

void ExitWatcher::Watch(int pid) {
  if (pid <= 0 || !thread_.joinable()) return;
  std::lock_guard<std::mutex> lk(mu_);
  if (pidfds_.count(pid)) return;
  int fd = PidfdOpen(pid);
  if (fd < 0) return;  // already gone (ESRCH): the next Tick reaps it; or no pidfd support
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = static_cast<uint64_t>(pid);
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ::close(fd);
    return;
  }
  pidfds_[pid] = fd;
}

int ExitWatcher::watched() const {
  std::lock_guard<std::mutex> lk(mu_);
  return static_cast<int>(pidfds_.size());
}

void ExitWatcher::Loop() {
  epoll_event events[64];
  for (;;) {
    int n = ::epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    bool ended = false;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeEvent) return;
      const int pid = static_cast<int>(events[i].data.u64);
      std::lock_guard<std::mutex> lk(mu_);
      auto it = pidfds_.find(pid);
      if (it == pidfds_.end()) continue;
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second, nullptr);
      ::close(it->second);
      pidfds_.erase(it);
      ended = true;
    }
    if (ended) {
      std::lock_guard<std::mutex> lk(listener_mu_);
      if (listener_) listener_();
    }
  }
}

}  // namespace tide
