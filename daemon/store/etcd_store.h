// EtcdStore: the ObjectStore (object_store.h) on etcd, shared by every tided member of a cluster
// (`tided --store etcd://HOST:PORT[,...] --store-prefix /tide/`; docs/ha.md).
//
// Layout under the prefix P (values are JSON):
//   P objects/workload/NAME, P objects/layer/NAME   {object, generation, created_ms, updated_ms,
//                                                    scale_replicas}
//   P objects-version                               bumped by every object change (below)
//   P events/TIME_MS-N                              one event; its id is create_revision*1000+i
//   P invocations/ID                                one async invocation (blobs base64)
//   P invocation-queue/ID                           present while it is Queued or Running (the
//                                                   leader's invoker scans these, not every one)
//   P nodes/NAME/credential                         a node credential's digest (hex SHA-256)
//   P load/MEMBER                                   a follower's gateway load (PublishLoad)
//   P leader                                        the leader key (daemon/control/elector.h)
//
// Object changes (Apply, Delete, SetScale, DeleteLayer) are optimistic transactions: read a
// snapshot of every object and of `objects-version` in one etcd txn, check and plan it with
// apply_plan.h (the same checks and answers as the SQLite store), then write the changed objects
// and bump `objects-version` in one txn conditioned on `objects-version` being unchanged. A
// concurrent change by another member makes the txn fail and the whole step is redone on the new
// snapshot (up to kMaxAttempts). So a batch is all or nothing, layer references are checked
// against exactly what is committed, and two members cannot both create the same name.
//
// Change notification: a Watch on P objects/ increments Revision() and calls the listener for
// changes from any member; this member's own commits do so at once, as with SQLite.
//
// Errors: etcd unreachable -> kUnavailable "store: etcd unavailable: ...", so the API answers 503
// naming it; nothing is half-applied (a txn commits entirely or not at all).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>

#include "api/clock.h"
#include "daemon/store/etcd_client.h"
#include "daemon/store/object_store.h"

namespace tide {

class EtcdStore : public ObjectStore {
 public:
  struct Options {
    std::string prefix = "/tide/";  // ends with '/'
    int max_events = 10000;         // about the newest N events are kept
  };
  static constexpr int kMaxAttempts = 16;

  // Checks that etcd answers (kUnavailable naming the endpoints otherwise) and starts watching.
  static Status Open(etcd::EtcdClient& etcd, Clock& clock, Options opts,
                     std::unique_ptr<EtcdStore>* out);
  ~EtcdStore() override;

  Status Apply(const std::vector<Object>& objs, bool dry_run,
               std::vector<ApplyResult>* out) override;
  Status Get(const std::string& name, StoredObject* out) override;
  Status List(std::optional<Kind> kind, std::vector<StoredObject>* out) override;
  Status Delete(const std::string& name, StoredObject* deleted = nullptr) override;
  Status SetScale(const std::string& name, int replicas) override;
  Status ImportObjects(const std::vector<StoredObject>& objs, bool replace) override;
  Status GetLayer(const std::string& name, StoredObject* out) override;
  Status DeleteLayer(const std::string& name) override;
  Status AppendEvent(Event e, int64_t* id = nullptr) override;
  Status AppendEvents(std::vector<Event> events, int64_t* last_id = nullptr) override;
  Status ListEvents(const std::string& workload, int64_t since_ms, int limit,
                    std::vector<Event>* out) override;
  Status PutInvocation(const Invocation& inv) override;
  Status GetInvocation(const std::string& id, Invocation* out) override;
  Status ListInvocations(const std::string& workload, const std::string& state,
                         std::vector<Invocation>* out) override;
  Status PutInvocationAsLeader(const Invocation& inv) override;
  Status ListPendingInvocations(std::vector<std::string>* ids) override;
  // How the leader's writes are fenced (FencedTxn of daemon/control/elector.h, bound to this
  // member's elector): runs the ops when the compares hold and this member still leads. Unset:
  // PutInvocationAsLeader is a plain PutInvocation. Set once, before concurrent use.
  using FencedWriter = std::function<Status(const std::vector<etcd::Compare>&,
                                            const std::vector<etcd::Op>&, etcd::TxnResult*)>;
  void SetFencedWriter(FencedWriter w) { fenced_ = std::move(w); }
  Status PublishLoad(const PublishedLoad& load) override;
  Status ListLoads(std::vector<PublishedLoad>* out) override;
  Status PutNodeCredential(const std::string& node, const std::string& digest_hex) override;
  Status ListNodeCredentials(std::vector<std::pair<std::string, std::string>>* out) override;
  int64_t Revision() const override { return revision_.load(); }
  // May be set while the watch already runs (it starts in Open).
  void SetChangeListener(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(listener_mu_);
    on_change_ = std::move(fn);
  }

  const std::string& prefix() const { return opts_.prefix; }

 private:
  struct Snapshot;
  EtcdStore(etcd::EtcdClient& etcd, Clock& clock, Options opts);
  Status ReadSnapshot(Snapshot* out);
  // Commits ops (plus the objects-version bump) if objects-version is still what `snap` read;
  // *committed false when another change came first.
  Status CommitIfUnchanged(const Snapshot& snap, std::vector<etcd::Op> ops, bool* committed);
  void Watched(int64_t revision);
  Status GetIn(const std::string& ns, const std::string& name, StoredObject* out);
  void Changed();
  void TrimEvents();
  Status PutInvocationIn(const Invocation& inv, bool as_leader);

  etcd::EtcdClient& etcd_;
  Clock& clock_;
  Options opts_;
  std::atomic<int64_t> revision_{0};
  std::atomic<int64_t> appended_{0};
  std::mutex listener_mu_;
  std::function<void()> on_change_;  // guarded by listener_mu_
  std::mutex own_mu_;
  std::set<int64_t> own_revisions_;  // our commits, not to be counted again when watched
  std::unique_ptr<etcd::Watch> watch_;
  FencedWriter fenced_;
};

}  // namespace tide
