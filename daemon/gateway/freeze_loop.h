// FreezeLoop: the gateway's freeze thread. It sleeps until the nearest freeze deadline of the
// route table (RouteTable::TakeDueFreezes) or a wake from a request that ended, freezes what is
// due through the backend (RouteTable::ApplyFreeze: for a remote agent an HTTP call, so never on
// an I/O thread) and sleeps again. Nothing ticks while no endpoint can come due.
//
// Thread-safety: Wake from any thread; Start/Stop from the owner.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "api/clock.h"
#include "daemon/gateway/gateway_state.h"

namespace tide::gw {

class FreezeLoop {
 public:
  FreezeLoop(RouteTable& table, Clock& clock) : table_(table), clock_(clock) {}
  ~FreezeLoop() { Stop(); }
  FreezeLoop(const FreezeLoop&) = delete;
  FreezeLoop& operator=(const FreezeLoop&) = delete;

  void Start();
  void Stop();  // idempotent
  // An endpoint may come due at `due_ms` (steady): re-plan now if that is before the current
  // sleep ends.
  void Wake(int64_t due_ms);

 private:
  void Run();

  RouteTable& table_;
  Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool kicked_ = false;
  static constexpr int64_t kAwake = -2, kForever = -1;
  int64_t sleeping_until_ = kAwake;  // guarded by mu_
  std::thread thread_;
};

}  // namespace tide::gw
