#include "daemon/server/lazy_pool.h"

namespace tide {

void LazyPool::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (shutdown_) return;
    jobs_.push_back(std::move(fn));
    // More tasks waiting than idle threads to take them: one more thread, within the bound.
    if (jobs_.size() > idle_ && threads_.size() < max_) {
      threads_.emplace_back([this] { Work(); });
    }
  }
  cv_.notify_one();
}

void LazyPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lk(mu_);
    shutdown_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

size_t LazyPool::threads() {
  std::lock_guard<std::mutex> lk(mu_);
  return threads_.size();
}

size_t LazyPool::idle() {
  std::lock_guard<std::mutex> lk(mu_);
  return idle_;
}

void LazyPool::Work() {
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    if (!jobs_.empty()) {
      std::function<void()> fn = std::move(jobs_.front());
      jobs_.pop_front();
      lk.unlock();
      fn();
      lk.lock();
      continue;
    }
    if (shutdown_) return;
    ++idle_;
    cv_.wait(lk, [this] { return !jobs_.empty() || shutdown_; });
    --idle_;
  }
}

}  // namespace tide
