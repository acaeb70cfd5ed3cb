#include "agent/cgroup_files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace tide::cgroupfs {
namespace {

// Joins a mount point and a cgroup path relative to that mount's root.
std::string JoinCgroup(const std::string& mount, const std::string& mount_root, std::string own) {
  if (mount_root != "/" && own.rfind(mount_root, 0) == 0) own = own.substr(mount_root.size());
  if (own.empty() || own == "/") return mount;
  return mount + own;
}

}  // namespace

bool ReadText(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

bool WriteText(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  errno = err;
  return n == static_cast<ssize_t>(value.size());
}

bool MakeDir(const std::string& path) {
  return ::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST;
}

bool MakeDirs(const std::string& path) {
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    if (!MakeDir(path.substr(0, pos))) return false;
  }
  return true;
}

bool HasWord(const std::string& text, const std::string& word, char sep) {
  std::istringstream in(text);
  for (std::string w; std::getline(in, w, sep);) {
    while (!w.empty() && (w.back() == '\n' || w.back() == ' ')) w.pop_back();
    if (w == word) return true;
  }
  return false;
}

void RemoveKilling(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || ::rmdir(dir.c_str()) == 0) return;
  WriteText(dir + "/cgroup.kill", "1");  // cgroup v2 (5.14+)
  for (int i = 0; i < 250 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) {
    std::string procs;
    if (ReadText(dir + "/cgroup.procs", &procs)) {
      std::istringstream in(procs);
      for (int pid; in >> pid;) {
        if (pid > 0) ::kill(pid, SIGKILL);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

TideParents FindTideParents(const std::string& proc_root, const std::string& controller,
                            bool require_listed) {
  std::string v2_mount, v2_root, v1_mount, v1_root;
  std::ifstream mi(proc_root + "/self/mountinfo");
  for (std::string line; std::getline(mi, line);) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string id, parent, devno, root, mount, fstype, source, superopts;
    pre >> id >> parent >> devno >> root >> mount;
    post >> fstype >> source >> superopts;
    if (fstype == "cgroup2" && v2_mount.empty()) {
      v2_mount = mount;
      v2_root = root;
    } else if (fstype == "cgroup" && v1_mount.empty() && HasWord(superopts, controller, ',')) {
      v1_mount = mount;
      v1_root = root;
    }
  }
  std::string own_v2, own_v1;
  bool in_v2 = !require_listed, in_v1 = !require_listed;
  std::ifstream cg(proc_root + "/self/cgroup");
  for (std::string line; std::getline(cg, line);) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string hier = line.substr(0, a), ctrls = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (hier == "0" && ctrls.empty()) {
      own_v2 = path;
      in_v2 = true;
    }
    if (HasWord(ctrls, controller, ',')) {
      own_v1 = path;
      in_v1 = true;
    }
  }
  TideParents out;
  if (!v2_mount.empty() && in_v2) {
    std::string own = JoinCgroup(v2_mount, v2_root, own_v2), subtree;
    if (ReadText(own + "/cgroup.subtree_control", &subtree) && HasWord(subtree, controller, ' ')) {
      out.v2 = own + "/tide";
    }
  }
  if (!v1_mount.empty() && in_v1) out.v1 = JoinCgroup(v1_mount, v1_root, own_v1) + "/tide";
  return out;
}

}  // namespace tide::cgroupfs
