#include "daemon/store/sqlite_db.h"

namespace tide {

SqliteDb::~SqliteDb() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Status SqliteDb::Open(const std::string& path) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = nullptr;
    return Status::Internal("open store " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  return Status::Ok();
}

Status SqliteDb::Error(int rc, std::string_view what) const {
  std::string msg = std::string(what) + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
    return Status::Unavailable("store busy: " + msg);
  }
  return Status::Internal("store: " + msg);
}

Status SqliteDb::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (err != nullptr) sqlite3_free(err);
  if (rc != SQLITE_OK) return Error(rc, sql);
  return Status::Ok();
}

Status SqliteDb::Prepare(const std::string& sql, SqliteStmt* out) {
  if (out->stmt_ != nullptr) {
    sqlite3_finalize(out->stmt_);
    out->stmt_ = nullptr;
  }
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &out->stmt_, nullptr);
  if (rc != SQLITE_OK) return Error(rc, "prepare " + sql);
  out->db_ = this;
  return Status::Ok();
}

int SqliteDb::Changes() const { return sqlite3_changes(db_); }

int64_t SqliteDb::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

SqliteStmt::~SqliteStmt() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

void SqliteStmt::Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }

void SqliteStmt::Bind(int i, const std::string& v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

void SqliteStmt::BindBlob(int i, const std::string& v) {
  sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

void SqliteStmt::BindNull(int i) { sqlite3_bind_null(stmt_, i); }

void SqliteStmt::Bind(int i, const std::optional<int>& v) {
  if (v) {
    Bind(i, static_cast<int64_t>(*v));
  } else {
    BindNull(i);
  }
}

Status SqliteStmt::Step(bool* row) {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    *row = true;
    return Status::Ok();
  }
  *row = false;
  if (rc == SQLITE_DONE) return Status::Ok();
  return db_->Error(rc, std::string("step ") + sqlite3_sql(stmt_));
}

Status SqliteStmt::Run() {
  bool row = true;
  while (row) {
    Status s = Step(&row);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

void SqliteStmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t SqliteStmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

bool SqliteStmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

std::string SqliteStmt::Text(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr || n <= 0) return std::string();
  return std::string(static_cast<const char*>(p), static_cast<size_t>(n));
}

}  // namespace tide
