// ObjectStore: tided's durable state behind one interface, with two backends (docs/ha.md):
//   - Store (store.h): embedded SQLite in --data-dir, the default (`--store sqlite`);
//   - EtcdStore (etcd_store.h): etcd, shared by several tided members (`--store etcd://...`).
// The contract of every method (apply semantics, namespaces, errors) is the one store.h states;
// both backends check an apply batch and compute its results with the same functions
// (apply_plan.h), so they answer the same way. Consumers (API, control plane, invoker, apply)
// hold an ObjectStore&.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/model.h"
#include "api/status.h"

namespace tide {

class SecretCipher;

// A Secret as the store shows it: names, never values (daemon/store/store_secrets.cc).
struct SecretInfo {
  std::string name;
  StringMap labels;
  std::vector<std::string> keys;  // of its data, sorted
  int64_t generation = 0;         // increments when the data changes
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  std::string key_id;  // of the secrets key that sealed it (daemon/store/secret_cipher.h)
};

struct StoredObject {
  Object object;
  int64_t generation = 0;
  int64_t created_ms = 0;             // wall
  int64_t updated_ms = 0;             // wall; last apply that changed it or last SetScale
  std::optional<int> scale_replicas;  // PUT scale override; wins over spec.replicas
};

struct ApplyResult {
  Kind kind = Kind::kService;
  std::string name;
  std::string action;  // created | configured | unchanged
  int64_t generation = 0;
};

// An async invocation (POST /async-function/...). Blobs are byte-exact.
struct Invocation {
  std::string id;
  std::string workload;
  std::string state;  // owner-defined, e.g. Queued | Running | Succeeded | Failed | DeadLetter
  int attempts = 0;
  std::string request;
  std::string response;
  int64_t created_ms = 0;  // wall; set by PutInvocation on first insert when 0
  int64_t updated_ms = 0;  // wall; set by every PutInvocation
};

// One workload's load at one member's gateway (daemon/control/member_load.h).
struct MemberLoad {
  int inflight = 0;
  int queued = 0;
  uint64_t requests_total = 0;  // admitted by this member's gateway since it started
};

// One member's published load: its name, when it published (wall ms), its workloads.
struct PublishedLoad {
  std::string member;
  int64_t at_ms = 0;
  std::map<std::string, MemberLoad> workloads;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // ---- objects (store.h states the semantics) ----
  virtual Status Apply(const std::vector<Object>& objs, bool dry_run,
                       std::vector<ApplyResult>* out) = 0;
  virtual Status Get(const std::string& name, StoredObject* out) = 0;
  virtual Status List(std::optional<Kind> kind, std::vector<StoredObject>* out) = 0;
  virtual Status Delete(const std::string& name, StoredObject* deleted = nullptr) = 0;
  virtual Status SetScale(const std::string& name, int replicas) = 0;

  // ---- layers ----
  virtual Status GetLayer(const std::string& name, StoredObject* out) = 0;
  Status ListLayers(std::vector<StoredObject>* out) { return List(Kind::kLayer, out); }
  virtual Status DeleteLayer(const std::string& name) = 0;

  // ---- events ----
  virtual Status AppendEvent(Event e, int64_t* id = nullptr) = 0;
  virtual Status AppendEvents(std::vector<Event> events, int64_t* last_id = nullptr) = 0;
  virtual Status ListEvents(const std::string& workload, int64_t since_ms, int limit,
                            std::vector<Event>* out) = 0;

  // ---- async invocations ----
  virtual Status PutInvocation(const Invocation& inv) = 0;
  virtual Status GetInvocation(const std::string& id, Invocation* out) = 0;
  virtual Status ListInvocations(const std::string& workload, const std::string& state,
                                 std::vector<Invocation>* out) = 0;
  // PutInvocation as the leader, the one member that delivers (docs/ha.md): on etcd the write
  // is fenced, so a deposed leader's is refused (kConflict "deposed", nothing written) and one
  // that does not lead gets kUnavailable. One tided always leads: a plain PutInvocation.
  virtual Status PutInvocationAsLeader(const Invocation& inv) { return PutInvocation(inv); }
  // The ids of the invocations still to deliver (Queued or Running), oldest first. The etcd
  // store keeps an index of them, so this costs what is pending, not every invocation kept.
  virtual Status ListPendingInvocations(std::vector<std::string>* ids) {
    ids->clear();
    for (const char* state : {"Queued", "Running"}) {
      std::vector<Invocation> v;
      if (Status st = ListInvocations("", state, &v); !st.ok()) return st;
      for (auto& inv : v) ids->push_back(std::move(inv.id));
    }
    return Status::Ok();
  }

  // ---- gateway load of the members that do not lead (etcd; docs/ha.md) ----
  // Replaces this member's record (an empty `workloads` removes it). One tided: nothing to do.
  virtual Status PublishLoad(const PublishedLoad& load) {
    (void)load;
    return Status::Ok();
  }
  // Every member's record.
  virtual Status ListLoads(std::vector<PublishedLoad>* out) {
    out->clear();
    return Status::Ok();
  }

  // ---- node credentials ----
  virtual Status PutNodeCredential(const std::string& node, const std::string& digest_hex) = 0;
  virtual Status ListNodeCredentials(std::vector<std::pair<std::string, std::string>>* out) = 0;

  // ---- secrets (docs/security.md "Secrets at rest") ----
  // The contract is store.h's. Only the SQLite store holds Secrets for now: the defaults below
  // hold none, and the etcd store refuses to apply one (kSecretsNeedSqlite).
  virtual void SetSecretCipher(std::shared_ptr<const SecretCipher>) {}
  virtual Status OpenSecrets(const SecretCipher*, int* rotated) {
    *rotated = 0;
    return Status::Ok();
  }
  virtual Status ListSecrets(std::vector<SecretInfo>* out) {
    out->clear();
    return Status::Ok();
  }
  virtual Status GetSecret(const std::string& name, SecretInfo*) {
    return Status::NotFound("secret " + name + " not found");
  }
  virtual Status SecretValues(std::map<std::string, StringMap>* out) {
    out->clear();
    return Status::Ok();
  }
  virtual Status DeleteSecret(const std::string& name) {
    return Status::NotFound("secret " + name + " not found");
  }
  static constexpr const char* kSecretsNeedSqlite =
      "kind Secret needs --store sqlite for now: the etcd store does not seal secrets yet";

  // ---- moving between stores (migrate.h: tided --export / --import) ----
  // Writes `objs` (workloads and layers, already checked: migrate.h ParseExport) exactly as given:
  // generation, times and scale override kept. One transaction: all or nothing. When the store
  // already holds workloads or layers: kConflict saying how many, unless `replace`, which deletes
  // them in the same transaction (Secrets are left alone).
  virtual Status ImportObjects(const std::vector<StoredObject>& objs, bool replace) = 0;

  // ---- change notification ----
  // Increments on every change to objects this process sees (its own and, for etcd, other
  // members'). Not persisted.
  virtual int64_t Revision() const = 0;
  // Called (outside any lock) after each such change. Set once, before concurrent use.
  virtual void SetChangeListener(std::function<void()> fn) = 0;
};

}  // namespace tide
