// LazyPool: the task queue of the API's httplib backends (ApiServer::Routes). httplib's own
// ThreadPool starts all its threads at once: 82 threads in an idle tided (64 client workers, 16
// agent workers, 2 for followed logs), about 17 KiB of touched stack each, that most
// installations never use at the same time. A LazyPool starts a thread only when a task finds
// none idle, up to `max_threads`, and keeps it: its threads follow the most calls ever served at
// once, and a burst is served exactly as by the fixed pool once its threads exist.
// Thread-safe. shutdown() runs the tasks queued so far, then joins every thread (as
// httplib::ThreadPool does); a task enqueued after it is dropped.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tide {

class LazyPool : public httplib::TaskQueue {
 public:
  explicit LazyPool(size_t max_threads) : max_(max_threads < 1 ? 1 : max_threads) {}
  ~LazyPool() override { shutdown(); }
  LazyPool(const LazyPool&) = delete;
  LazyPool& operator=(const LazyPool&) = delete;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;
  size_t threads();  // started so far
  size_t idle();     // of them, waiting for a task

 private:
  void Work();

  const size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // mu_
  std::vector<std::thread> threads_;        // mu_
  size_t idle_ = 0;                         // mu_; threads waiting for a task
  bool shutdown_ = false;                   // mu_
};

}  // namespace tide
