#include "agent/pids_limit.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace tide {
namespace {

bool ReadText(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// One write(2) of the whole value, as cgroup files expect.
bool WriteText(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = ::write(fd, value.data(), value.size());
  ::close(fd);
  return n == static_cast<ssize_t>(value.size());
}

bool MakeDirs(const std::string& path) {
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return false;
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

std::string JoinCgroup(const std::string& mount, const std::string& mount_root, std::string own) {
  if (mount_root != "/" && own.rfind(mount_root, 0) == 0) own = own.substr(mount_root.size());
  if (own.empty() || own == "/") return mount;
  return mount + own;
}

bool IsCgroupDir(const std::string& dir) {
  struct stat st;
  return ::stat((dir + "/cgroup.procs").c_str(), &st) == 0;
}

// Creates dir (and its parents) as a cgroup and writes pids.max; false when it is not one.
bool MakePidsCgroup(const std::string& dir, int64_t max) {
  if (!MakeDirs(dir)) return false;
  if (!IsCgroupDir(dir)) {  // not a cgroup file system: leave nothing behind
    ::rmdir(dir.c_str());
    return false;
  }
  return WriteText(dir + "/pids.max", std::to_string(max));
}

}  // namespace

PidsLayout DetectPidsLayout(const std::string& proc_root) {
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
    } else if (fstype == "cgroup" && v1_mount.empty() && HasWord(superopts, "pids", ',')) {
      v1_mount = mount;
      v1_root = root;
    }
  }
  std::string own_v2, own_v1;
  bool in_v2 = false, in_v1 = false;
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
    if (HasWord(ctrls, "pids", ',')) {
      own_v1 = path;
      in_v1 = true;
    }
  }
  PidsLayout layout;
  if (!v2_mount.empty() && in_v2) {
    std::string own = JoinCgroup(v2_mount, v2_root, own_v2), subtree;
    if (ReadText(own + "/cgroup.subtree_control", &subtree) && HasWord(subtree, "pids", ' ')) {
      layout.cgroup2_parent = own + "/tide";
    }
  }
  if (!v1_mount.empty() && in_v1) {
    layout.cgroup1_parent = JoinCgroup(v1_mount, v1_root, own_v1) + "/tide";
  }
  return layout;
}

Status PidsLimits::Prepare(const std::string& instance_id, int64_t max, ChildLimit* limit) const {
  if (max < 0) return Status::Invalid("negative pids limit");
  limit->pids_enforcer = LimitEnforcer::kNone;
  limit->pids_procs_path.clear();
  limit->nproc = 0;
  if (max == 0) return Status::Ok();  // unlimited
  if (!layout_.cgroup2_parent.empty() && MakeDirs(layout_.cgroup2_parent)) {
    std::string subtree;
    const std::string& parent = layout_.cgroup2_parent;
    if (!ReadText(parent + "/cgroup.subtree_control", &subtree) || !HasWord(subtree, "pids", ' ')) {
      WriteText(parent + "/cgroup.subtree_control", "+pids");
    }
    std::string dir = MemoryLimits::InstanceDir(parent, instance_id);
    if (MakePidsCgroup(dir, max)) {
      limit->pids_enforcer = LimitEnforcer::kCgroup2;
      // The same v2 directory as the memory cgroup's needs no second join.
      std::string procs = dir + "/cgroup.procs";
      if (procs != limit->procs_path) limit->pids_procs_path = procs;
      return Status::Ok();
    }
  }
  if (!layout_.cgroup1_parent.empty()) {
    std::string dir = MemoryLimits::InstanceDir(layout_.cgroup1_parent, instance_id);
    if (MakePidsCgroup(dir, max)) {
      limit->pids_enforcer = LimitEnforcer::kCgroup1;
      limit->pids_procs_path = dir + "/cgroup.procs";
      return Status::Ok();
    }
  }
  limit->pids_enforcer = LimitEnforcer::kRlimit;
  limit->nproc = max;
  return Status::Ok();
}

bool PidsLimits::Adopt(const std::string& from_id, const std::string& to_id, int64_t max,
                       LimitEnforcer* enforcer) const {
  if (max < 0) return false;
  const std::string value = max == 0 ? "max" : std::to_string(max);
  struct stat st;
  if (!layout_.cgroup2_parent.empty()) {
    std::string dir = MemoryLimits::InstanceDir(layout_.cgroup2_parent, to_id);
    if (::stat((dir + "/pids.max").c_str(), &st) == 0) {
      if (!WriteText(dir + "/pids.max", value)) return false;
      *enforcer = max == 0 ? LimitEnforcer::kNone : LimitEnforcer::kCgroup2;
      return true;
    }
  }
  if (!layout_.cgroup1_parent.empty()) {
    std::string from = MemoryLimits::InstanceDir(layout_.cgroup1_parent, from_id);
    std::string to = MemoryLimits::InstanceDir(layout_.cgroup1_parent, to_id);
    if (::stat(from.c_str(), &st) == 0) {
      if (::stat(to.c_str(), &st) == 0 && ::rmdir(to.c_str()) != 0) return false;
      if (::rename(from.c_str(), to.c_str()) != 0) return false;
      if (!WriteText(to + "/pids.max", value)) {
        ::rename(to.c_str(), from.c_str());
        return false;
      }
      *enforcer = max == 0 ? LimitEnforcer::kNone : LimitEnforcer::kCgroup1;
      return true;
    }
  }
  *enforcer = LimitEnforcer::kNone;
  return max == 0;
}

void PidsLimits::Cleanup(const std::string& instance_id) const {
  for (const std::string* parent : {&layout_.cgroup2_parent, &layout_.cgroup1_parent}) {
    if (parent->empty()) continue;
    std::string dir = MemoryLimits::InstanceDir(*parent, instance_id);
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || ::rmdir(dir.c_str()) == 0) continue;
    WriteText(dir + "/cgroup.kill", "1");  // cgroup v2 (5.14+)
    // Kill what cgroup.procs lists until it is empty. Forking within the cgroup stops at
    // pids.max, so this converges even against a fork bomb; bounded all the same.
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
}

std::string PidsLimits::Describe() const {
  if (!layout_.cgroup2_parent.empty()) return "cgroup2 (" + layout_.cgroup2_parent + ")";
  if (!layout_.cgroup1_parent.empty()) return "cgroup1 (" + layout_.cgroup1_parent + ")";
  return "rlimit (RLIMIT_NPROC)";
}

}  // namespace tide
