#include "daemon/store/wal_check.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

namespace tide {
namespace {

constexpr size_t kHeaderSize = 32;
constexpr size_t kFrameHeaderSize = 24;
constexpr uint32_t kMagicLittle = 0x377f0682;  // checksums over little-endian words
constexpr uint32_t kMagicBig = 0x377f0683;     // checksums over big-endian words
constexpr uint32_t kVersion = 3007000;

uint32_t Be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

uint32_t Le32(const unsigned char* p) {
  return (uint32_t{p[3]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | uint32_t{p[0]};
}

bool ValidPageSize(uint32_t v) {
  // Stored as is, except 65536, which is stored as 1.
  if (v == 1) return true;
  return v >= 512 && v <= 32768 && (v & (v - 1)) == 0;
}

}  // namespace

void WalChecksum(const unsigned char* data, size_t len, bool big_endian, uint32_t s[2]) {
  uint32_t s0 = s[0], s1 = s[1];
  for (size_t i = 0; i + 8 <= len; i += 8) {
    const uint32_t x0 = big_endian ? Be32(data + i) : Le32(data + i);
    const uint32_t x1 = big_endian ? Be32(data + i + 4) : Le32(data + i + 4);
    s0 += x0 + s1;
    s1 += x1 + s0;
  }
  s[0] = s0;
  s[1] = s1;
}

std::string WalReport::Summary() const {
  if (!present) return "no write-ahead log";
  std::string out = std::to_string(frames) + " frame(s), " + std::to_string(valid_frames) +
                    " replayable, " + std::to_string(commits) + " commit(s)";
  if (header_damaged) out += ", header damaged";
  if (first_bad_frame > 0) out += ", replay stops at frame " + std::to_string(first_bad_frame);
  if (lost_commits > 0) out += ", " + std::to_string(lost_commits) + " commit(s) after it";
  if (torn_tail) out += " (torn tail)";
  return out;
}

Status CheckWal(const std::string& path, WalReport* report) {
  WalReport local;
  WalReport& r = report ? *report : local;
  r = WalReport{};
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return Status::Ok();
    return Status::Internal("store WAL " + path + ": cannot read: " + std::strerror(errno));
  }
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0);
  std::vector<unsigned char> buf(size > 0 ? static_cast<size_t>(size) : 0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(buf.data()), size)) {
    return Status::Internal("store WAL " + path + ": read error");
  }
  if (buf.size() < kHeaderSize) return Status::Ok();
  r.present = true;

  const unsigned char* h = buf.data();
  const uint32_t magic = Be32(h);
  const bool big_endian = magic == kMagicBig;
  const uint32_t page_field = Be32(h + 8);
  bool header_ok = (magic == kMagicLittle || magic == kMagicBig) && Be32(h + 4) == kVersion &&
                   ValidPageSize(page_field);
  uint32_t chain[2] = {0, 0};
  if (header_ok) {
    WalChecksum(h, 24, big_endian, chain);
    header_ok = chain[0] == Be32(h + 24) && chain[1] == Be32(h + 28);
  }
  if (!header_ok) {
    // Without a header there is no page size to count frames by; any byte past the header means
    // SQLite wrote frames (it writes the header with the first frame) and would now ignore them.
    r.header_damaged = true;
    if (buf.size() > kHeaderSize) {
      return Status::Internal(
          "store WAL " + path +
          " is damaged: its header (bytes 0-31) is not a valid WAL header, so SQLite would "
          "ignore the " +
          std::to_string(buf.size() - kHeaderSize) +
          " bytes of logged writes after it; tided will not start on it. Run tided --repair to "
          "recover what can be read (the damaged files are kept aside), or restore the data dir "
          "from a backup");
    }
    return Status::Ok();
  }
  const size_t page = page_field == 1 ? 65536 : page_field;
  r.page_size = static_cast<uint32_t>(page);
  const uint32_t salt1 = Be32(h + 16), salt2 = Be32(h + 20);
  const size_t frame_size = kFrameHeaderSize + page;
  const size_t whole = (buf.size() - kHeaderSize) / frame_size;
  r.frames = static_cast<int64_t>(whole);
  const bool partial = (buf.size() - kHeaderSize) % frame_size != 0;

  // prev[]: the checksum stored in the previous frame (the header's for the first frame). A
  // frame is intact when its salts are this generation's and its checksum continues prev[].
  uint32_t prev[2] = {Be32(h + 24), Be32(h + 28)};
  bool in_prefix = true;
  bool stale_end = false;  // replay stops at an earlier generation's frames: a normal end
  std::string bad_why;
  uint32_t bad_page = 0;
  for (size_t i = 0; i < whole; ++i) {
    const unsigned char* f = buf.data() + kHeaderSize + i * frame_size;
    const uint32_t pgno = Be32(f), commit_size = Be32(f + 4);
    const bool salts = Be32(f + 8) == salt1 && Be32(f + 12) == salt2;
    uint32_t sum[2] = {prev[0], prev[1]};
    WalChecksum(f, 8, big_endian, sum);
    WalChecksum(f + kFrameHeaderSize, page, big_endian, sum);
    const bool sum_ok = sum[0] == Be32(f + 16) && sum[1] == Be32(f + 20);
    const bool intact = salts && sum_ok && pgno != 0;
    const int64_t n = static_cast<int64_t>(i) + 1;
    if (in_prefix && intact) {
      ++r.valid_frames;
      if (commit_size != 0) ++r.commits;
    } else if (in_prefix) {
      in_prefix = false;
      r.first_bad_frame = n;
      bad_page = pgno;
      stale_end = !salts;
      bad_why = !salts      ? "salts differ from the header's"
                : pgno == 0 ? "page number 0"
                            : "checksum mismatch";
    } else if (intact && commit_size != 0) {
      ++r.lost_commits;
      r.last_lost_frame = n;
    }
    prev[0] = Be32(f + 16);
    prev[1] = Be32(f + 20);
  }
  if (r.lost_commits == 0) {
    r.torn_tail = partial || (r.first_bad_frame > 0 && !stale_end);
    return Status::Ok();
  }
  const size_t offset = kHeaderSize + static_cast<size_t>(r.first_bad_frame - 1) * frame_size;
  return Status::Internal(
      "store WAL " + path + " is damaged: frame " + std::to_string(r.first_bad_frame) +
      " (byte offset " + std::to_string(offset) + ", page " + std::to_string(bad_page) +
      ") fails its check (" + bad_why + "), yet " + std::to_string(r.lost_commits) +
      " committed transaction(s) follow it, up to frame " + std::to_string(r.last_lost_frame) +
      "; SQLite would silently drop them. tided will not start on it. Run tided --repair to "
      "recover what can be read (the damaged files are kept aside), or restore the data dir "
      "from a backup");
}

}  // namespace tide
