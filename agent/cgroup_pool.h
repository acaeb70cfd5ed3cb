// CgroupPool: a few exec stubs (agent/exec_stub.h) kept ready, each already inside a cgroup of
// its own without a limit, so a cold start skips the cgroup join (issue 13).
//
// The pool's cgroups are prepared through MemoryLimits under the id "pool-<agent pid>-<n>" (so
// two agents on one host never touch each other's). Take() hands out a ready stub; the caller
// gives its cgroup to the instance (MemoryLimits::Adopt), sends the launch and keeps the pid as
// the instance's. A stub that cannot be used is given back with Discard (killed, reaped, its
// cgroup removed). A refill thread starts stubs up to `size` again, off the launch path: not
// while a launch runs either (RefillAt). A new stub joins its cgroup, and on cgroup v1 a join
// holds the kernel's cgroup_threadgroup_rwsem for writing through an RCU grace period, which
// every fork and exec on the host waits for: a refill started by Take() made the very exec it
// was taken for wait (4.5 ms in an strace under load). The
// destructor closes every stub's socket (the stubs exit), reaps them and removes their cgroups.
// Pool dirs of agents that are gone (their pid no longer alive) are removed at construction.
//
// Without cgroups (no writable v1 memory or v2 hierarchy) the pool stays empty: launches take
// the ordinary way, whose cost then has no cgroup join in it.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "agent/limits.h"
#include "agent/pids_limit.h"

namespace tide {

class CgroupPool {
 public:
  struct Options {
    size_t size = 0;       // 0: no pool
    std::string self_exe;  // the binary whose main() calls MaybeRunExecStub
    // Also run on the refill thread with each stub it starts (off the launch path, no lock
    // held): other preparations for the next launch (the launcher's spare log file).
    std::function<void()> alongside;
  };
  struct Stub {
    int pid = -1;
    int sock = -1;  // the agent's end; the caller closes it after the launch
    std::string pool_id;
  };

  // pids may be null (no task limits). Both must outlive the pool.
  CgroupPool(MemoryLimits& limits, const PidsLimits* pids, Options options);
  ~CgroupPool();
  CgroupPool(const CgroupPool&) = delete;
  CgroupPool& operator=(const CgroupPool&) = delete;

  // A ready stub, or nullopt when none is. Wakes the refill thread either way.
  std::optional<Stub> Take();
  // Kills and reaps a taken stub that was not used, closes its socket, removes its cgroup
  // under either id (pool id or instance id, whichever it has now).
  void Discard(const Stub& stub, const std::string& instance_id);
  // Waits until `n` stubs are ready (tests and benchmarks); false at the deadline.
  bool WaitReady(size_t n, int timeout_ms);
  size_t Ready() const;
  size_t size() const { return options_.size; }

  // When the refill thread may start the next stub (steady ms), given the stubs ready and the
  // last Take(): at once when none is ready (a launch then joins a cgroup itself anyway), else
  // kRefillQuietMs after the last Take, so the launch that took one (its exec, the program's
  // start, the first request) runs without a cgroup join beside it. Pure.
  static constexpr int64_t kRefillQuietMs = 100;
  static int64_t RefillAt(size_t ready, int64_t last_take_ms);

 private:
  void RefillLoop();
  std::optional<Stub> StartStub();
  void RemoveStaleDirs();
  void CleanupCgroups(const std::string& id);

  MemoryLimits& limits_;
  const PidsLimits* const pids_;
  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;  // refill wanted, or a stub became ready, or stopping
  std::deque<Stub> ready_;
  bool stopping_ = false;
  bool broken_ = false;  // a stub could not be started: the pool stays empty from then on
  size_t next_ = 0;
  int64_t last_take_ms_ = -kRefillQuietMs;  // steady ms of the last Take()
  std::thread refill_;
};

}  // namespace tide
