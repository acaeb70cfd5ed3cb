// ExitWatcher: tells its listener, within a millisecond, that some watched process has ended,
// so the Supervisor reacts to a crash at once instead of on its next periodic Tick (up to
// 500 ms later, during which the gateway still routes to the dead instance).
//
// One thread waits in epoll on a pidfd per watched process (pidfd_open, Linux 5.3+; any pid,
// our child or not, so re-adopted instances are covered too). When one becomes readable the
// process has exited: its pidfd is closed and the listener called, on the watcher thread, with
// no lock of the watcher held except the one that makes SetListener wait for a running call.
// The listener only learns "something ended": the Supervisor's Tick finds out what (TryReap).
// Watching a pid twice is a no-op; a pid that is already gone fires the listener at once.
// Where pidfd_open is not available, Watch does nothing (the periodic Tick still reaps).
//
// Thread-safety: every method may be called from any thread. After SetListener(nullptr)
// returns, the old listener is not running and will not be called again. The destructor stops
// and joins the thread.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace tide {

class ExitWatcher {
 public:
  ExitWatcher();
  ~ExitWatcher();
  ExitWatcher(const ExitWatcher&) = delete;
  ExitWatcher& operator=(const ExitWatcher&) = delete;

  void SetListener(std::function<void()> listener);
  void Watch(int pid);
  int watched() const;  // processes being watched now

 private:
  void Loop();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: ends Loop
  mutable std::mutex mu_;
  std::map<int, int> pidfds_;  // pid -> its pidfd (the epoll event carries the pid)
  std::mutex listener_mu_;     // held while the listener runs
  std::function<void()> listener_;
  std::thread thread_;
};

}  // namespace tide
