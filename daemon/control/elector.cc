#include "daemon/control/elector.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace tide {

Elector::Elector(ElectorOptions opts, etcd::EtcdClient& etcd, Clock& clock)
    : opts_(std::move(opts)), etcd_(etcd), clock_(clock) {
  cfg_.name = opts_.name;
  cfg_.ttl_ms = opts_.ttl_seconds * 1000;
  cfg_.renew_ms = cfg_.ttl_ms / 3;
  cfg_.margin_ms = std::max<int64_t>(cfg_.ttl_ms / 6, 300);
}

Elector::~Elector() { Stop(); }

void Elector::Start() {
  thread_ = std::thread([this] {
    while (true) {
      Tick();
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(opts_.tick_ms), [&] { return stopping_; });
      if (stopping_) return;
    }
  });
}

void Elector::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  bool was_leader = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    was_leader = leader_;
    leader_ = false;
    fence_ = 0;
  }
  // Hand over at once: revoking deletes the leader key if it is on our lease.
  if (lease_id_ != 0) etcd_.LeaseRevoke(lease_id_);
  lease_id_ = 0;
  if (was_leader && on_change_) on_change_(false);
}

void Elector::Tick() {
  // A member that led at its last round proves it still does through the fence first: after a
  // pause past its lease, etcd's refusal is how it learns, whatever the clock says.
  const int64_t fence_before = FenceRevision();
  bool refused = fence_before != 0 && FenceRefused(fence_before);
  LeadershipDecision d;
  // Up to three steps in one round: a new lease, a campaign, then the answer that counts them.
  for (int step = 0; step < 3; ++step) {
    LeadershipView v;
    etcd::KeyValue kv;
    bool found = false;
    v.key_read = etcd_.Get(opts_.key, &kv, &found).ok();
    v.key_exists = v.key_read && found;
    v.key_holder = found ? kv.value : "";
    v.key_lease = found ? kv.lease : 0;
    v.key_create_revision = found ? kv.create_revision : 0;
    v.now_ms = clock_.NowMs();
    v.lease_id = lease_id_;
    v.renewed_at_ms = renewed_at_ms_;
    d = DecideLeadership(cfg_, v);
    if (!d.grant_lease && !d.renew_lease && !d.campaign) break;
    if (!v.key_read) break;  // etcd unreachable: nothing to gain from another step now
    if (d.grant_lease) {
      const int64_t sent = clock_.NowMs();
      int64_t id = 0;
      if (!etcd_.LeaseGrant(opts_.ttl_seconds, &id).ok()) break;
      lease_id_ = id;
      renewed_at_ms_ = sent;
    } else if (d.renew_lease) {
      const int64_t sent = clock_.NowMs();
      int64_t ttl = 0;
      if (!etcd_.LeaseKeepAlive(lease_id_, &ttl).ok()) break;
      if (ttl > 0) {
        renewed_at_ms_ = sent;
      } else {
        lease_id_ = 0;  // expired at etcd: a new one at the next step
      }
    }
    if (d.campaign && lease_id_ != 0) {
      etcd::TxnResult t;
      Status s = etcd_.Txn({etcd::Compare::Missing(opts_.key)},
                           {etcd::Op::Put(opts_.key, opts_.name, lease_id_)}, {}, &t);
      if (s.ok() && t.succeeded) spdlog::info("elector: {} won leadership", opts_.name);
    }
  }

  // Stepping down in this round without a refusal (a pause landed inside the round, after the
  // first transaction): the term it held ends through the fence too, so the refusal is seen.
  if (!refused && fence_before != 0 && !d.leader) refused = FenceRefused(fence_before);
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    changed = leader_ != d.leader;
    leader_ = d.leader;
    fence_ = d.leader ? d.fence_revision : 0;
    renewed_at_ = renewed_at_ms_;
    leader_name_ = d.leader_name;
    why_ = d.why;
  }
  if (changed) {
    spdlog::info("elector: {} {} ({})", opts_.name, d.leader ? "leads" : "does not lead", d.why);
    if (on_change_) on_change_(d.leader);
  }
}

bool Elector::FenceRefused(int64_t fence) {
  Status fs = FencedTxn(etcd_, opts_.key, fence, {}, {});
  if (fs.code() != Status::Code::kConflict) return false;
  ++fenced_refusals_;
  spdlog::warn("elector: {} was deposed: {}", opts_.name, fs.message());
  if (on_refused_) on_refused_();
  return true;
}

bool Elector::IsLeader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leader_ && LeaseSurelyAlive(cfg_, renewed_at_, clock_.NowMs());
}

std::string Elector::Leader() const {
  std::lock_guard<std::mutex> lock(mu_);
  // This member's own leadership expires by the clock too (IsLeader): it does not name itself
  // leader while a round is stuck on an unreachable etcd.
  if (leader_ && !LeaseSurelyAlive(cfg_, renewed_at_, clock_.NowMs())) return "";
  return leader_name_;
}

int64_t Elector::FenceRevision() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fence_;
}

std::string Elector::Why() const {
  std::lock_guard<std::mutex> lock(mu_);
  return why_;
}

Status FencedTxn(etcd::EtcdClient& etcd, const std::string& leader_key, int64_t fence_revision,
                 const std::vector<etcd::Compare>& compares, const std::vector<etcd::Op>& ops,
                 etcd::TxnResult* out) {
  if (fence_revision <= 0) {
    return Status::Unavailable("not the leader: control state is written by the leader only");
  }
  std::vector<etcd::Compare> all;
  all.reserve(compares.size() + 1);
  all.push_back(etcd::Compare::CreateEquals(leader_key, fence_revision));
  all.insert(all.end(), compares.begin(), compares.end());
  etcd::TxnResult t;
  Status s = etcd.Txn(all, ops, {etcd::Op::Range(leader_key)}, &t);
  if (!s.ok()) return s;
  if (!t.succeeded) {
    const bool fence_held = !t.ranges.empty() && !t.ranges[0].kvs.empty() &&
                            t.ranges[0].kvs[0].create_revision == fence_revision;
    if (!fence_held) {
      return Status::Conflict("deposed: the leader key is no longer the one created at revision " +
                              std::to_string(fence_revision) + "; write refused by the fence");
    }
  }
  if (out != nullptr) *out = std::move(t);
  return Status::Ok();
}

}  // namespace tide
