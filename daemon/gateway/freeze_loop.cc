#include "daemon/gateway/freeze_loop.h"

#include <algorithm>
#include <chrono>

namespace tide::gw {

void FreezeLoop::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void FreezeLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FreezeLoop::Wake(int64_t due_ms) {
  {
    std::lock_guard lock(mu_);
    if (sleeping_until_ != kAwake && sleeping_until_ != kForever && due_ms >= sleeping_until_)
      return;  // the current sleep ends first anyway
    kicked_ = true;
  }
  cv_.notify_one();
}

void FreezeLoop::Run() {
  for (;;) {
    int64_t next = kForever;
    for (const auto& ep : table_.TakeDueFreezes(&next)) table_.ApplyFreeze(ep);
    std::unique_lock lock(mu_);
    if (stop_) return;
    if (!kicked_) {
      sleeping_until_ = next;
      auto woken = [this] { return kicked_ || stop_; };
      if (next == kForever) {
        cv_.wait(lock, woken);
      } else {
        cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, next - clock_.NowMs())),
                     woken);
      }
    }
    kicked_ = false;
    sleeping_until_ = kAwake;
    if (stop_) return;
  }
}

}  // namespace tide::gw
