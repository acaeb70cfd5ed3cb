#include "api/private_dir.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace tide {
namespace {

namespace fs = std::filesystem;

// Drops the group/other bits (and, for files, execute and setuid/setgid/sticky bits).
bool Tighten(const fs::path& p, bool is_dir) {
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) return errno == ENOENT;
  if (S_ISLNK(st.st_mode)) return true;
  mode_t want = is_dir ? (st.st_mode & 0700) | 0700 : (st.st_mode & 0600);
  if ((st.st_mode & 07777) == want) return true;
  return ::chmod(p.c_str(), want) == 0 || errno == ENOENT;
}

}  // namespace

Status MakePrivateDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::Internal("cannot create data dir " + dir + ": " + ec.message());
  if (!Tighten(dir, true)) {
    return Status::Internal("cannot make data dir " + dir +
                            " private (mode 0700): " + std::strerror(errno));
  }
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::file_status s = it->symlink_status(ec);
    if (ec) {
      ec.clear();
      continue;
    }
    if (fs::is_directory(s)) {
      Tighten(it->path(), true);
    } else if (fs::is_regular_file(s)) {
      Tighten(it->path(), false);
    }
  }
  return Status::Ok();
}

}  // namespace tide
