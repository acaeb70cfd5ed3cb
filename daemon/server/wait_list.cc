#include "daemon/server/wait_list.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tide {

namespace asio = boost::asio;

WaitList::Handle WaitList::Arm(const asio::any_io_executor& ex,
                               std::chrono::steady_clock::time_point deadline,
                               const std::string& key) {
  auto e = std::make_shared<Entry>(ex, deadline);
  e->key = key;
  std::lock_guard<std::mutex> lk(mu_);
  ++keys_[key];
  auto it = entries_.insert(entries_.end(), std::move(e));
  return Handle(new Waiter(this, it));
}

void WaitList::WakeLocked(const std::shared_ptr<Entry>& e) {
  if (e->notified) return;
  e->notified = true;
  // The timer is only touched on its own executor; the shared_ptr keeps it alive until then.
  asio::post(e->timer.get_executor(), [e] { e->timer.cancel(); });
}

size_t WaitList::Notify() {
  std::lock_guard<std::mutex> lk(mu_);
  ++notifications_;
  for (auto& e : entries_) WakeLocked(e);
  return entries_.size();
}

size_t WaitList::Notify(const std::string& key) {
  std::lock_guard<std::mutex> lk(mu_);
  ++notifications_;
  if (!keys_.count(key)) return 0;
  size_t n = 0;
  for (auto& e : entries_) {
    if (e->key != key) continue;
    WakeLocked(e);
    ++n;
  }
  return n;
}

std::vector<std::string> WaitList::Keys() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<std::string> out;
  out.reserve(keys_.size());
  for (const auto& [k, n] : keys_) out.push_back(k);
  return out;
}

size_t WaitList::size() const {
  std::lock_guard<std::mutex> lk(mu_);
  return entries_.size();
}

int64_t WaitList::notifications() const {
  std::lock_guard<std::mutex> lk(mu_);
  return notifications_;
}

WaitList::Waiter::~Waiter() {
  std::lock_guard<std::mutex> lk(list_->mu_);
  auto k = list_->keys_.find((*it_)->key);
  if (k != list_->keys_.end() && --k->second <= 0) list_->keys_.erase(k);
  list_->entries_.erase(it_);
}

asio::awaitable<bool> WaitList::Waiter::Wait() {
  std::shared_ptr<Entry> e;
  {
    std::lock_guard<std::mutex> lk(list_->mu_);
    if ((*it_)->notified) co_return true;
    e = *it_;
  }
  // A Notify from here on posts its cancel to this executor, which runs only after
  // async_wait has started (this coroutine holds the executor until it suspends).
  co_await e->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  std::lock_guard<std::mutex> lk(list_->mu_);
  co_return e->notified;
}

}  // namespace tide
