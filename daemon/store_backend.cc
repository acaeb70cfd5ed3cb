#include "daemon/store_backend.h"

#include "daemon/control/elector.h"
#include "daemon/store/etcd_client.h"
#include "daemon/store/etcd_store.h"
#include "daemon/store/store.h"

namespace tide {

Status StoreBackend::Open(const StoreBackendOptions& opts, Clock& clock,
                          std::unique_ptr<StoreBackend>* out) {
  auto b = std::unique_ptr<StoreBackend>(new StoreBackend());
  b->opts_ = opts;
  if (opts.name.empty() || opts.name.size() > 253 ||
      opts.name.find_first_of(" \t\r\n/") != std::string::npos) {
    return Status::Invalid("--name '" + opts.name +
                           "': want 1-253 characters without spaces or '/'");
  }
  if (opts.store == "sqlite") {
    std::unique_ptr<Store> s;
    Status st = Store::Open(opts.data_dir, clock, &s);
    if (!st.ok()) return st;
    b->store_ = std::move(s);
    *out = std::move(b);
    return Status::Ok();
  }
  std::vector<std::string> endpoints;
  Status st = etcd::ParseEtcdUrl(opts.store, &endpoints);
  if (!st.ok()) return Status::Invalid("--store: " + st.message() + " (or 'sqlite')");
  if (opts.leader_ttl_seconds < 2 || opts.leader_ttl_seconds > 60) {
    return Status::Invalid("--leader-ttl: want 2s to 60s (whole seconds), got " +
                           std::to_string(opts.leader_ttl_seconds) + "s");
  }
  b->etcd_ = std::make_unique<etcd::EtcdClient>(etcd::EtcdClient::Options{endpoints, 5});
  std::unique_ptr<EtcdStore> es;
  EtcdStore::Options eo;
  eo.prefix = opts.prefix;
  st = EtcdStore::Open(*b->etcd_, clock, eo, &es);
  if (!st.ok()) return st;
  ElectorOptions lo;
  lo.name = opts.name;
  lo.key = es->prefix() + "leader";
  lo.ttl_seconds = opts.leader_ttl_seconds;
  b->elector_ = std::make_unique<Elector>(lo, *b->etcd_, clock);
  // The leader's invocation writes are fenced by its leadership (daemon/gateway/invoker.h).
  es->SetFencedWriter([e = b->elector_.get(), c = b->etcd_.get()](
                          const std::vector<etcd::Compare>& cmp, const std::vector<etcd::Op>& ops,
                          etcd::TxnResult* out) {
    return FencedTxn(*c, e->key(), e->FenceRevision(), cmp, ops, out);
  });
  b->store_ = std::move(es);
  *out = std::move(b);
  return Status::Ok();
}

StoreBackend::~StoreBackend() { Stop(); }

void StoreBackend::SetFenceRefusedListener(std::function<void()> fn) {
  if (elector_) elector_->SetFenceRefusedListener(std::move(fn));
}

void StoreBackend::Start() {
  if (elector_) elector_->Start();
}

void StoreBackend::Stop() {
  if (elector_) elector_->Stop();
}

std::string StoreBackend::Leader() const { return elector_ ? elector_->Leader() : opts_.name; }

bool StoreBackend::IsLeader() const { return elector_ ? elector_->IsLeader() : true; }

}  // namespace tide
