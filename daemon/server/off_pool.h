// OffPool: the threads that do the blocking part of a request answered in the front door's event
// loop (daemon/server/front_door.h, FrontDoorLane::serve). `co_await pool.Off(f)` runs f() on one
// of the pool's threads and resumes the caller on its own executor with f's result, so the event
// loop never waits for a lock or a disk. Stop() finishes what runs and starts nothing new; the
// destructor stops too. Thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace tide {

class OffPool {
 public:
  explicit OffPool(int threads) : pool_(static_cast<size_t>(threads < 1 ? 1 : threads)) {}
  ~OffPool() { Stop(); }
  OffPool(const OffPool&) = delete;
  OffPool& operator=(const OffPool&) = delete;

  template <class F>
  boost::asio::awaitable<std::invoke_result_t<F&>> Off(F f) {
    using R = std::invoke_result_t<F&>;
    co_return co_await boost::asio::co_spawn(
        pool_, [f = std::move(f)]() mutable -> boost::asio::awaitable<R> { co_return f(); },
        boost::asio::use_awaitable);
  }
  // Runs f on the pool, nobody waiting for it.
  template <class F>
  void Post(F f) {
    boost::asio::post(pool_, std::move(f));
  }
  void Stop() {
    pool_.stop();
    pool_.join();
  }

 private:
  boost::asio::thread_pool pool_;
};

}  // namespace tide
