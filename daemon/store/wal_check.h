// WAL check: is tided's SQLite write-ahead log whole, or was it damaged where SQLite would
// silently drop acknowledged writes?
//
// SQLite replays tide.db-wal at open up to the first frame whose salts or checksum chain do not
// match (docs: the SQLite file format, "WAL file format") and ignores everything after it. A torn
// tail (the frames a crash interrupted) is the normal case and harmless: nothing there was ever
// acknowledged. A damaged frame FOLLOWED by committed transactions is not: replay would stop at
// the damage and drop those commits without a word.
//
// CheckWal reads the file (never writes it) and tells the two apart:
//  - Every frame is checked on its own against the checksum stored in the frame before it (each
//    frame's checksum field chains from its predecessor's), so frames after a damaged one can
//    still be recognised as intact.
//  - Frames whose salts are not the header's belong to an earlier generation of the log (left
//    over after a checkpoint reset) and are ignored, as SQLite does.
//  - Damage = an intact commit frame (one with a database size) of the current generation
//    after the first frame SQLite would reject. Intact frames without a commit after the break
//    are an unfinished transaction and do not count.
//  - A header that is not a WAL header (magic, version, page size or checksum) while at least one
//    whole frame follows is damage as well: SQLite would ignore the entire log.
// A missing or empty file, or one shorter than a header, is fine (no log to replay).
//
// Pure except for reading the file; the checksum is the one the format defines (two 32-bit
// sums over 32-bit words, in the byte order the magic number names).
#pragma once

#include <cstdint>
#include <string>

#include "api/status.h"

namespace tide {

struct WalReport {
  bool present = false;         // the file exists and holds a header
  uint32_t page_size = 0;       // from the header
  int64_t frames = 0;           // whole frames in the file (all generations)
  int64_t valid_frames = 0;     // frames SQLite replays (the intact prefix of this generation)
  int64_t commits = 0;          // commit frames within valid_frames
  int64_t first_bad_frame = 0;  // 1-based frame where replay stops; 0 = none
  int64_t lost_commits = 0;     // intact commit frames after first_bad_frame (the damage)
  int64_t last_lost_frame = 0;  // 1-based frame of the last of those
  bool header_damaged = false;
  bool torn_tail = false;  // a partial frame or rejected frames with no commit after them
  // One line for logs: what was found.
  std::string Summary() const;
};

// Reads and checks the WAL at `path` (usually DATA_DIR/tide.db-wal). *report (optional) gets
// what was found. Ok for a missing file, a whole log, or a torn tail. Internal error naming the
// file and the frame (with its byte offset) when committed transactions follow a damaged frame,
// or naming the header when it is damaged, or naming the file when it cannot be read.
Status CheckWal(const std::string& path, WalReport* report = nullptr);

// The WAL checksum over `data` (length a multiple of 8), continuing from s[0], s[1]; big_endian
// as the header's magic says. Exposed for tests that craft WAL files.
void WalChecksum(const unsigned char* data, size_t len, bool big_endian, uint32_t s[2]);

}  // namespace tide
