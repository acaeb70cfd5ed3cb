#include "daemon/store/etcd_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "api/json.h"
#include "daemon/store/apply_plan.h"
#include "daemon/store/migrate.h"

namespace tide {
namespace {

using etcd::Op;

Status Unavailable(const Status& s) {
  if (s.code() != Status::Code::kUnavailable) return s;
  return Status::Unavailable("store: etcd unavailable: " + s.message());
}

#define TIDE_RETURN_IF_ERROR(expr) \
  do {                             \
    Status _s = (expr);            \
    if (!_s.ok()) return _s;       \
  } while (0)

std::string RecordOf(const StoredObject& so) { return StoredObjectToJson(so).dump(); }

Status ParseRecord(const std::string& key, const std::string& text, StoredObject* out) {
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    return Status::Internal("store: corrupt object at " + key + ": " + e.what());
  }
  Status s = StoredObjectFromJson(j, key, out);
  if (!s.ok()) return Status::Internal("store: corrupt object at " + s.message());
  return Status::Ok();
}

std::string B64(const std::string& s) { return etcd::Base64Encode(s); }
std::string UnB64(const json& j, const char* f) {
  std::string out;
  if (j.contains(f) && j[f].is_string()) etcd::Base64Decode(j[f].get<std::string>(), &out);
  return out;
}

}  // namespace

struct EtcdStore::Snapshot {
  int64_t version_mod = 0;  // mod revision of objects-version (0: never written)
  // ns -> name -> object
  std::map<std::string, std::map<std::string, StoredObject>> objects;
};

EtcdStore::EtcdStore(etcd::EtcdClient& etcd, Clock& clock, Options opts)
    : etcd_(etcd), clock_(clock), opts_(std::move(opts)) {}

EtcdStore::~EtcdStore() {
  if (watch_) watch_->Stop();
}

Status EtcdStore::Open(etcd::EtcdClient& etcd, Clock& clock, Options opts,
                       std::unique_ptr<EtcdStore>* out) {
  if (opts.prefix.empty() || opts.prefix.front() != '/' || opts.prefix.back() != '/') {
    return Status::Invalid("--store-prefix '" + opts.prefix + "': must start and end with '/'");
  }
  std::unique_ptr<EtcdStore> s(new EtcdStore(etcd, clock, std::move(opts)));
  etcd::RangeResult r;
  Status st = etcd.Range(s->opts_.prefix + "objects-version", "", &r);
  if (!st.ok()) return Unavailable(st);
  const std::string objs = s->opts_.prefix + "objects/";
  EtcdStore* self = s.get();
  s->watch_ = std::make_unique<etcd::Watch>(
      etcd.options(), objs, etcd::PrefixEnd(objs), r.revision + 1,
      [self](const std::vector<etcd::Event>&, int64_t rev) { self->Watched(rev); },
      [self](const Status& why, bool compacted) {
        spdlog::warn("store: etcd watch: {}", why.message());
        if (compacted) self->Changed();  // changes may have been missed: everyone re-reads
      });
  s->watch_->Start();
  *out = std::move(s);
  return Status::Ok();
}

void EtcdStore::Watched(int64_t revision) {
  {
    std::lock_guard<std::mutex> lock(own_mu_);
    if (own_revisions_.erase(revision) > 0) return;  // our own commit, already counted
  }
  Changed();
}

void EtcdStore::Changed() {
  ++revision_;
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> lock(listener_mu_);
    fn = on_change_;
  }
  if (fn) fn();
}

Status EtcdStore::ReadSnapshot(Snapshot* out) {
  const std::string objs = opts_.prefix + "objects/";
  etcd::TxnResult t;
  Status s = etcd_.Txn(
      {}, {Op::Range(opts_.prefix + "objects-version"), Op::Range(objs, etcd::PrefixEnd(objs))}, {},
      &t);
  if (!s.ok()) return Unavailable(s);
  if (t.ranges.size() != 2) return Status::Internal("store: etcd txn answered no ranges");
  out->version_mod = t.ranges[0].kvs.empty() ? 0 : t.ranges[0].kvs[0].mod_revision;
  out->objects.clear();
  for (const auto& kv : t.ranges[1].kvs) {
    const std::string rest = kv.key.substr(objs.size());  // "workload/NAME"
    const size_t slash = rest.find('/');
    if (slash == std::string::npos) continue;
    StoredObject so;
    TIDE_RETURN_IF_ERROR(ParseRecord(kv.key, kv.value, &so));
    out->objects[rest.substr(0, slash)][rest.substr(slash + 1)] = std::move(so);
  }
  return Status::Ok();
}

Status EtcdStore::CommitIfUnchanged(const Snapshot& snap, std::vector<Op> ops, bool* committed) {
  const std::string ver = opts_.prefix + "objects-version";
  ops.push_back(Op::Put(ver, ""));
  etcd::TxnResult t;
  Status s = etcd_.Txn({etcd::Compare::ModEquals(ver, snap.version_mod)}, ops, {}, &t);
  if (!s.ok()) return Unavailable(s);
  *committed = t.succeeded;
  if (t.succeeded) {
    std::lock_guard<std::mutex> lock(own_mu_);
    own_revisions_.insert(t.revision);
    while (own_revisions_.size() > 1024) own_revisions_.erase(own_revisions_.begin());
  }
  return Status::Ok();
}

Status EtcdStore::Apply(const std::vector<Object>& objs, bool dry_run,
                        std::vector<ApplyResult>* out) {
  out->clear();
  TIDE_RETURN_IF_ERROR(CheckApplyBatch(objs));
  for (const auto& o : objs) {
    if (o.kind == Kind::kSecret) return Status::Invalid(kSecretsNeedSqlite);
  }
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    Snapshot snap;
    TIDE_RETURN_IF_ERROR(ReadSnapshot(&snap));
    const int64_t now = clock_.WallMs();
    std::vector<ApplyResult> results;
    std::vector<Op> ops;
    for (const auto& o : objs) {
      auto& ns_map = snap.objects[StoreNamespace(o.kind)];
      auto it = ns_map.find(o.metadata.name);
      PlannedWrite w = PlanObject(o, it == ns_map.end() ? nullptr : &it->second);
      results.push_back(w.result);
      if (w.result.action == "unchanged") continue;
      StoredObject so;
      if (it != ns_map.end()) so = it->second;
      so.object = o;
      so.generation = w.result.generation;
      if (it == ns_map.end()) so.created_ms = now;
      so.updated_ms = now;
      if (w.clear_scale) so.scale_replicas.reset();
      ops.push_back(
          Op::Put(opts_.prefix + "objects/" + w.ns + "/" + o.metadata.name, RecordOf(so)));
      ns_map[o.metadata.name] = std::move(so);  // what is true after the commit, for the check
    }
    std::vector<StoredObject> layers, workloads;
    for (auto& [n, so] : snap.objects["layer"]) layers.push_back(so);
    for (auto& [n, so] : snap.objects["workload"]) workloads.push_back(so);
    TIDE_RETURN_IF_ERROR(CheckLayerRefs(layers, workloads));
    if (dry_run || ops.empty()) {
      *out = std::move(results);
      return Status::Ok();
    }
    bool committed = false;
    TIDE_RETURN_IF_ERROR(CommitIfUnchanged(snap, std::move(ops), &committed));
    if (committed) {
      *out = std::move(results);
      Changed();
      return Status::Ok();
    }
  }
  return Status::Unavailable("store: too many concurrent changes; try again");
}

Status EtcdStore::GetIn(const std::string& ns, const std::string& name, StoredObject* out) {
  etcd::KeyValue kv;
  bool found = false;
  Status s = etcd_.Get(opts_.prefix + "objects/" + ns + "/" + name, &kv, &found);
  if (!s.ok()) return Unavailable(s);
  if (!found) return Status::NotFound(ns + " " + name + " not found");
  return ParseRecord(kv.key, kv.value, out);
}

Status EtcdStore::Get(const std::string& name, StoredObject* out) {
  return GetIn("workload", name, out);
}

Status EtcdStore::GetLayer(const std::string& name, StoredObject* out) {
  return GetIn("layer", name, out);
}

Status EtcdStore::List(std::optional<Kind> kind, std::vector<StoredObject>* out) {
  out->clear();
  const std::string p =
      opts_.prefix + "objects/" + (kind ? StoreNamespace(*kind) : "workload") + "/";
  etcd::RangeResult r;
  Status s = etcd_.Range(p, etcd::PrefixEnd(p), &r);
  if (!s.ok()) return Unavailable(s);
  for (const auto& kv : r.kvs) {  // etcd answers in key order: sorted by name
    StoredObject so;
    TIDE_RETURN_IF_ERROR(ParseRecord(kv.key, kv.value, &so));
    if (kind && *kind != Kind::kLayer && so.object.kind != *kind) continue;
    out->push_back(std::move(so));
  }
  return Status::Ok();
}

Status EtcdStore::Delete(const std::string& name, StoredObject* deleted) {
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    Snapshot snap;
    TIDE_RETURN_IF_ERROR(ReadSnapshot(&snap));
    auto& ws = snap.objects["workload"];
    auto it = ws.find(name);
    if (it == ws.end()) return Status::NotFound("workload " + name + " not found");
    bool committed = false;
    TIDE_RETURN_IF_ERROR(CommitIfUnchanged(
        snap, {Op::Delete(opts_.prefix + "objects/workload/" + name)}, &committed));
    if (committed) {
      if (deleted != nullptr) *deleted = std::move(it->second);
      Changed();
      return Status::Ok();
    }
  }
  return Status::Unavailable("store: too many concurrent changes; try again");
}

Status EtcdStore::DeleteLayer(const std::string& name) {
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    Snapshot snap;
    TIDE_RETURN_IF_ERROR(ReadSnapshot(&snap));
    if (snap.objects["layer"].count(name) == 0) {
      return Status::NotFound("layer " + name + " not found");
    }
    for (const auto& [wname, w] : snap.objects["workload"]) {
      const auto& refs = w.object.spec.layers;
      if (std::find(refs.begin(), refs.end(), name) != refs.end()) {
        return Status::Conflict("layer " + name + " is used by workload " + wname);
      }
    }
    bool committed = false;
    TIDE_RETURN_IF_ERROR(
        CommitIfUnchanged(snap, {Op::Delete(opts_.prefix + "objects/layer/" + name)}, &committed));
    if (committed) {
      Changed();
      return Status::Ok();
    }
  }
  return Status::Unavailable("store: too many concurrent changes; try again");
}

Status EtcdStore::SetScale(const std::string& name, int replicas) {
  if (replicas < 0) {
    return Status::Invalid("replicas must be >= 0, got " + std::to_string(replicas));
  }
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    Snapshot snap;
    TIDE_RETURN_IF_ERROR(ReadSnapshot(&snap));
    auto& ws = snap.objects["workload"];
    auto it = ws.find(name);
    if (it == ws.end()) return Status::NotFound("workload " + name + " not found");
    it->second.scale_replicas = replicas;
    it->second.updated_ms = clock_.WallMs();
    bool committed = false;
    TIDE_RETURN_IF_ERROR(CommitIfUnchanged(
        snap, {Op::Put(opts_.prefix + "objects/workload/" + name, RecordOf(it->second))},
        &committed));
    if (committed) {
      Changed();
      return Status::Ok();
    }
  }
  return Status::Unavailable("store: too many concurrent changes; try again");
}

Status EtcdStore::ImportObjects(const std::vector<StoredObject>& objs, bool replace) {
  // One txn: the objects, the deletes of what is held (replace) and the objects-version bump.
  constexpr size_t kMaxOps = 128;  // etcd's --max-txn-ops default
  if (objs.size() + 1 > kMaxOps) {
    return Status::Invalid("import: " + std::to_string(objs.size()) +
                           " objects need one etcd transaction of " +
                           std::to_string(objs.size() + 1) +
                           " operations, more than etcd's default --max-txn-ops (128): start "
                           "etcd with --max-txn-ops=" +
                           std::to_string(objs.size() + 1) + " or more for the import");
  }
  Snapshot snap;
  TIDE_RETURN_IF_ERROR(ReadSnapshot(&snap));
  size_t held = 0;
  for (const auto& [ns, m] : snap.objects) held += m.size();
  if (held > 0 && !replace) {
    return Status::Conflict("import: the target store already holds " + std::to_string(held) +
                            " workload(s) and layer(s); --import-replace replaces them");
  }
  // etcd refuses a txn whose delete range overlaps a put: replaced objects are put over, the
  // others deleted one by one.
  const std::string objs_prefix = opts_.prefix + "objects/";
  std::vector<Op> ops;
  std::set<std::string> put;
  for (const auto& so : objs) {
    const std::string key =
        objs_prefix + StoreNamespace(so.object.kind) + "/" + so.object.metadata.name;
    put.insert(key);
    ops.push_back(Op::Put(key, RecordOf(so)));
  }
  for (const auto& [ns, m] : snap.objects) {
    for (const auto& [name, so] : m) {
      if (!put.count(objs_prefix + ns + "/" + name))
        ops.push_back(Op::Delete(objs_prefix + ns + "/" + name));
    }
  }
  if (ops.size() + 1 > kMaxOps) {
    return Status::Invalid("import: replacing " + std::to_string(held) + " object(s) with " +
                           std::to_string(objs.size()) + " needs " +
                           std::to_string(ops.size() + 1) +
                           " operations in one etcd transaction, more than etcd's default "
                           "--max-txn-ops (128): delete the target's objects first");
  }
  bool committed = false;
  TIDE_RETURN_IF_ERROR(CommitIfUnchanged(snap, std::move(ops), &committed));
  if (!committed) {
    return Status::Conflict(
        "import: another member changed the objects meanwhile; nothing was "
        "imported, try again with the members stopped");
  }
  Changed();
  return Status::Ok();
}

// ---- events ----

Status EtcdStore::AppendEvent(Event e, int64_t* id) {
  std::vector<Event> one{std::move(e)};
  return AppendEvents(std::move(one), id);
}

Status EtcdStore::AppendEvents(std::vector<Event> events, int64_t* last_id) {
  // etcd refuses a txn of more than 128 operations (its --max-txn-ops default).
  constexpr size_t kPerTxn = 100;
  const int64_t now = clock_.WallMs();
  static std::atomic<uint64_t> seq{0};
  for (size_t start = 0; start < events.size(); start += kPerTxn) {
    const size_t end = std::min(events.size(), start + kPerTxn);
    std::vector<Op> ops;
    for (size_t i = start; i < end; ++i) {
      Event& e = events[i];
      if (e.time_ms == 0) e.time_ms = now;
      char key[64];
      std::snprintf(key, sizeof key, "%020lld-%016llx", static_cast<long long>(e.time_ms),
                    static_cast<unsigned long long>(seq++));
      json j = {{"i", i - start},      {"time_ms", e.time_ms}, {"type", e.type},
                {"reason", e.reason},  {"object", e.object},   {"workload", e.workload},
                {"message", e.message}};
      ops.push_back(Op::Put(opts_.prefix + "events/" + key, j.dump()));
    }
    etcd::TxnResult t;
    Status s = etcd_.Txn({}, ops, {}, &t);
    if (!s.ok()) return Unavailable(s);
    if (last_id != nullptr) *last_id = t.revision * 1000 + static_cast<int64_t>(end - start - 1);
  }
  if ((appended_ += static_cast<int64_t>(events.size())) >= 256) {
    appended_ = 0;
    TrimEvents();
  }
  return Status::Ok();
}

void EtcdStore::TrimEvents() {
  const std::string p = opts_.prefix + "events/";
  etcd::RangeResult r;
  if (!etcd_.Range(p, etcd::PrefixEnd(p), &r, 1).ok() || r.count <= opts_.max_events) return;
  etcd::RangeResult oldest;
  if (!etcd_.Range(p, etcd::PrefixEnd(p), &oldest, r.count - opts_.max_events).ok()) return;
  if (oldest.kvs.empty()) return;
  etcd_.Delete(p, oldest.kvs.back().key + std::string(1, '\0'));
}

Status EtcdStore::ListEvents(const std::string& workload, int64_t since_ms, int limit,
                             std::vector<Event>* out) {
  out->clear();
  const std::string p = opts_.prefix + "events/";
  char from[32];
  std::snprintf(from, sizeof from, "%020lld",
                static_cast<long long>(std::max<int64_t>(since_ms, 0)));
  etcd::RangeResult r;
  Status s = etcd_.Range(p + from, etcd::PrefixEnd(p), &r);
  if (!s.ok()) return Unavailable(s);
  for (const auto& kv : r.kvs) {
    json j = json::parse(kv.value, nullptr, false);
    if (!j.is_object()) continue;
    Event e;
    e.id = kv.create_revision * 1000 + j.value("i", int64_t{0});
    e.time_ms = j.value("time_ms", int64_t{0});
    e.type = j.value("type", "");
    e.reason = j.value("reason", "");
    e.object = j.value("object", "");
    e.workload = j.value("workload", "");
    e.message = j.value("message", "");
    if (!workload.empty() && e.workload != workload) continue;
    if (e.time_ms < since_ms) continue;
    out->push_back(std::move(e));
  }
  std::sort(out->begin(), out->end(), [](const Event& a, const Event& b) { return a.id < b.id; });
  if (limit > 0 && out->size() > static_cast<size_t>(limit)) {
    out->erase(out->begin(), out->end() - limit);
  }
  return Status::Ok();
}

// ---- invocations ----

Status EtcdStore::PutInvocation(const Invocation& inv) { return PutInvocationIn(inv, false); }

Status EtcdStore::PutInvocationAsLeader(const Invocation& inv) {
  return PutInvocationIn(inv, fenced_ != nullptr);
}

Status EtcdStore::ListPendingInvocations(std::vector<std::string>* ids) {
  ids->clear();
  const std::string p = opts_.prefix + "invocation-queue/";
  etcd::RangeResult r;
  Status s = etcd_.Range(p, etcd::PrefixEnd(p), &r);
  if (!s.ok()) return Unavailable(s);
  std::vector<std::pair<int64_t, std::string>> by_age;  // create revision: oldest first
  for (const auto& kv : r.kvs) by_age.emplace_back(kv.create_revision, kv.key.substr(p.size()));
  std::sort(by_age.begin(), by_age.end());
  for (auto& [rev, id] : by_age) ids->push_back(std::move(id));
  return Status::Ok();
}

Status EtcdStore::PutInvocationIn(const Invocation& inv, bool as_leader) {
  if (inv.id.empty()) return Status::Invalid("invocation without id");
  const std::string key = opts_.prefix + "invocations/" + inv.id;
  const std::string queued = opts_.prefix + "invocation-queue/" + inv.id;
  const bool pending = inv.state == "Queued" || inv.state == "Running";
  const int64_t now = clock_.WallMs();
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    etcd::KeyValue kv;
    bool found = false;
    Status s = etcd_.Get(key, &kv, &found);
    if (!s.ok()) return Unavailable(s);
    int64_t created = inv.created_ms != 0 ? inv.created_ms : now;
    if (found) {
      json old = json::parse(kv.value, nullptr, false);
      if (old.is_object()) created = old.value("created_ms", created);
    }
    json j = {{"id", inv.id},
              {"workload", inv.workload},
              {"state", inv.state},
              {"attempts", inv.attempts},
              {"request", B64(inv.request)},
              {"response", B64(inv.response)},
              {"created_ms", created},
              {"updated_ms", now}};
    etcd::TxnResult t;
    const std::vector<etcd::Compare> cmp = {
        etcd::Compare::ModEquals(key, found ? kv.mod_revision : 0)};
    const std::vector<Op> ops = {Op::Put(key, j.dump()),
                                 pending ? Op::Put(queued, "") : Op::Delete(queued)};
    if (as_leader) {
      s = fenced_(cmp, ops, &t);  // kConflict "deposed" / kUnavailable "not the leader" as is
      if (!s.ok()) return s;
    } else {
      s = etcd_.Txn(cmp, ops, {}, &t);
      if (!s.ok()) return Unavailable(s);
    }
    if (t.succeeded) return Status::Ok();
  }
  return Status::Unavailable("store: too many concurrent changes to invocation " + inv.id);
}

namespace {
Invocation InvocationOf(const json& j) {
  Invocation inv;
  inv.id = j.value("id", "");
  inv.workload = j.value("workload", "");
  inv.state = j.value("state", "");
  inv.attempts = j.value("attempts", 0);
  inv.request = UnB64(j, "request");
  inv.response = UnB64(j, "response");
  inv.created_ms = j.value("created_ms", int64_t{0});
  inv.updated_ms = j.value("updated_ms", int64_t{0});
  return inv;
}
}  // namespace

Status EtcdStore::GetInvocation(const std::string& id, Invocation* out) {
  etcd::KeyValue kv;
  bool found = false;
  Status s = etcd_.Get(opts_.prefix + "invocations/" + id, &kv, &found);
  if (!s.ok()) return Unavailable(s);
  json j = found ? json::parse(kv.value, nullptr, false) : json();
  if (!j.is_object()) return Status::NotFound("invocation " + id + " not found");
  *out = InvocationOf(j);
  return Status::Ok();
}

Status EtcdStore::ListInvocations(const std::string& workload, const std::string& state,
                                  std::vector<Invocation>* out) {
  out->clear();
  const std::string p = opts_.prefix + "invocations/";
  etcd::RangeResult r;
  Status s = etcd_.Range(p, etcd::PrefixEnd(p), &r);
  if (!s.ok()) return Unavailable(s);
  for (const auto& kv : r.kvs) {
    json j = json::parse(kv.value, nullptr, false);
    if (!j.is_object()) continue;
    Invocation inv = InvocationOf(j);
    if (!workload.empty() && inv.workload != workload) continue;
    if (!state.empty() && inv.state != state) continue;
    out->push_back(std::move(inv));
  }
  std::stable_sort(out->begin(), out->end(), [](const Invocation& a, const Invocation& b) {
    return a.created_ms != b.created_ms ? a.created_ms < b.created_ms : a.id < b.id;
  });
  return Status::Ok();
}

// ---- members' gateway load ----

Status EtcdStore::PublishLoad(const PublishedLoad& load) {
  if (load.member.empty()) return Status::Invalid("load without member");
  const std::string key = opts_.prefix + "load/" + load.member;
  if (load.workloads.empty()) return Unavailable(etcd_.Delete(key));
  json w = json::object();
  for (const auto& [name, l] : load.workloads) {
    w[name] = json::array({l.inflight, l.queued, l.requests_total});
  }
  return Unavailable(etcd_.Put(key, json{{"at_ms", load.at_ms}, {"workloads", w}}.dump()));
}

Status EtcdStore::ListLoads(std::vector<PublishedLoad>* out) {
  out->clear();
  const std::string p = opts_.prefix + "load/";
  etcd::RangeResult r;
  Status s = etcd_.Range(p, etcd::PrefixEnd(p), &r);
  if (!s.ok()) return Unavailable(s);
  for (const auto& kv : r.kvs) {
    json j = json::parse(kv.value, nullptr, false);
    if (!j.is_object() || !j.contains("workloads") || !j["workloads"].is_object()) continue;
    PublishedLoad l;
    l.member = kv.key.substr(p.size());
    l.at_ms = j.value("at_ms", int64_t{0});
    for (const auto& [name, v] : j["workloads"].items()) {
      if (!v.is_array() || v.size() != 3 || !v[0].is_number_integer() ||
          !v[1].is_number_integer() || !v[2].is_number_unsigned()) {
        continue;
      }
      l.workloads[name] = MemberLoad{v[0].get<int>(), v[1].get<int>(), v[2].get<uint64_t>()};
    }
    out->push_back(std::move(l));
  }
  return Status::Ok();
}

// ---- node credentials ----

Status EtcdStore::PutNodeCredential(const std::string& node, const std::string& digest_hex) {
  if (node.empty() || digest_hex.empty()) return Status::Invalid("node credential without node");
  const std::string key = opts_.prefix + "nodes/" + node + "/credential";
  etcd::TxnResult t;
  Status s = etcd_.Txn({etcd::Compare::Missing(key)}, {Op::Put(key, digest_hex)}, {}, &t);
  if (!s.ok()) return Unavailable(s);
  if (!t.succeeded) return Status::Conflict("node " + node + " already has a credential");
  return Status::Ok();
}

Status EtcdStore::ListNodeCredentials(std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  const std::string p = opts_.prefix + "nodes/";
  etcd::RangeResult r;
  Status s = etcd_.Range(p, etcd::PrefixEnd(p), &r);
  if (!s.ok()) return Unavailable(s);
  const std::string suffix = "/credential";
  for (const auto& kv : r.kvs) {
    std::string rest = kv.key.substr(p.size());
    if (rest.size() <= suffix.size() ||
        rest.compare(rest.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    out->emplace_back(rest.substr(0, rest.size() - suffix.size()), kv.value);
  }
  return Status::Ok();
}

}  // namespace tide
