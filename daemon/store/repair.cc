#include "daemon/store/repair.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>

#include "api/clock.h"
#include "api/json.h"
#include "daemon/store/store.h"

namespace tide {
namespace {

namespace fs = std::filesystem;

constexpr size_t kHeaderSize = 32;
constexpr size_t kFrameHeaderSize = 24;
constexpr const char* kTables[] = {"objects", "events", "invocations", "node_credentials"};

uint32_t Be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void PutBe32(unsigned char* p, uint32_t v) {
  p[0] = static_cast<unsigned char>(v >> 24);
  p[1] = static_cast<unsigned char>(v >> 16);
  p[2] = static_cast<unsigned char>(v >> 8);
  p[3] = static_cast<unsigned char>(v);
}

std::string Stamp(int64_t wall_ms) {
  std::time_t t = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

void SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// One raw connection, closed on scope exit.
struct Db {
  sqlite3* db = nullptr;
  ~Db() {
    if (db != nullptr) sqlite3_close_v2(db);
  }
  Status Open(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      return Status::Internal("open " + path + ": " + (db ? sqlite3_errmsg(db) : "no memory"));
    }
    return Status::Ok();
  }
  Status Exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string msg = err ? err : "";
    sqlite3_free(err);
    if (rc != SQLITE_OK) return Status::Internal(sql + ": " + msg);
    return Status::Ok();
  }
};

struct Stmt {
  sqlite3_stmt* st = nullptr;
  ~Stmt() {
    if (st != nullptr) sqlite3_finalize(st);
  }
  bool Prepare(sqlite3* db, const std::string& sql) {
    return sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK;
  }
};

// Workload names as SQLite reads them from DIR/tide.db (with its log as found).
Status WorkloadNames(const std::string& path, std::set<std::string>* out) {
  Db db;
  if (Status s = db.Open(path); !s.ok()) return s;
  Stmt st;
  if (!st.Prepare(db.db, "SELECT name FROM objects WHERE ns = 'workload'")) {
    return Status::Internal(sqlite3_errmsg(db.db));
  }
  int rc;
  while ((rc = sqlite3_step(st.st)) == SQLITE_ROW) {
    out->insert(reinterpret_cast<const char*>(sqlite3_column_text(st.st, 0)));
  }
  if (rc != SQLITE_DONE) return Status::Internal(sqlite3_errmsg(db.db));
  return Status::Ok();
}

// Copies every readable row of `table` from old.T into main.T (same column names).
void CopyTable(Db& db, const std::string& table, RepairReport* r) {
  std::vector<std::string> cols;
  {
    Stmt info;
    if (info.Prepare(db.db, "PRAGMA main.table_info(" + table + ")")) {
      while (sqlite3_step(info.st) == SQLITE_ROW) {
        cols.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(info.st, 1)));
      }
    }
  }
  std::string list, marks;
  int json_col = -1;
  for (size_t i = 0; i < cols.size(); ++i) {
    list += (i ? ", " : "") + cols[i];
    marks += i ? ", ?" : "?";
    if (table == "objects" && cols[i] == "json") json_col = static_cast<int>(i);
  }
  Stmt sel, ins;
  if (!sel.Prepare(db.db, "SELECT " + list + " FROM old." + table)) {
    r->lost[table] = std::string("unreadable: ") + sqlite3_errmsg(db.db);
    return;
  }
  if (!ins.Prepare(db.db, "INSERT OR REPLACE INTO main." + table + " (" + list + ") VALUES (" +
                              marks + ")")) {
    r->lost[table] = std::string("cannot write: ") + sqlite3_errmsg(db.db);
    return;
  }
  int64_t copied = 0, undecodable = 0;
  int rc;
  while ((rc = sqlite3_step(sel.st)) == SQLITE_ROW) {
    if (json_col >= 0) {
      const void* p = sqlite3_column_blob(sel.st, json_col);
      std::string text(p ? static_cast<const char*>(p) : "",
                       static_cast<size_t>(sqlite3_column_bytes(sel.st, json_col)));
      try {
        (void)json::parse(text).get<Object>();
      } catch (const std::exception&) {
        ++undecodable;
        continue;
      }
    }
    for (size_t i = 0; i < cols.size(); ++i) {
      sqlite3_bind_value(ins.st, static_cast<int>(i + 1),
                         sqlite3_column_value(sel.st, static_cast<int>(i)));
    }
    const int irc = sqlite3_step(ins.st);
    sqlite3_reset(ins.st);
    if (irc != SQLITE_DONE) {
      r->lost[table] = std::string("cannot write: ") + sqlite3_errmsg(db.db);
      break;
    }
    ++copied;
  }
  r->rows[table] = copied;
  if (rc != SQLITE_DONE) {
    r->lost[table] = "reading stopped after " + std::to_string(copied + undecodable) +
                     " row(s): " + sqlite3_errmsg(db.db);
  }
  if (undecodable > 0) {
    std::string& l = r->lost[table];
    l += (l.empty() ? "" : "; ") + std::to_string(undecodable) + " object(s) with damaged JSON";
  }
}

// The pid of another process connected to the database: every SQLite connection in WAL mode
// holds a shared lock on the "DMS" byte of the -shm file (offset 128) while it is open, and the
// lock goes with the process (kill -9 included). 0 when nobody holds it or there is no -shm.
int ShmHolder(const std::string& shm) {
  int fd = ::open(shm.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 128;
  fl.l_len = 1;
  int pid = 0;
  if (::fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) pid = fl.l_pid > 0 ? fl.l_pid : -1;
  ::close(fd);
  return pid;
}

Status QuickCheck(const std::string& path, std::string* answer) {
  Db db;
  if (Status s = db.Open(path); !s.ok()) return s;
  Stmt st;
  if (!st.Prepare(db.db, "PRAGMA quick_check")) return Status::Internal(sqlite3_errmsg(db.db));
  answer->clear();
  while (sqlite3_step(st.st) == SQLITE_ROW) {
    *answer += (answer->empty() ? "" : "; ") +
               std::string(reinterpret_cast<const char*>(sqlite3_column_text(st.st, 0)));
  }
  return Status::Ok();
}

}  // namespace

Status HealWal(const std::string& in, const std::string& out, std::vector<std::string>* skipped) {
  WalReport r;
  Status check = CheckWal(in, &r);
  if (!r.present || r.header_damaged) return Status::Invalid("WAL " + in + ": no usable header");
  std::ifstream f(in, std::ios::binary);
  std::vector<unsigned char> buf((std::istreambuf_iterator<char>(f)),
                                 std::istreambuf_iterator<char>());
  const bool be = Be32(buf.data()) == 0x377f0683;
  const size_t page = r.page_size;
  const size_t frame_size = kFrameHeaderSize + page;
  const uint32_t salt1 = Be32(buf.data() + 16), salt2 = Be32(buf.data() + 20);
  std::vector<unsigned char> healed(buf.begin(), buf.begin() + kHeaderSize);
  uint32_t prev[2] = {Be32(buf.data() + 24), Be32(buf.data() + 28)};
  uint32_t chain[2] = {prev[0], prev[1]};
  for (int64_t i = 0; i < r.frames; ++i) {
    const unsigned char* fr = buf.data() + kHeaderSize + static_cast<size_t>(i) * frame_size;
    const uint32_t pgno = Be32(fr);
    const bool salts = Be32(fr + 8) == salt1 && Be32(fr + 12) == salt2;
    uint32_t sum[2] = {prev[0], prev[1]};
    WalChecksum(fr, 8, be, sum);
    WalChecksum(fr + kFrameHeaderSize, page, be, sum);
    prev[0] = Be32(fr + 16);
    prev[1] = Be32(fr + 20);
    if (!salts) continue;  // an earlier generation's frame: never part of this log
    if (pgno == 0 || sum[0] != prev[0] || sum[1] != prev[1]) {
      if (skipped) {
        skipped->push_back("frame " + std::to_string(i + 1) + " (page " + std::to_string(pgno) +
                           ")");
      }
      continue;
    }
    const size_t at = healed.size();
    healed.insert(healed.end(), fr, fr + frame_size);
    WalChecksum(healed.data() + at, 8, be, chain);
    WalChecksum(healed.data() + at + kFrameHeaderSize, page, be, chain);
    PutBe32(healed.data() + at + 16, chain[0]);
    PutBe32(healed.data() + at + 20, chain[1]);
  }
  std::ofstream o(out, std::ios::binary | std::ios::trunc);
  o.write(reinterpret_cast<const char*>(healed.data()),
          static_cast<std::streamsize>(healed.size()));
  o.close();
  if (!o) return Status::Internal("write " + out);
  (void)check;
  return Status::Ok();
}

Status RepairStore(const std::string& data_dir, int64_t wall_ms, RepairReport* out) {
  RepairReport& r = *out;
  r = RepairReport{};
  const fs::path dir(data_dir);
  const fs::path db = dir / "tide.db";
  std::error_code ec;
  if (!fs::exists(db, ec)) return Status::NotFound("no store to repair: " + db.string());
  if (int pid = ShmHolder((dir / "tide.db-shm").string()); pid != 0) {
    return Status::Conflict("the store is open in process " + std::to_string(pid) +
                            " (a running tided?): stop it before --repair; nothing was changed");
  }
  const std::string stamp = Stamp(wall_ms);
  const fs::path aside = dir / ("damaged-" + stamp);
  const fs::path work = dir / ("repair-" + stamp + ".tmp");
  if (fs::exists(aside, ec) || fs::exists(work, ec)) {
    return Status::Conflict(aside.string() + " already exists; try again in a second");
  }
  fs::create_directory(aside, ec);
  if (ec) return Status::Internal("create " + aside.string() + ": " + ec.message());
  ::chmod(aside.c_str(), 0700);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const fs::path from = dir / (std::string("tide.db") + suffix);
    if (!fs::exists(from, ec)) continue;
    fs::rename(from, aside / from.filename(), ec);
    if (ec) {
      return Status::Internal("move " + from.string() + " to " + aside.string() + ": " +
                              ec.message() + " (nothing was changed besides the moves before)");
    }
  }
  SyncDir(data_dir);
  r.kept_aside = aside.string();
  const std::string kept = " (the damaged files are in " + aside.string() + ")";

  // Working copies: old/ (log healed), plain/ (log as found), new/ (the rebuilt store).
  for (const char* sub : {"old", "plain"}) fs::create_directories(work / sub, ec);
  fs::copy_file(aside / "tide.db", work / "old" / "tide.db", ec);
  fs::copy_file(aside / "tide.db", work / "plain" / "tide.db", ec);
  const fs::path wal = aside / "tide.db-wal";
  Status check = CheckWal(wal.string(), &r.wal);
  (void)check;
  if (fs::exists(wal, ec)) {
    fs::copy_file(wal, work / "plain" / "tide.db-wal", ec);
    r.wal_used =
        HealWal(wal.string(), (work / "old" / "tide.db-wal").string(), &r.skipped_frames).ok();
  }
  if (ec) return Status::Internal("copy into " + work.string() + ": " + ec.message() + kept);

  std::set<std::string> plain;
  if (Status s = WorkloadNames((work / "plain" / "tide.db").string(), &plain); !s.ok()) {
    r.lost["(plain start)"] = "a plain start could not read the store: " + s.message();
  }
  {
    std::unique_ptr<Store> fresh;  // the current schema, empty
    Status s = Store::Open((work / "new").string(), SystemClock::Get(), &fresh);
    if (!s.ok()) return Status::Internal("create the new store: " + s.message() + kept);
  }
  {
    Db nd;
    if (Status s = nd.Open((work / "new" / "tide.db").string()); !s.ok()) {
      return Status::Internal(s.message() + kept);
    }
    sqlite3_busy_timeout(nd.db, 5000);
    Status s = nd.Exec("ATTACH DATABASE '" + (work / "old" / "tide.db").string() + "' AS old");
    if (!s.ok()) return Status::Internal("open the damaged copy: " + s.message() + kept);
    s = nd.Exec("BEGIN");
    std::set<std::string> old_tables;
    {
      Stmt t;
      if (t.Prepare(nd.db, "SELECT name FROM old.sqlite_master WHERE type = 'table'")) {
        while (sqlite3_step(t.st) == SQLITE_ROW) {
          old_tables.insert(reinterpret_cast<const char*>(sqlite3_column_text(t.st, 0)));
        }
      }
    }
    for (const char* table : kTables) {
      if (!old_tables.count(table)) {
        r.rows[table] = 0;
        if (std::string(table) != "node_credentials") r.lost[table] = "table unreadable";
        continue;
      }
      CopyTable(nd, table, &r);
    }
    if (s.ok()) s = nd.Exec("COMMIT");
    if (s.ok()) s = nd.Exec("DETACH DATABASE old");
    if (s.ok()) s = nd.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
    if (!s.ok()) return Status::Internal("write the new store: " + s.message() + kept);
    Stmt names;
    if (names.Prepare(nd.db, "SELECT name FROM objects WHERE ns = 'workload' ORDER BY name")) {
      while (sqlite3_step(names.st) == SQLITE_ROW) {
        r.workloads.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(names.st, 0)));
      }
    }
  }
  for (const auto& w : r.workloads) {
    if (!plain.count(w)) r.saved_beyond_replay.push_back(w);
  }
  for (const auto& w : plain) {
    if (!std::binary_search(r.workloads.begin(), r.workloads.end(), w)) {
      r.missing_from_replay.push_back(w);
    }
  }
  if (Status s = QuickCheck((work / "new" / "tide.db").string(), &r.quick_check); !s.ok()) {
    return Status::Internal("check the new store: " + s.message() + kept);
  }
  fs::rename(work / "new" / "tide.db", db, ec);
  if (ec) return Status::Internal("install the new store: " + ec.message() + kept);
  SyncDir(data_dir);
  fs::remove_all(work, ec);
  return Status::Ok();
}

int RunRepair(const std::string& data_dir, int64_t wall_ms, std::ostream& out, std::ostream& err) {
  RepairReport r;
  Status s = RepairStore(data_dir, wall_ms, &r);
  if (!s.ok()) {
    err << "tided --repair: " << s.message() << "\n";
    return 1;
  }
  out << "tided --repair " << data_dir << "\n" << r.Text();
  if (r.quick_check != "ok") {
    err << "tided --repair: the rebuilt store still fails PRAGMA quick_check\n";
    return 1;
  }
  out << "repaired: start tided without --repair to serve from it\n";
  return 0;
}

std::string RepairReport::Text() const {
  std::string t;
  t += "damaged files kept in " + kept_aside + "\n";
  if (!wal.present) {
    t += "write-ahead log: none\n";
  } else if (!wal_used) {
    t += "write-ahead log: header damaged, its writes could not be used\n";
  } else {
    t += "write-ahead log: " + wal.Summary() + "\n";
  }
  for (const auto& f : skipped_frames) t += "left out (damaged): " + f + "\n";
  t += "recovered:";
  for (const auto& [table, n] : rows) t += " " + table + "=" + std::to_string(n);
  t += "\nworkloads recovered (" + std::to_string(workloads.size()) + "):";
  for (const auto& w : workloads) t += " " + w;
  t += "\n";
  if (!saved_beyond_replay.empty()) {
    t += "of these, a plain start would have dropped (" +
         std::to_string(saved_beyond_replay.size()) + "):";
    for (const auto& w : saved_beyond_replay) t += " " + w;
    t += "\n";
  }
  if (lost.empty() && missing_from_replay.empty() && skipped_frames.empty() && wal_used) {
    t += "lost: nothing found damaged beyond the files kept aside\n";
  }
  if (!skipped_frames.empty()) {
    t += "lost: writes that exist only in the damaged frame(s) above (pages written again by "
         "a later transaction are whole)\n";
  }
  if (wal.present && !wal_used) t += "lost: every write still in the write-ahead log\n";
  for (const auto& [table, what] : lost) t += "lost: " + table + ": " + what + "\n";
  if (!missing_from_replay.empty()) {
    t += "lost: workloads a plain start would have had (" +
         std::to_string(missing_from_replay.size()) + "):";
    for (const auto& w : missing_from_replay) t += " " + w;
    t += "\n";
  }
  t += "new store: PRAGMA quick_check: " + quick_check + "\n";
  return t;
}

}  // namespace tide
