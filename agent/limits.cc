#include "agent/limits.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace tide {
namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// One write(2) of the whole value, as cgroup files expect.
bool WriteFile(const std::string& path, const std::string& value) {
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
    std::string prefix = path.substr(0, pos);
    if (!MakeDir(prefix)) return false;
  }
  return true;
}

bool HasWord(const std::string& text, const std::string& word, char sep) {
  std::istringstream in(text);
  std::string w;
  while (std::getline(in, w, sep)) {
    while (!w.empty() && (w.back() == '\n' || w.back() == ' ')) w.pop_back();
    if (w == word) return true;
  }
  return false;
}

// Joins a mount point and a cgroup path relative to that mount's root.
std::string JoinCgroup(const std::string& mount, const std::string& mount_root, std::string own) {
  if (mount_root != "/" && own.rfind(mount_root, 0) == 0) own = own.substr(mount_root.size());
  if (own.empty() || own == "/") return mount;
  return mount + own;
}

// "key value" lines (memory.events, memory.oom_control): value of key, or -1.
int64_t KeyedValue(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  int64_t v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return -1;
}

}  // namespace

const char* LimitEnforcerName(LimitEnforcer e) {
  switch (e) {
    case LimitEnforcer::kCgroup2:
      return "cgroup2";
    case LimitEnforcer::kCgroup1:
      return "cgroup1";
    case LimitEnforcer::kRlimit:
      return "rlimit";
    case LimitEnforcer::kNone:
      break;
  }
  return "none";
}

CgroupLayout DetectCgroupLayout(const std::string& proc_root) {
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
    } else if (fstype == "cgroup" && v1_mount.empty() && HasWord(superopts, "memory", ',')) {
      v1_mount = mount;
      v1_root = root;
    }
  }
  std::string own_v2, own_v1;
  std::ifstream cg(proc_root + "/self/cgroup");
  for (std::string line; std::getline(cg, line);) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string hier = line.substr(0, a), ctrls = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (hier == "0" && ctrls.empty()) own_v2 = path;
    if (HasWord(ctrls, "memory", ',')) own_v1 = path;
  }
  CgroupLayout layout;
  if (!v2_mount.empty()) {
    std::string own = JoinCgroup(v2_mount, v2_root, own_v2);
    std::string subtree;
    if (ReadFile(own + "/cgroup.subtree_control", &subtree) && HasWord(subtree, "memory", ' ')) {
      layout.cgroup2_parent = own + "/tide";
    }
  }
  if (!v1_mount.empty()) layout.cgroup1_parent = JoinCgroup(v1_mount, v1_root, own_v1) + "/tide";
  return layout;
}

namespace {
// Writes the calling process's pid into a cgroup.procs file. Async-signal-safe.
int JoinCgroupInChild(const char* path) noexcept {
  char buf[24];
  char* p = buf + sizeof buf;
  for (unsigned long v = static_cast<unsigned long>(::getpid()); p == buf + sizeof buf || v;
       v /= 10) {
    *--p = static_cast<char>('0' + v % 10);
  }
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t len = buf + sizeof buf - p;
  ssize_t n = ::write(fd, p, static_cast<size_t>(len));
  int err = n == len ? 0 : (n < 0 ? errno : EIO);
  ::close(fd);
  errno = err;
  return err;
}
}  // namespace

int ChildLimit::ApplyInChild() const noexcept {
  // A cgroup: with a memory limit, or only to contain the instance.
  if (!procs_path.empty()) {
    if (int err = JoinCgroupInChild(procs_path.c_str()); err != 0) return err;
  }
  if (!pids_procs_path.empty()) {
    if (int err = JoinCgroupInChild(pids_procs_path.c_str()); err != 0) return err;
  }
  if (enforcer == LimitEnforcer::kRlimit) {
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(rlimit_bytes);
    if (::setrlimit(RLIMIT_AS, &rl) != 0) return errno;
  }
  if (pids_enforcer == LimitEnforcer::kRlimit) {
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(nproc);
    if (::setrlimit(RLIMIT_NPROC, &rl) != 0) return errno;
  }
  return 0;
}

MemoryLimits::MemoryLimits(CgroupLayout layout) : layout_(std::move(layout)) {}

std::string MemoryLimits::InstanceDir(const std::string& parent, const std::string& instance_id) {
  std::string name = instance_id;
  for (char& c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) c = '_';
  }
  if (name.empty() || name == "." || name == "..") name = "_" + name;
  return parent + "/" + name;
}

bool MemoryLimits::TryCgroup2(const std::string& dir, int64_t bytes) {
  const std::string& parent = layout_.cgroup2_parent;
  if (parent.empty() || !MakeDir(parent)) return false;
  std::string subtree;
  if (!ReadFile(parent + "/cgroup.subtree_control", &subtree) || !HasWord(subtree, "memory", ' ')) {
    WriteFile(parent + "/cgroup.subtree_control", "+memory");
  }
  return MakeDir(dir) && WriteLimit2(dir, bytes);
}

bool MemoryLimits::WriteLimit2(const std::string& dir, int64_t bytes) {
  if (!WriteFile(dir + "/memory.max", std::to_string(bytes))) return false;
  WriteFile(dir + "/memory.swap.max", "0");   // optional: absent without swap accounting
  WriteFile(dir + "/memory.oom.group", "1");  // optional: kill the whole instance on OOM
  return true;
}

bool MemoryLimits::TryCgroup1(const std::string& dir, int64_t bytes) {
  if (layout_.cgroup1_parent.empty() || !MakeDirs(layout_.cgroup1_parent) || !MakeDir(dir)) {
    return false;
  }
  return WriteLimit1(dir, bytes);
}

bool MemoryLimits::WriteLimit1(const std::string& dir, int64_t bytes) {
  std::string value = std::to_string(bytes);
  // memsw (memory+swap) must stay >= the memory limit: order the writes to keep that true.
  bool ok = WriteFile(dir + "/memory.limit_in_bytes", value);
  WriteFile(dir + "/memory.memsw.limit_in_bytes", value);  // optional (swap accounting)
  if (!ok) ok = WriteFile(dir + "/memory.limit_in_bytes", value);
  return ok;
}

int64_t MemoryLimits::OomCount(LimitEnforcer e, const std::string& dir) {
  std::string text;
  if (e == LimitEnforcer::kCgroup2) {
    return ReadFile(dir + "/memory.events", &text) ? KeyedValue(text, "oom_kill") : -1;
  }
  if (e == LimitEnforcer::kCgroup1) {
    int64_t v = ReadFile(dir + "/memory.oom_control", &text) ? KeyedValue(text, "oom_kill") : -1;
    if (v < 0 && ReadFile(dir + "/memory.failcnt", &text)) v = std::atoll(text.c_str());
    return v;
  }
  return -1;
}

Status MemoryLimits::Prepare(const std::string& instance_id, int64_t bytes, ChildLimit* out) {
  if (bytes < 0) return Status::Invalid("negative memory limit");
  *out = ChildLimit();
  Prepared p;
  if (bytes > 0) {
    std::string dir2 = InstanceDir(layout_.cgroup2_parent, instance_id);
    std::string dir1 = InstanceDir(layout_.cgroup1_parent, instance_id);
    if (!layout_.cgroup2_parent.empty() && TryCgroup2(dir2, bytes)) {
      p.enforcer = LimitEnforcer::kCgroup2;
      p.dir = dir2;
    } else if (!layout_.cgroup1_parent.empty() && TryCgroup1(dir1, bytes)) {
      p.enforcer = LimitEnforcer::kCgroup1;
      p.dir = dir1;
    } else {
      p.enforcer = LimitEnforcer::kRlimit;
      out->rlimit_bytes = bytes;
    }
    if (!p.dir.empty()) {
      out->procs_path = p.dir + "/cgroup.procs";
      p.oom_baseline = std::max<int64_t>(0, OomCount(p.enforcer, p.dir));
    }
  } else {
    // No memory limit: the instance still gets a cgroup of its own when one can be made, so
    // Cleanup reaches every process it started, setsid() daemons included (issue 15).
    for (const std::string* parent : {&layout_.cgroup2_parent, &layout_.cgroup1_parent}) {
      if (parent->empty() || !MakeDirs(*parent)) continue;
      std::string dir = InstanceDir(*parent, instance_id);
      struct stat st;
      if (!MakeDir(dir)) continue;
      if (::stat((dir + "/cgroup.procs").c_str(), &st) != 0) {  // not a cgroup file system
        ::rmdir(dir.c_str());
        continue;
      }
      p.dir = dir;
      out->procs_path = dir + "/cgroup.procs";
      break;
    }
  }
  out->enforcer = p.enforcer;
  std::lock_guard<std::mutex> lock(mu_);
  prepared_[instance_id] = p;
  return Status::Ok();
}

bool MemoryLimits::Adopt(const std::string& from_id, const std::string& instance_id, int64_t bytes,
                         LimitEnforcer* enforcer) {
  if (bytes < 0) return false;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = prepared_.find(from_id);
  if (it == prepared_.end() || it->second.dir.empty()) return false;
  const std::string from = it->second.dir;
  const std::string parent = from.substr(0, from.rfind('/'));
  const bool v2 = parent == layout_.cgroup2_parent;
  const std::string to = InstanceDir(parent, instance_id);
  struct stat st;
  // A cgroup left by an earlier run of the instance: an empty one goes, a busy one stays and
  // the caller launches the ordinary way (Prepare reuses it as it always did).
  if (::stat(to.c_str(), &st) == 0 && ::rmdir(to.c_str()) != 0) return false;
  if (::rename(from.c_str(), to.c_str()) != 0) return false;
  if (bytes > 0 && !(v2 ? WriteLimit2(to, bytes) : WriteLimit1(to, bytes))) {
    ::rename(to.c_str(), from.c_str());
    return false;
  }
  Prepared p;
  p.enforcer =
      bytes == 0 ? LimitEnforcer::kNone : (v2 ? LimitEnforcer::kCgroup2 : LimitEnforcer::kCgroup1);
  p.dir = to;
  if (p.enforcer != LimitEnforcer::kNone) {
    p.oom_baseline = std::max<int64_t>(0, OomCount(p.enforcer, to));
  }
  prepared_.erase(it);
  prepared_[instance_id] = p;
  *enforcer = p.enforcer;
  return true;
}

bool MemoryLimits::OomKilled(const std::string& instance_id) const {
  Prepared p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = prepared_.find(instance_id);
    if (it == prepared_.end()) return false;
    p = it->second;
  }
  if (p.dir.empty()) return false;
  return OomCount(p.enforcer, p.dir) > p.oom_baseline;
}

void MemoryLimits::Cleanup(const std::string& instance_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    prepared_.erase(instance_id);
  }
  for (const std::string* parent : {&layout_.cgroup2_parent, &layout_.cgroup1_parent}) {
    if (parent->empty()) continue;
    std::string dir = InstanceDir(*parent, instance_id);
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || ::rmdir(dir.c_str()) == 0) continue;
    // Not empty: kill what is left of the instance, then wait briefly for the kernel to let go.
    WriteFile(dir + "/cgroup.kill", "1");  // cgroup v2 (5.14+)
    // v1 (and v2 before 5.14): kill what cgroup.procs lists until it is empty; a process
    // forking meanwhile shows up in the next read.
    for (int i = 0; i < 250 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) {
      std::string procs;
      if (ReadFile(dir + "/cgroup.procs", &procs)) {
        std::istringstream in(procs);
        for (int pid; in >> pid;) {
          if (pid > 0) ::kill(pid, SIGKILL);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

}  // namespace tide
