// Implementation notes: see agent/log_files.h for the contract. Rotation of one instance's file
// is serialised by a process-wide mutex (rotation is rare and cheap next to the copy itself).
// Follow polls the live file a few times a second: it is file I/O, there is nothing to wait on.
#include "agent/log_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

namespace tide {
namespace {

namespace fs = std::filesystem;

constexpr size_t kChunk = 64 * 1024;
constexpr auto kFollowPoll = std::chrono::milliseconds(100);

std::mutex& RotationMutex() {
  static std::mutex mu;
  return mu;
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  void Reset(int f) {
    if (fd >= 0) ::close(fd);
    fd = f;
  }
};

bool ReadAt(int fd, int64_t offset, size_t len, std::string* out) {
  out->resize(len);
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, out->data() + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  out->resize(got);
  return got == len;
}

// The last `want` lines (all when want < 0) of bytes [0, end) of fd, prepended to *out.
// A final line without '\n' counts as a line. Returns the number of lines taken.
int PrependLastLines(int fd, int64_t end, int want, std::string* out) {
  if (want == 0 || end <= 0) return 0;
  // Scan backwards for newlines; the newline ending the last line does not start a line.
  std::string buf;
  ReadAt(fd, end - 1, 1, &buf);
  const int64_t scan_end = buf == "\n" ? end - 1 : end;
  int64_t pos = scan_end;
  int lines = 1;      // end > 0: there is a last line
  int64_t start = 0;  // where the taken lines begin
  bool found_start = false;
  if (want > 0) {
    while (pos > 0 && !found_start) {
      int64_t from = pos > static_cast<int64_t>(kChunk) ? pos - static_cast<int64_t>(kChunk) : 0;
      ReadAt(fd, from, static_cast<size_t>(pos - from), &buf);
      for (int64_t i = static_cast<int64_t>(buf.size()) - 1; i >= 0; --i) {
        if (buf[static_cast<size_t>(i)] != '\n') continue;
        if (lines == want) {
          start = from + i + 1;
          found_start = true;
          break;
        }
        ++lines;
      }
      pos = from;
    }
  } else {
    for (pos = scan_end; pos > 0;) {
      int64_t from = pos > static_cast<int64_t>(kChunk) ? pos - static_cast<int64_t>(kChunk) : 0;
      ReadAt(fd, from, static_cast<size_t>(pos - from), &buf);
      for (char c : buf) lines += c == '\n';
      pos = from;
    }
  }
  std::string taken;
  ReadAt(fd, start, static_cast<size_t>(end - start), &taken);
  out->insert(0, taken);
  return lines;
}

int64_t FileSize(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

// Copies src to dst (replacing dst). False on error.
bool CopyFile(const std::string& src, const std::string& dst) {
  Fd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) return false;
  std::string tmp = dst + ".tmp";
  Fd outf(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (outf.fd < 0) return false;
  std::vector<char> buf(kChunk);
  for (;;) {
    ssize_t n = ::read(in.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(outf.fd, buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      off += w;
    }
  }
  return ::rename(tmp.c_str(), dst.c_str()) == 0;
}

}  // namespace

LogFiles::LogFiles(std::string dir, int64_t max_bytes, int keep)
    : dir_(std::move(dir)), max_bytes_(max_bytes), keep_(keep < 0 ? 0 : keep) {}

std::string LogFiles::PathFor(const std::string& instance_id) const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  return dir_ + "/" + instance_id + ".log";
}

void LogFiles::RotateIfNeeded(const std::string& instance_id) const {
  const std::string live = dir_ + "/" + instance_id + ".log";
  struct stat st;
  if (::stat(live.c_str(), &st) != 0 || st.st_size <= max_bytes_) return;
  std::lock_guard<std::mutex> lock(RotationMutex());
  if (::stat(live.c_str(), &st) != 0 || st.st_size <= max_bytes_) return;  // someone else did
  if (keep_ > 0) {
    for (int i = keep_ - 1; i >= 1; --i) {
      std::string from = live + "." + std::to_string(i);
      std::string to = live + "." + std::to_string(i + 1);
      ::rename(from.c_str(), to.c_str());  // missing older files are fine
    }
    CopyFile(live, live + ".1");
  }
  // Truncate in place: the writer's O_APPEND writes continue at the new end.
  ::truncate(live.c_str(), 0);
}

Status LogFiles::Tail(const std::string& instance_id, int tail, std::string* out) const {
  out->clear();
  const std::string live = dir_ + "/" + instance_id + ".log";
  bool any = false;
  int have = 0;
  for (int i = 0; i <= keep_; ++i) {
    std::string path = i == 0 ? live : live + "." + std::to_string(i);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.fd < 0) continue;
    any = true;
    if (tail >= 0 && have >= tail) break;
    int64_t size = FileSize(fd.fd);
    // A rotated file that does not end in '\n' continues into the newer file's first line.
    have += PrependLastLines(fd.fd, size, tail < 0 ? -1 : tail - have, out);
  }
  if (!any) return Status::NotFound("no logs for instance " + instance_id);
  return Status::Ok();
}

Status LogFiles::Follow(const std::string& instance_id, int tail,
                        const std::function<bool(const std::string&)>& sink,
                        const std::function<bool()>& stop) const {
  const std::string live = dir_ + "/" + instance_id + ".log";
  Fd fd(::open(live.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) return Status::NotFound("no logs for instance " + instance_id);
  struct stat st;
  if (::fstat(fd.fd, &st) != 0) return Status::Internal("stat " + live);
  int64_t offset = st.st_size;
  ino_t inode = st.st_ino;

  if (tail != 0) {
    // The tail of the rotated files plus the live file up to `offset`, then follow from there.
    std::string first;
    int have = PrependLastLines(fd.fd, offset, tail, &first);
    for (int i = 1; i <= keep_ && (tail < 0 || have < tail); ++i) {
      Fd old(::open((live + "." + std::to_string(i)).c_str(), O_RDONLY | O_CLOEXEC));
      if (old.fd < 0) break;
      have += PrependLastLines(old.fd, FileSize(old.fd), tail < 0 ? -1 : tail - have, &first);
    }
    if (!first.empty() && !sink(first)) return Status::Ok();
  }

  // Rotation shows as the live file shrinking below our offset, or as a new .1 (a fresh inode)
  // while the live file is smaller than it; either way what we had not read is in .1.
  const std::string rotated_path = live + ".1";
  auto inode_of = [](const std::string& p) -> ino_t {
    struct stat s;
    return ::stat(p.c_str(), &s) == 0 ? s.st_ino : 0;
  };
  ino_t rotated_inode = inode_of(rotated_path);
  std::string chunk;
  while (!stop()) {
    int64_t size = FileSize(fd.fd);
    Fd rotated(-1);
    ino_t now_rotated = inode_of(rotated_path);
    bool was_rotated = size < offset;
    if (now_rotated != 0 && now_rotated != rotated_inode) {
      rotated.Reset(::open(rotated_path.c_str(), O_RDONLY | O_CLOEXEC));
      was_rotated = was_rotated || (rotated.fd >= 0 && size < FileSize(rotated.fd));
    }
    if (was_rotated) {
      rotated_inode = now_rotated;
      if (rotated.fd < 0) rotated.Reset(::open(rotated_path.c_str(), O_RDONLY | O_CLOEXEC));
      int64_t rsize = rotated.fd >= 0 ? FileSize(rotated.fd) : -1;
      if (rsize > offset) {
        ReadAt(rotated.fd, offset, static_cast<size_t>(rsize - offset), &chunk);
        if (!chunk.empty() && !sink(chunk)) return Status::Ok();
      }
      offset = 0;
      continue;
    }
    if (size > offset) {
      size_t len = static_cast<size_t>(std::min<int64_t>(size - offset, kChunk));
      ReadAt(fd.fd, offset, len, &chunk);
      offset += static_cast<int64_t>(chunk.size());
      if (!chunk.empty() && !sink(chunk)) return Status::Ok();
      if (chunk.size() == len) continue;  // maybe more right away
    }
    // The file may have been replaced (removed and recreated): switch to the new one.
    struct stat now;
    if (::stat(live.c_str(), &now) == 0 && now.st_ino != inode) {
      fd.Reset(::open(live.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.fd < 0) return Status::Ok();
      inode = now.st_ino;
      offset = 0;
      continue;
    }
    std::this_thread::sleep_for(kFollowPoll);
  }
  return Status::Ok();
}

void LogFiles::Remove(const std::string& instance_id) const {
  const std::string live = dir_ + "/" + instance_id + ".log";
  ::unlink(live.c_str());
  for (int i = 1; i <= keep_; ++i) ::unlink((live + "." + std::to_string(i)).c_str());
}

}  // namespace tide
