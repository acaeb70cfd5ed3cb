// StoreBackend: the store tided runs on, as --store chooses it (docs/ha.md, docs/operations.md):
//   --store sqlite (default)      Store (daemon/store/store.h) in --data-dir; this member always
//                                 leads;
//   --store etcd://H:P[,H:P...]   EtcdStore (daemon/store/etcd_store.h) under --store-prefix,
//                                 shared with the other members, plus this member's Elector
//                                 (daemon/control/elector.h) campaigning as --name.
// It owns what each needs (the etcd client outlives the store and the elector) and answers
// GET /v1/leader. Validation of the flags is here too, with errors naming the flag.
//
// Thread-safety: Leader()/IsLeader() from any thread; Open/Start/Stop from main.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/clock.h"
#include "api/status.h"
#include "daemon/store/object_store.h"

namespace tide {

class Elector;
namespace etcd {
class EtcdClient;
}

struct StoreBackendOptions {
  std::string store = "sqlite";    // --store
  std::string prefix = "/tide/";   // --store-prefix
  std::string name;                // --name (the caller defaults it to the host name)
  int64_t leader_ttl_seconds = 3;  // --leader-ttl
  std::string data_dir;            // --data-dir (SQLite)
};

class StoreBackend {
 public:
  // Invalid naming the flag for a bad --store, --store-prefix, --name or --leader-ttl;
  // Unavailable when etcd does not answer; the SQLite store's own errors otherwise.
  static Status Open(const StoreBackendOptions& opts, Clock& clock,
                     std::unique_ptr<StoreBackend>* out);
  ~StoreBackend();  // Stop()

  ObjectStore& store() { return *store_; }
  bool is_etcd() const { return elector_ != nullptr; }
  const std::string& name() const { return opts_.name; }
  // etcd: called at each fenced write etcd refused because this member no longer led
  // (Elector::SetFenceRefusedListener). Before Start().
  void SetFenceRefusedListener(std::function<void()> fn);
  // Starts campaigning (etcd); a no-op for SQLite.
  void Start();
  // Stops campaigning and hands leadership over at once (revokes the lease).
  void Stop();
  std::string Leader() const;  // "" while none is known
  bool IsLeader() const;

 private:
  StoreBackendOptions opts_;
  std::unique_ptr<etcd::EtcdClient> etcd_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<Elector> elector_;
};

}  // namespace tide
