// Store: tided's durable desired state, an embedded SQLite database `DATA_DIR/tide.db` (the
// default ObjectStore, object_store.h; the etcd one is etcd_store.h).
//
// Holds the applied objects (workloads, layers and sealed secrets), the event log, and async
// invocations. Durability: journal_mode=WAL and synchronous=FULL, so an Apply/Delete/SetScale that
// returned ok survives kill -9 and power loss. Events are written with synchronous=NORMAL (they
// become durable with the next FULL commit or checkpoint): losing the last few events on a crash is
// acceptable, an fsync per event is not.
//
// Namespaces: workloads (Service and Function) share one namespace, because routes address
// them as /v1/workloads/{name}; layers have their own, so a Layer may share a name with a
// workload. Applying a Function under the name of an existing Service (or the reverse) is
// `configured`: the kind is part of the spec, the generation increments and the reconciler
// replaces the instances. (Declarative apply means "make it so".)
//
// Apply semantics, per object: `created` when absent; `configured` when the canonical JSON
// (api/json.h to_json, keys sorted, defaults filled in) differs; `unchanged` otherwise.
// `generation` is 1 on create and increments only when kind or spec changes (a labels-only
// change is `configured` with the same generation). The scale override set by SetScale
// (PUT /v1/workloads/{name}/scale) is cleared when an apply changes spec.replicas or
// spec.autoscale. The whole batch is one transaction: any error leaves nothing applied.
// Apply checks, inside the transaction, that every workload's spec.layers exist (in the store
// or in the same batch) and that no name appears twice in the batch (both: Invalid).
//
// Thread-safety: every method may be called from any thread; one connection guarded by a
// mutex. The change listener is called after the commit, outside the lock, on the caller's
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/clock.h"
#include "api/model.h"
#include "api/status.h"
#include "daemon/store/object_store.h"
#include "daemon/store/sqlite_db.h"

namespace tide {

class Store : public ObjectStore {
 public:
  struct Options {
    int max_events = 10000;  // newest N events are kept
  };

  // Opens or creates DATA_DIR/tide.db (creating DATA_DIR), migrating the schema if needed.
  // A write-ahead log with committed transactions after a damaged frame is refused before SQLite
  // opens it (daemon/store/wal_check.h); a torn tail is accepted.
  // A store that fails PRAGMA quick_check is refused with an error saying so (and what to do).
  // Fails if the file's schema version is newer than this build understands.
  static Status Open(const std::string& data_dir, Clock& clock, std::unique_ptr<Store>* out);
  static Status Open(const std::string& data_dir, Clock& clock, Options opts,
                     std::unique_ptr<Store>* out);
  ~Store();

  // ---- objects ----
  // Applies a validated batch; *out gets one result per object, in order. dry_run computes the
  // results and writes nothing.
  Status Apply(const std::vector<Object>& objs, bool dry_run, std::vector<ApplyResult>* out);
  // Workloads (Service/Function) by name. NotFound when absent.
  Status Get(const std::string& name, StoredObject* out);
  // nullopt: every workload; Service/Function: those; Layer: layers. Sorted by name.
  Status List(std::optional<Kind> kind, std::vector<StoredObject>* out);
  // Forgets a workload; *deleted (optional) gets what was stored. NotFound when absent.
  Status Delete(const std::string& name, StoredObject* deleted = nullptr);
  // Sets the replicas override of a workload. NotFound when absent, Invalid when < 0.
  Status SetScale(const std::string& name, int replicas);
  // store_import.cc; the contract is ObjectStore's.
  Status ImportObjects(const std::vector<StoredObject>& objs, bool replace) override;

  // ---- layers ----
  Status GetLayer(const std::string& name, StoredObject* out);
  // NotFound when absent; Conflict naming a workload that still lists it in spec.layers.
  Status DeleteLayer(const std::string& name);

  // ---- events ----
  // Assigns e.id (returned in *id if given) and e.time_ms when 0 (clock wall time).
  Status AppendEvent(Event e, int64_t* id = nullptr);
  // Several events in one transaction (a reconcile pass or an agent report can emit hundreds);
  // *last_id is the id of the last one.
  Status AppendEvents(std::vector<Event> events, int64_t* last_id = nullptr);
  // Events oldest first; workload "" = all, since_ms = time_ms >= since_ms (0 = all),
  // limit > 0 keeps the newest `limit` of the matches (0 = no limit).
  Status ListEvents(const std::string& workload, int64_t since_ms, int limit,
                    std::vector<Event>* out);

  // ---- async invocations ----
  // Inserts or replaces by id (created_ms of an existing row is kept).
  Status PutInvocation(const Invocation& inv);
  Status GetInvocation(const std::string& id, Invocation* out);  // NotFound when absent
  // Filters ("" = any), oldest first.
  Status ListInvocations(const std::string& workload, const std::string& state,
                         std::vector<Invocation>* out);

  // ---- node credentials (docs/api.md "Node identity") ----
  // Records the digest (hex SHA-256, never the credential) of `node`'s credential, durably.
  // Conflict when the node already has one.
  Status PutNodeCredential(const std::string& node, const std::string& digest_hex);
  // Every (node, digest hex), by node.
  Status ListNodeCredentials(std::vector<std::pair<std::string, std::string>>* out);

  // ---- secrets (store_secrets.cc; docs/security.md "Secrets at rest") ----
  // Secrets are applied with the other kinds (Apply, in the same transaction) and their data is
  // kept sealed by `cipher` (AES-256-GCM, the secret's name as associated data). Applying a
  // Secret whose data changed also increments the generation of every workload whose env
  // refers to it (so the change rolls out), except workloads created or changed in the same
  // apply. Without a cipher applying a Secret is Invalid. Set once, before concurrent use.
  void SetSecretCipher(std::shared_ptr<const SecretCipher> cipher) override;
  // At start: re-seals under the current cipher every secret that `rotate_from` (optional)
  // sealed, in one transaction (*rotated gets how many), then checks that every secret opens
  // with the current cipher; Invalid naming the secret and the key file when one does not.
  Status OpenSecrets(const SecretCipher* rotate_from, int* rotated) override;
  Status ListSecrets(std::vector<SecretInfo>* out) override;            // by name
  Status GetSecret(const std::string& name, SecretInfo* out) override;  // NotFound when absent
  // Every secret's data in clear, name -> key -> value: for the control plane's assignments.
  Status SecretValues(std::map<std::string, StringMap>* out) override;
  // NotFound when absent; Conflict naming a workload whose env still refers to it.
  Status DeleteSecret(const std::string& name) override;

  // ---- change notification ----
  // Increments on every committed change to objects (apply with a non-unchanged result,
  // delete, scale). Not persisted.
  int64_t Revision() const;
  // Called (outside the lock) after each such commit. Set once, before concurrent use.
  void SetChangeListener(std::function<void()> fn);

 private:
  Store(Clock& clock, Options opts);
  Status Init(const std::string& path);
  Status Migrate();
  Status QuickCheck(const std::string& path);  // PRAGMA quick_check; error unless "ok"
  Status ApplyLocked(const std::vector<Object>& objs, std::vector<ApplyResult>* out, bool* changed);
  Status GetLocked(const std::string& ns, const std::string& name, StoredObject* out, bool* found);
  Status ListLocked(const std::string& ns, std::vector<StoredObject>* out);
  Status CheckLayerRefsLocked();
  Status CreateSecretsTableLocked();
  // Appends o's result to *out; adds o's name to *changed_secrets when its data changed.
  Status ApplySecretLocked(const Object& o, int64_t now, std::vector<ApplyResult>* out,
                           std::set<std::string>* changed_secrets, bool* changed);
  // Bumps the users of `changed` secrets, skipping the workloads this apply already changed.
  Status BumpSecretUsersLocked(const std::set<std::string>& changed,
                               const std::vector<ApplyResult>& applied, int64_t now);
  Status ReadSecretLocked(const std::string& name, SecretInfo* info, StringMap* data, bool* found);
  void NotifyChanged();

  Clock& clock_;
  Options opts_;
  mutable std::mutex mu_;
  SqliteDb db_;
  int64_t revision_ = 0;  // guarded by mu_
  std::function<void()> on_change_;
  std::shared_ptr<const SecretCipher> cipher_;
};

}  // namespace tide
