// Store: ImportObjects (object_store.h, migrate.h): an export file's objects written as they are,
// in one SQLite transaction.
#include "api/json.h"
#include "daemon/store/apply_plan.h"
#include "daemon/store/store.h"

namespace tide {

Status Store::ImportObjects(const std::vector<StoredObject>& objs, bool replace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Status st = db_.Exec("BEGIN IMMEDIATE");
    if (!st.ok()) return st;
    auto write = [&]() -> Status {
      SqliteStmt count;
      Status s = db_.Prepare("SELECT COUNT(*) FROM objects", &count);
      bool row = false;
      if (s.ok()) s = count.Step(&row);
      if (!s.ok()) return s;
      const int64_t held = row ? count.Int(0) : 0;
      if (held > 0 && !replace) {
        return Status::Conflict("import: the target store already holds " + std::to_string(held) +
                                " workload(s) and layer(s); --import-replace replaces them");
      }
      if (held > 0 && !(s = db_.Exec("DELETE FROM objects")).ok()) return s;
      for (const auto& so : objs) {
        SqliteStmt ins;
        s = db_.Prepare(
            "INSERT INTO objects (ns, name, kind, json, generation, created_ms, updated_ms, "
            "scale_replicas) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &ins);
        if (!s.ok()) return s;
        ins.Bind(1, std::string(StoreNamespace(so.object.kind)));
        ins.Bind(2, so.object.metadata.name);
        ins.Bind(3, std::string(KindName(so.object.kind)));
        ins.Bind(4, json(so.object).dump());
        ins.Bind(5, so.generation);
        ins.Bind(6, so.created_ms);
        ins.Bind(7, so.updated_ms);
        ins.Bind(8, so.scale_replicas);
        if (!(s = ins.Run()).ok()) return s;
      }
      return Status::Ok();
    };
    st = write();
    if (st.ok()) st = db_.Exec("COMMIT");
    if (!st.ok()) {
      db_.Exec("ROLLBACK");
      return st;
    }
    ++revision_;
  }
  NotifyChanged();
  return Status::Ok();
}

}  // namespace tide
