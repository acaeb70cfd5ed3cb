#include "daemon/store/store.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "api/json.h"
#include "daemon/store/apply_plan.h"
#include "daemon/store/wal_check.h"

namespace tide {
namespace {

constexpr int64_t kSchemaVersion = 2;

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE objects (
  ns TEXT NOT NULL,              -- 'workload' (Service, Function) or 'layer'
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  json TEXT NOT NULL,            -- canonical JSON of the tide::Object
  generation INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  scale_replicas INTEGER,        -- PUT scale override, NULL when none
  PRIMARY KEY (ns, name)
);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  type TEXT NOT NULL,
  reason TEXT NOT NULL,
  object TEXT NOT NULL,
  workload TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX events_by_workload ON events (workload, id);
CREATE TABLE invocations (
  id TEXT PRIMARY KEY,
  workload TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  request BLOB NOT NULL,
  response BLOB NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE INDEX invocations_by_workload_state ON invocations (workload, state, created_ms);
)sql";

// v2: node credentials (docs/api.md "Node identity"). Only a SHA-256 digest of each credential is
// kept.
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE node_credentials (
  node TEXT PRIMARY KEY,
  digest TEXT NOT NULL,          -- hex SHA-256 of the credential
  created_ms INTEGER NOT NULL
);
)sql";

const char* Namespace(Kind k) { return StoreNamespace(k); }

// Parses a stored row's JSON back into an Object; stored JSON is our own output.
Status ParseObject(const std::string& text, Object* out) {
  try {
    *out = json::parse(text).get<Object>();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("store: corrupt object JSON: ") + e.what());
  }
  return Status::Ok();
}

// Rolls back an open transaction unless Commit() was called.
class TxnGuard {
 public:
  explicit TxnGuard(SqliteDb& db) : db_(db) {}
  ~TxnGuard() {
    if (open_) db_.Exec("ROLLBACK");
  }
  Status Begin() {
    Status s = db_.Exec("BEGIN IMMEDIATE");
    open_ = s.ok();
    return s;
  }
  Status Commit() {
    Status s = db_.Exec("COMMIT");
    if (s.ok()) open_ = false;
    return s;
  }
  void Rollback() {
    if (open_) db_.Exec("ROLLBACK");
    open_ = false;
  }

 private:
  SqliteDb& db_;
  bool open_ = false;
};

#define TIDE_RETURN_IF_ERROR(expr) \
  do {                             \
    Status _s = (expr);            \
    if (!_s.ok()) return _s;       \
  } while (0)

}  // namespace

Store::Store(Clock& clock, Options opts) : clock_(clock), opts_(opts) {}

Store::~Store() = default;

Status Store::Open(const std::string& data_dir, Clock& clock, std::unique_ptr<Store>* out) {
  return Open(data_dir, clock, Options{}, out);
}

Status Store::Open(const std::string& data_dir, Clock& clock, Options opts,
                   std::unique_ptr<Store>* out) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Status::Internal("create data dir " + data_dir + ": " + ec.message());
  std::unique_ptr<Store> s(new Store(clock, opts));
  TIDE_RETURN_IF_ERROR(s->Init((std::filesystem::path(data_dir) / "tide.db").string()));
  *out = std::move(s);
  return Status::Ok();
}

Status Store::Init(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  TIDE_RETURN_IF_ERROR(CheckWal(path + "-wal"));  // before SQLite replays (and trims) the log
  TIDE_RETURN_IF_ERROR(db_.Open(path));
  sqlite3_busy_timeout(db_.raw(), 5000);
  TIDE_RETURN_IF_ERROR(QuickCheck(path));
  {  // journal_mode answers a row; check that WAL was really granted.
    SqliteStmt st;
    TIDE_RETURN_IF_ERROR(db_.Prepare("PRAGMA journal_mode=WAL", &st));
    bool row = false;
    TIDE_RETURN_IF_ERROR(st.Step(&row));
    if (!row || st.Text(0) != "wal") {
      return Status::Internal("store " + path + ": could not switch to WAL journal mode");
    }
  }
  TIDE_RETURN_IF_ERROR(db_.Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return Migrate();
}

Status Store::QuickCheck(const std::string& path) {
  // Refuse a damaged store rather than serve (and later overwrite) what is left of it.
  std::vector<std::string> problems;
  SqliteStmt st;
  Status s = db_.Prepare("PRAGMA quick_check", &st);
  bool row = true;
  while (s.ok()) {
    s = st.Step(&row);
    if (!s.ok() || !row) break;
    if (problems.size() < 3) problems.push_back(st.Text(0));
  }
  if (!s.ok()) problems.push_back(s.message());
  if (problems.size() == 1 && problems[0] == "ok") return Status::Ok();
  std::string what;
  for (const auto& p : problems) what += (what.empty() ? "" : "; ") + p;
  if (problems.empty()) what = "no answer";
  return Status::Internal("store " + path + " is damaged (PRAGMA quick_check: " + what +
                          "); tided will not start on it. Restore the data dir from a backup, "
                          "or move tide.db, tide.db-wal and tide.db-shm aside to start empty "
                          "(agents re-register their running instances)");
}

Status Store::Migrate() {
  TxnGuard txn(db_);
  TIDE_RETURN_IF_ERROR(txn.Begin());
  TIDE_RETURN_IF_ERROR(
      db_.Exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"));
  int64_t version = 0;
  {
    SqliteStmt st;
    TIDE_RETURN_IF_ERROR(db_.Prepare("SELECT value FROM meta WHERE key = 'schema_version'", &st));
    bool row = false;
    TIDE_RETURN_IF_ERROR(st.Step(&row));
    if (row) {
      try {
        version = std::stoll(st.Text(0));
      } catch (const std::exception&) {
        return Status::Internal("store: unreadable schema_version '" + st.Text(0) + "'");
      }
    }
  }
  if (version > kSchemaVersion) {
    return Status::Internal("store schema version " + std::to_string(version) +
                            " is newer than this tided understands (" +
                            std::to_string(kSchemaVersion) + "); upgrade tided");
  }
  if (version < 1) {
    TIDE_RETURN_IF_ERROR(db_.Exec(kSchemaV1));
  }
  if (version < 2) {
    TIDE_RETURN_IF_ERROR(db_.Exec(kSchemaV2));
  }
  TIDE_RETURN_IF_ERROR(CreateSecretsTableLocked());  // IF NOT EXISTS: no version needed
  // Future migrations: if (version < 3) { ... }
  if (version != kSchemaVersion) {
    SqliteStmt put;
    TIDE_RETURN_IF_ERROR(db_.Prepare(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)", &put));
    put.Bind(1, std::to_string(kSchemaVersion));
    TIDE_RETURN_IF_ERROR(put.Run());
  }
  return txn.Commit();
}

// ---- objects ----------------------------------------------------------------------------

Status Store::GetLocked(const std::string& ns, const std::string& name, StoredObject* out,
                        bool* found) {
  SqliteStmt st;
  TIDE_RETURN_IF_ERROR(
      db_.Prepare("SELECT json, generation, created_ms, updated_ms, scale_replicas FROM objects "
                  "WHERE ns = ?1 AND name = ?2",
                  &st));
  st.Bind(1, ns);
  st.Bind(2, name);
  bool row = false;
  TIDE_RETURN_IF_ERROR(st.Step(&row));
  *found = row;
  if (!row) return Status::Ok();
  TIDE_RETURN_IF_ERROR(ParseObject(st.Text(0), &out->object));
  out->generation = st.Int(1);
  out->created_ms = st.Int(2);
  out->updated_ms = st.Int(3);
  out->scale_replicas.reset();
  if (!st.IsNull(4)) out->scale_replicas = static_cast<int>(st.Int(4));
  return Status::Ok();
}

Status Store::ListLocked(const std::string& ns, std::vector<StoredObject>* out) {
  out->clear();
  SqliteStmt st;
  TIDE_RETURN_IF_ERROR(
      db_.Prepare("SELECT json, generation, created_ms, updated_ms, scale_replicas FROM objects "
                  "WHERE ns = ?1 ORDER BY name",
                  &st));
  st.Bind(1, ns);
  for (;;) {
    bool row = false;
    TIDE_RETURN_IF_ERROR(st.Step(&row));
    if (!row) break;
    StoredObject so;
    TIDE_RETURN_IF_ERROR(ParseObject(st.Text(0), &so.object));
    so.generation = st.Int(1);
    so.created_ms = st.Int(2);
    so.updated_ms = st.Int(3);
    if (!st.IsNull(4)) so.scale_replicas = static_cast<int>(st.Int(4));
    out->push_back(std::move(so));
  }
  return Status::Ok();
}

Status Store::ApplyLocked(const std::vector<Object>& objs, std::vector<ApplyResult>* out,
                          bool* changed) {
  TIDE_RETURN_IF_ERROR(CheckApplyBatch(objs));
  const int64_t now = clock_.WallMs();
  std::set<std::string> changed_secrets;
  for (const auto& o : objs) {
    if (o.kind == Kind::kSecret) {  // store_secrets.cc
      TIDE_RETURN_IF_ERROR(ApplySecretLocked(o, now, out, &changed_secrets, changed));
      continue;
    }
    const std::string ns = Namespace(o.kind);
    StoredObject old;
    bool found = false;
    TIDE_RETURN_IF_ERROR(GetLocked(ns, o.metadata.name, &old, &found));
    PlannedWrite w = PlanObject(o, found ? &old : nullptr);
    if (w.result.action == "unchanged") {
      out->push_back(std::move(w.result));
      continue;
    }
    *changed = true;
    if (!found) {
      SqliteStmt ins;
      TIDE_RETURN_IF_ERROR(db_.Prepare(
          "INSERT INTO objects (ns, name, kind, json, generation, created_ms, updated_ms, "
          "scale_replicas) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5, NULL)",
          &ins));
      ins.Bind(1, ns);
      ins.Bind(2, o.metadata.name);
      ins.Bind(3, std::string(KindName(o.kind)));
      ins.Bind(4, w.canonical);
      ins.Bind(5, now);
      TIDE_RETURN_IF_ERROR(ins.Run());
      out->push_back(std::move(w.result));
      continue;
    }
    SqliteStmt up;
    TIDE_RETURN_IF_ERROR(
        db_.Prepare("UPDATE objects SET kind = ?3, json = ?4, generation = ?5, updated_ms = ?6, "
                    "scale_replicas = CASE WHEN ?7 THEN NULL ELSE scale_replicas END "
                    "WHERE ns = ?1 AND name = ?2",
                    &up));
    up.Bind(1, ns);
    up.Bind(2, o.metadata.name);
    up.Bind(3, std::string(KindName(o.kind)));
    up.Bind(4, w.canonical);
    up.Bind(5, w.result.generation);
    up.Bind(6, now);
    up.Bind(7, static_cast<int64_t>(w.clear_scale ? 1 : 0));
    TIDE_RETURN_IF_ERROR(up.Run());
    out->push_back(std::move(w.result));
  }
  TIDE_RETURN_IF_ERROR(BumpSecretUsersLocked(changed_secrets, *out, now));
  return CheckLayerRefsLocked();
}

Status Store::CheckLayerRefsLocked() {
  std::vector<StoredObject> layers, workloads;
  TIDE_RETURN_IF_ERROR(ListLocked("layer", &layers));
  TIDE_RETURN_IF_ERROR(ListLocked("workload", &workloads));
  return CheckLayerRefs(layers, workloads);
}

Status Store::Apply(const std::vector<Object>& objs, bool dry_run, std::vector<ApplyResult>* out) {
  out->clear();
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    TxnGuard txn(db_);
    TIDE_RETURN_IF_ERROR(txn.Begin());
    Status s = ApplyLocked(objs, out, &changed);
    if (!s.ok()) {
      out->clear();
      return s;  // txn rolls back
    }
    if (dry_run) {
      txn.Rollback();
      return Status::Ok();
    }
    s = txn.Commit();
    if (!s.ok()) {
      out->clear();
      return s;
    }
    if (changed) ++revision_;
  }
  if (changed) NotifyChanged();
  return Status::Ok();
}

Status Store::Get(const std::string& name, StoredObject* out) {
  std::lock_guard<std::mutex> lock(mu_);
  bool found = false;
  TIDE_RETURN_IF_ERROR(GetLocked("workload", name, out, &found));
  if (!found) return Status::NotFound("workload " + name + " not found");
  return Status::Ok();
}

Status Store::GetLayer(const std::string& name, StoredObject* out) {
  std::lock_guard<std::mutex> lock(mu_);
  bool found = false;
  TIDE_RETURN_IF_ERROR(GetLocked("layer", name, out, &found));
  if (!found) return Status::NotFound("layer " + name + " not found");
  return Status::Ok();
}

Status Store::List(std::optional<Kind> kind, std::vector<StoredObject>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  TIDE_RETURN_IF_ERROR(ListLocked(kind ? Namespace(*kind) : "workload", out));
  if (kind && *kind != Kind::kLayer) {
    std::erase_if(*out, [&](const StoredObject& so) { return so.object.kind != *kind; });
  }
  return Status::Ok();
}

Status Store::Delete(const std::string& name, StoredObject* deleted) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    TxnGuard txn(db_);
    TIDE_RETURN_IF_ERROR(txn.Begin());
    StoredObject old;
    bool found = false;
    TIDE_RETURN_IF_ERROR(GetLocked("workload", name, &old, &found));
    if (!found) return Status::NotFound("workload " + name + " not found");
    SqliteStmt del;
    TIDE_RETURN_IF_ERROR(
        db_.Prepare("DELETE FROM objects WHERE ns = 'workload' AND name = ?1", &del));
    del.Bind(1, name);
    TIDE_RETURN_IF_ERROR(del.Run());
    TIDE_RETURN_IF_ERROR(txn.Commit());
    if (deleted != nullptr) *deleted = std::move(old);
    ++revision_;
  }
  NotifyChanged();
  return Status::Ok();
}

Status Store::DeleteLayer(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    TxnGuard txn(db_);
    TIDE_RETURN_IF_ERROR(txn.Begin());
    StoredObject old;
    bool found = false;
    TIDE_RETURN_IF_ERROR(GetLocked("layer", name, &old, &found));
    if (!found) return Status::NotFound("layer " + name + " not found");
    std::vector<StoredObject> workloads;
    TIDE_RETURN_IF_ERROR(ListLocked("workload", &workloads));
    for (const auto& w : workloads) {
      const auto& refs = w.object.spec.layers;
      if (std::find(refs.begin(), refs.end(), name) != refs.end()) {
        return Status::Conflict("layer " + name + " is still used by workload " +
                                w.object.metadata.name);
      }
    }
    SqliteStmt del;
    TIDE_RETURN_IF_ERROR(db_.Prepare("DELETE FROM objects WHERE ns = 'layer' AND name = ?1", &del));
    del.Bind(1, name);
    TIDE_RETURN_IF_ERROR(del.Run());
    TIDE_RETURN_IF_ERROR(txn.Commit());
    ++revision_;
  }
  NotifyChanged();
  return Status::Ok();
}

Status Store::SetScale(const std::string& name, int replicas) {
  if (replicas < 0)
    return Status::Invalid("replicas must be >= 0, got " + std::to_string(replicas));
  {
    std::lock_guard<std::mutex> lock(mu_);
    SqliteStmt up;
    TIDE_RETURN_IF_ERROR(
        db_.Prepare("UPDATE objects SET scale_replicas = ?2, updated_ms = ?3 "
                    "WHERE ns = 'workload' AND name = ?1",
                    &up));
    up.Bind(1, name);
    up.Bind(2, static_cast<int64_t>(replicas));
    up.Bind(3, clock_.WallMs());
    TIDE_RETURN_IF_ERROR(up.Run());
    if (db_.Changes() == 0) return Status::NotFound("workload " + name + " not found");
    ++revision_;
  }
  NotifyChanged();
  return Status::Ok();
}

int64_t Store::Revision() const {
  std::lock_guard<std::mutex> lock(mu_);
  return revision_;
}

void Store::SetChangeListener(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  on_change_ = std::move(fn);
}

void Store::NotifyChanged() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn = on_change_;
  }
  if (fn) fn();
}

// ---- events -----------------------------------------------------------------------------

Status Store::AppendEvent(Event e, int64_t* id) {
  std::vector<Event> one{std::move(e)};
  return AppendEvents(std::move(one), id);
}

Status Store::AppendEvents(std::vector<Event> events, int64_t* last_id) {
  if (events.empty()) return Status::Ok();
  const int64_t now = clock_.WallMs();
  std::lock_guard<std::mutex> lock(mu_);
  // Events do not need an fsync each: the next FULL commit or checkpoint makes them durable.
  TIDE_RETURN_IF_ERROR(db_.Exec("PRAGMA synchronous=NORMAL"));
  Status result = [&]() -> Status {
    TxnGuard txn(db_);
    TIDE_RETURN_IF_ERROR(txn.Begin());
    SqliteStmt ins;
    TIDE_RETURN_IF_ERROR(
        db_.Prepare("INSERT INTO events (time_ms, type, reason, object, workload, message) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    &ins));
    int64_t new_id = 0;
    for (const Event& e : events) {
      ins.Reset();
      ins.Bind(1, e.time_ms == 0 ? now : e.time_ms);
      ins.Bind(2, e.type);
      ins.Bind(3, e.reason);
      ins.Bind(4, e.object);
      ins.Bind(5, e.workload);
      ins.Bind(6, e.message);
      TIDE_RETURN_IF_ERROR(ins.Run());
      new_id = db_.LastInsertRowId();
    }
    // Ids only grow (AUTOINCREMENT), so keeping the newest N is one indexed range delete.
    if (new_id > opts_.max_events) {
      SqliteStmt prune;
      TIDE_RETURN_IF_ERROR(db_.Prepare("DELETE FROM events WHERE id <= ?1", &prune));
      prune.Bind(1, new_id - opts_.max_events);
      TIDE_RETURN_IF_ERROR(prune.Run());
    }
    TIDE_RETURN_IF_ERROR(txn.Commit());
    if (last_id != nullptr) *last_id = new_id;
    return Status::Ok();
  }();
  Status restore = db_.Exec("PRAGMA synchronous=FULL");
  if (!result.ok()) return result;
  return restore;
}

Status Store::ListEvents(const std::string& workload, int64_t since_ms, int limit,
                         std::vector<Event>* out) {
  out->clear();
  std::lock_guard<std::mutex> lock(mu_);
  SqliteStmt st;
  TIDE_RETURN_IF_ERROR(
      db_.Prepare("SELECT id, time_ms, type, reason, object, workload, message FROM events "
                  "WHERE (?1 = '' OR workload = ?1) AND time_ms >= ?2 ORDER BY id DESC LIMIT ?3",
                  &st));
  st.Bind(1, workload);
  st.Bind(2, since_ms);
  st.Bind(3, static_cast<int64_t>(limit > 0 ? limit : -1));
  for (;;) {
    bool row = false;
    TIDE_RETURN_IF_ERROR(st.Step(&row));
    if (!row) break;
    Event e;
    e.id = st.Int(0);
    e.time_ms = st.Int(1);
    e.type = st.Text(2);
    e.reason = st.Text(3);
    e.object = st.Text(4);
    e.workload = st.Text(5);
    e.message = st.Text(6);
    out->push_back(std::move(e));
  }
  std::reverse(out->begin(), out->end());
  return Status::Ok();
}

// ---- invocations ------------------------------------------------------------------------

namespace {

void ReadInvocation(const SqliteStmt& st, Invocation* inv) {
  inv->id = st.Text(0);
  inv->workload = st.Text(1);
  inv->state = st.Text(2);
  inv->attempts = static_cast<int>(st.Int(3));
  inv->request = st.Text(4);
  inv->response = st.Text(5);
  inv->created_ms = st.Int(6);
  inv->updated_ms = st.Int(7);
}

constexpr const char* kInvocationColumns =
    "SELECT id, workload, state, attempts, request, response, created_ms, updated_ms "
    "FROM invocations ";

}  // namespace

Status Store::PutInvocation(const Invocation& inv) {
  if (inv.id.empty()) return Status::Invalid("invocation without id");
  const int64_t now = clock_.WallMs();
  std::lock_guard<std::mutex> lock(mu_);
  SqliteStmt st;
  TIDE_RETURN_IF_ERROR(db_.Prepare(
      "INSERT INTO invocations (id, workload, state, attempts, request, response, created_ms, "
      "updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
      "ON CONFLICT (id) DO UPDATE SET workload = excluded.workload, state = excluded.state, "
      "attempts = excluded.attempts, request = excluded.request, "
      "response = excluded.response, updated_ms = excluded.updated_ms",
      &st));
  st.Bind(1, inv.id);
  st.Bind(2, inv.workload);
  st.Bind(3, inv.state);
  st.Bind(4, static_cast<int64_t>(inv.attempts));
  st.BindBlob(5, inv.request);
  st.BindBlob(6, inv.response);
  st.Bind(7, inv.created_ms != 0 ? inv.created_ms : now);
  st.Bind(8, now);
  return st.Run();
}

Status Store::GetInvocation(const std::string& id, Invocation* out) {
  std::lock_guard<std::mutex> lock(mu_);
  SqliteStmt st;
  TIDE_RETURN_IF_ERROR(db_.Prepare(std::string(kInvocationColumns) + "WHERE id = ?1", &st));
  st.Bind(1, id);
  bool row = false;
  TIDE_RETURN_IF_ERROR(st.Step(&row));
  if (!row) return Status::NotFound("invocation " + id + " not found");
  ReadInvocation(st, out);
  return Status::Ok();
}

Status Store::ListInvocations(const std::string& workload, const std::string& state,
                              std::vector<Invocation>* out) {
  out->clear();
  std::lock_guard<std::mutex> lock(mu_);
  SqliteStmt st;
  TIDE_RETURN_IF_ERROR(db_.Prepare(std::string(kInvocationColumns) +
                                       "WHERE (?1 = '' OR workload = ?1) AND "
                                       "(?2 = '' OR state = ?2) ORDER BY created_ms, id",
                                   &st));
  st.Bind(1, workload);
  st.Bind(2, state);
  for (;;) {
    bool row = false;
    TIDE_RETURN_IF_ERROR(st.Step(&row));
    if (!row) break;
    Invocation inv;
    ReadInvocation(st, &inv);
    out->push_back(std::move(inv));
  }
  return Status::Ok();
}

// ---- node credentials ----------------------------------------------------------------------

Status Store::PutNodeCredential(const std::string& node, const std::string& digest_hex) {
  if (node.empty() || digest_hex.empty()) return Status::Invalid("node credential without node");
  std::lock_guard<std::mutex> lock(mu_);
  SqliteStmt st;
  TIDE_RETURN_IF_ERROR(
      db_.Prepare("INSERT INTO node_credentials (node, digest, created_ms) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT (node) DO NOTHING",
                  &st));
  st.Bind(1, node);
  st.Bind(2, digest_hex);
  st.Bind(3, clock_.WallMs());
  TIDE_RETURN_IF_ERROR(st.Run());
  if (sqlite3_changes(db_.raw()) == 0) {
    return Status::Conflict("node " + node + " already has a credential");
  }
  return Status::Ok();
}

Status Store::ListNodeCredentials(std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  std::lock_guard<std::mutex> lock(mu_);
  SqliteStmt st;
  TIDE_RETURN_IF_ERROR(db_.Prepare("SELECT node, digest FROM node_credentials ORDER BY node", &st));
  for (;;) {
    bool row = false;
    TIDE_RETURN_IF_ERROR(st.Step(&row));
    if (!row) break;
    out->emplace_back(st.Text(0), st.Text(1));
  }
  return Status::Ok();
}

}  // namespace tide
