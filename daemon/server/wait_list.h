// WaitList: requests that wait for a change (agents' assignment long-polls, client watches)
// without a thread each. A waiter is an Asio timer on the front door's io_context, armed until
// its deadline; Notify (any thread) wakes every armed waiter by cancelling its timer on its own
// executor. Waking is level-triggered by the caller: a woken waiter re-reads what it waits for
// and, when it has not changed for it, arms again.
//
// No lost wake-ups: arm first, then read the state, then Wait. A Notify after Arm makes Wait
// return at once (the flag is set under the list's mutex before the cancel is posted).
//
// Thread-safety: Arm and Wait on the waiter's executor (one coroutine); Notify and size from
// any thread. A Waiter removes itself from the list when destroyed.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tide {

class WaitList {
 public:
  class Waiter;
  using Handle = std::unique_ptr<Waiter>;

  // Registers a waiter on executor `ex` that expires at `deadline`, waiting for `key` (e.g. a
  // node name; "" for any).
  Handle Arm(const boost::asio::any_io_executor& ex, std::chrono::steady_clock::time_point deadline,
             const std::string& key = "");
  // Wakes every waiter armed now. Returns how many there were.
  size_t Notify();
  // Wakes the waiters armed now for `key` only. Returns how many there were.
  size_t Notify(const std::string& key);
  // The keys that have waiters now.
  std::vector<std::string> Keys() const;
  size_t size() const;
  int64_t notifications() const;  // Notify calls so far

 private:
  struct Entry {
    boost::asio::steady_timer timer;
    std::string key;
    bool notified = false;  // mu_
    Entry(const boost::asio::any_io_executor& ex, std::chrono::steady_clock::time_point d)
        : timer(ex, d) {}
  };
  void WakeLocked(const std::shared_ptr<Entry>& e);
  mutable std::mutex mu_;
  std::list<std::shared_ptr<Entry>> entries_;  // mu_
  std::map<std::string, int> keys_;            // mu_: waiters per key
  int64_t notifications_ = 0;                  // mu_

 public:
  class Waiter {
   public:
    ~Waiter();
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
    // Suspends until a Notify after Arm (true) or the deadline (false).
    boost::asio::awaitable<bool> Wait();

   private:
    friend class WaitList;
    Waiter(WaitList* list, std::list<std::shared_ptr<Entry>>::iterator it) : list_(list), it_(it) {}
    WaitList* list_;
    std::list<std::shared_ptr<Entry>>::iterator it_;
  };
};

}  // namespace tide
