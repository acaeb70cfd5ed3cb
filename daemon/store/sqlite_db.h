// Small RAII wrappers over the SQLite C API, used only by daemon/store/store.cc.
// SqliteDb owns one connection (closed in its destructor); SqliteStmt owns one prepared
// statement (finalized in its destructor). Neither is thread-safe: the owner (Store)
// serializes all use of a connection with its own mutex. Errors come back as tide::Status
// naming the SQL that failed; SQLITE_BUSY maps to Unavailable, everything else to Internal.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/status.h"

namespace tide {

class SqliteStmt;

class SqliteDb {
 public:
  SqliteDb() = default;
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Opens (creating if missing) the database file at `path`.
  Status Open(const std::string& path);
  // Runs one or more statements that return no rows we need.
  Status Exec(const std::string& sql);
  // Prepares one statement into *out.
  Status Prepare(const std::string& sql, SqliteStmt* out);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int Changes() const;
  int64_t LastInsertRowId() const;
  // Status for the connection's last error, prefixed with `what`.
  Status Error(int rc, std::string_view what) const;
  sqlite3* raw() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStmt {
 public:
  SqliteStmt() = default;
  ~SqliteStmt();
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;

  // Binding: indexes start at 1, as in SQLite. Text and blobs are copied (SQLITE_TRANSIENT).
  void Bind(int i, int64_t v);
  void Bind(int i, const std::string& v);
  void BindBlob(int i, const std::string& v);
  void BindNull(int i);
  void Bind(int i, const std::optional<int>& v);

  // Steps once: *row is true when a row is available, false when done.
  Status Step(bool* row);
  // Steps to completion, for statements that return no rows.
  Status Run();
  // Makes the statement runnable again with new bindings.
  void Reset();

  int64_t Int(int col) const;
  bool IsNull(int col) const;
  std::string Text(int col) const;  // also reads blobs, byte-exact

 private:
  friend class SqliteDb;
  const SqliteDb* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace tide
