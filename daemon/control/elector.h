// Elector: the thin loop that applies leadership.h's decisions through etcd, and FencedTxn, the
// only way a leader writes control state (docs/ha.md).
//
// Every tick (tick_ms) it reads the leader key `PREFIX + "leader"`, asks DecideLeadership what to
// do, and does it: grant a lease, keep it alive, campaign with a create-if-missing txn that puts
// its --name on its lease. IsLeader()/Leader() answer from the last round (GET /v1/leader).
// Stop() revokes the lease, which deletes the key when this member leads: the others take over
// at their next tick instead of after a TTL.
//
// Fencing: FencedTxn runs a txn whose first condition is that the leader key's create revision
// is still the fence this member got when it won. If the member was deposed (its lease expired
// while it was paused or cut off, and the key was deleted or re-created by another member) etcd
// refuses the txn and FencedTxn answers kConflict "deposed", with nothing written. A member that
// does not lead as far as it knows gets kUnavailable without any write being sent.
//
// A round of a member that led at its previous round starts with a fenced transaction (no
// writes of its own, the fence alone): a leader paused or cut off past its lease learns from
// etcd's refusal that it was deposed, before anything else, and counts it
// (FencedRefusals(), tide_fenced_writes_refused_total). A round that ends its leadership without
// such a refusal (the pause landed inside the round) sends one more, so a deposed term always
// ends in a refusal etcd gives, never only in a read.
//
// IsLeader() is also bounded by the clock, not only by the last round: it turns false once
// ttl - margin passed since the last renewal was sent, so a control loop that wakes from a pause
// before this loop's next round does not act on a stale answer.
//
// Thread-safety: the getters may be called from any thread; Tick() from one thread at a time
// (the loop's, or a test's instead of Start()).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/clock.h"
#include "api/status.h"
#include "daemon/control/leadership.h"
#include "daemon/store/etcd_client.h"

namespace tide {

struct ElectorOptions {
  std::string name;         // --name
  std::string key;          // the leader key: --store-prefix + "leader"
  int64_t ttl_seconds = 3;  // the lease's TTL (etcd counts whole seconds)
  int64_t tick_ms = 100;    // how often the key is read
};

class Elector {
 public:
  Elector(ElectorOptions opts, etcd::EtcdClient& etcd, Clock& clock);
  ~Elector();  // Stop()
  void Start();
  void Stop();
  // One round: read, decide, act. Start() runs it every tick_ms on a thread.
  void Tick();

  bool IsLeader() const;
  std::string Leader() const;  // "" while none is known (or this member's lease is not sure)
  const std::string& Self() const { return opts_.name; }
  int64_t FenceRevision() const;  // the leader key's create revision while leading, else 0
  const std::string& key() const { return opts_.key; }
  // Called on the loop's thread when this member starts or stops leading. Set before Start().
  void SetListener(std::function<void(bool leader)> fn) { on_change_ = std::move(fn); }
  // The last decision's reason (logs, tests).
  std::string Why() const;
  // Fenced transactions of this member that etcd refused because it no longer led.
  int64_t FencedRefusals() const { return fenced_refusals_.load(); }
  // Called (on the loop's thread) at each such refusal. Set before Start().
  void SetFenceRefusedListener(std::function<void()> fn) { on_refused_ = std::move(fn); }

 private:
  // A fenced transaction (no writes) with `fence`; true, counted and logged when etcd refused it.
  bool FenceRefused(int64_t fence);

  ElectorOptions opts_;
  etcd::EtcdClient& etcd_;
  Clock& clock_;
  LeadershipConfig cfg_;
  int64_t lease_id_ = 0;       // loop thread only
  int64_t renewed_at_ms_ = 0;  // loop thread only
  mutable std::mutex mu_;
  bool leader_ = false;      // guarded by mu_
  std::string leader_name_;  // guarded by mu_
  int64_t fence_ = 0;        // guarded by mu_
  int64_t renewed_at_ = 0;   // guarded by mu_: renewed_at_ms_ as of the last round
  std::string why_;          // guarded by mu_
  bool stopping_ = false;    // guarded by mu_
  std::condition_variable cv_;
  std::function<void(bool)> on_change_;
  std::function<void()> on_refused_;
  std::atomic<int64_t> fenced_refusals_{0};
  std::thread thread_;
};

// Runs `ops` (and `failure`, if given, when the txn's own conditions fail) only while the leader
// key `leader_key` is the one created at `fence_revision`. The fence is the txn's first compare,
// then `compares`. kConflict naming the fence when the fence failed (deposed); kUnavailable
// when fence_revision is 0 (not the leader); *out gets the txn result (succeeded = every compare
// held). When `compares` are given and the fence held but they did not, the answer is ok with
// out->succeeded false: the caller's condition, not leadership, failed.
Status FencedTxn(etcd::EtcdClient& etcd, const std::string& leader_key, int64_t fence_revision,
                 const std::vector<etcd::Compare>& compares, const std::vector<etcd::Op>& ops,
                 etcd::TxnResult* out = nullptr);

}  // namespace tide
