// Store repair: `tided --repair` (docs/operations.md "Recovering a damaged store").
//
// RepairStore rebuilds DATA_DIR/tide.db from whatever of a damaged store can still be read, and
// says what it recovered and what was lost. It never edits the damaged files:
//  1. tide.db, tide.db-wal and tide.db-shm are moved (renamed) into DATA_DIR/damaged-STAMP/
//     (STAMP = UTC time, e.g. 20261203T031700Z; mode 0700), where they stay for the operator.
//  2. A working copy of them is made in DATA_DIR/repair-STAMP.tmp/. Its log is rewritten to keep
//     every intact frame of the current generation and leave out the damaged ones (checksums
//     re-chained), so transactions committed after a damaged frame are replayed instead of
//     dropped; a frame's page that a later transaction wrote again loses nothing. A log whose
//     header is damaged cannot be used and is left out whole.
//  3. Every row that can be read from each table of the copy (objects, events, invocations,
//     node credentials) is inserted into a new store with the current schema; an object whose
//     JSON no longer decodes is left out and counted as lost.
//  4. The new store is checked (PRAGMA quick_check) and renamed to DATA_DIR/tide.db; the working
//     copy is removed.
// The report compares the recovered workloads with what a plain start (SQLite replaying the log
// as found) would have kept, so the writes the repair saved are named.
//
// Errors: NotFound when DATA_DIR has no tide.db; Conflict, before anything is moved, while
// another process has the store open (a running tided: SQLite's lock on tide.db-shm says so);
// Internal when a file cannot be moved or the new store cannot be written (the damaged files are
// then still in DATA_DIR/damaged-STAMP/ and the message says so).
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "api/status.h"
#include "daemon/store/wal_check.h"

namespace tide {

struct RepairReport {
  std::string kept_aside;                        // directory holding the damaged files
  WalReport wal;                                 // the log as found
  bool wal_used = false;                         // false: no log, or its header was damaged
  std::vector<std::string> skipped_frames;       // "frame N (page P)", damaged frames left out
  std::map<std::string, int64_t> rows;           // table -> rows recovered
  std::map<std::string, std::string> lost;       // table -> what could not be read
  std::vector<std::string> workloads;            // names recovered (Services and Functions)
  std::vector<std::string> saved_beyond_replay;  // ... that a plain start would have dropped
  std::vector<std::string> missing_from_replay;  // in a plain start, not recovered
  std::string quick_check;                       // of the new store: "ok" or the problems
  // The human report tided --repair prints, several lines.
  std::string Text() const;
};

// `wall_ms` names the damaged-files directory (the caller's clock).
Status RepairStore(const std::string& data_dir, int64_t wall_ms, RepairReport* out);

// tided --repair: runs RepairStore on DATA_DIR and prints its report to `out` (errors to `err`).
// Returns the process exit code: 0 when the new store is in place and passes PRAGMA quick_check,
// 1 otherwise. tided then exits: the operator reads the report before serving from the store.
int RunRepair(const std::string& data_dir, int64_t wall_ms, std::ostream& out, std::ostream& err);

// Rewrites the WAL `in` to `out`, keeping only the intact frames of its current generation,
// their checksums re-chained. *skipped gets "frame N (page P)" for each damaged frame left out.
// Invalid when `in` has no usable header. Exposed for tests.
Status HealWal(const std::string& in, const std::string& out, std::vector<std::string>* skipped);

}  // namespace tide
