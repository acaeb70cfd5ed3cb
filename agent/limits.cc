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

#include "agent/cgroup_files.h"

namespace tide {
namespace {

using cgroupfs::HasWord;
using cgroupfs::MakeDir;
using cgroupfs::MakeDirs;
using cgroupfs::ReadText;
using cgroupfs::WriteText;

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
  cgroupfs::TideParents p = cgroupfs::FindTideParents(proc_root, "memory", false);
  CgroupLayout layout;
  layout.cgroup2_parent = p.v2;
  layout.cgroup1_parent = p.v1;
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
  if (!ReadText(parent + "/cgroup.subtree_control", &subtree) || !HasWord(subtree, "memory", ' ')) {
    WriteText(parent + "/cgroup.subtree_control", "+memory");
  }
  return MakeDir(dir) && WriteLimit2(dir, bytes);
}

bool MemoryLimits::WriteLimit2(const std::string& dir, int64_t bytes) {
  if (!WriteText(dir + "/memory.max", std::to_string(bytes))) return false;
  WriteText(dir + "/memory.swap.max", "0");   // optional: absent without swap accounting
  WriteText(dir + "/memory.oom.group", "1");  // optional: kill the whole instance on OOM
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
  bool ok = WriteText(dir + "/memory.limit_in_bytes", value);
  WriteText(dir + "/memory.memsw.limit_in_bytes", value);  // optional (swap accounting)
  if (!ok) ok = WriteText(dir + "/memory.limit_in_bytes", value);
  return ok;
}

int64_t MemoryLimits::OomCount(LimitEnforcer e, const std::string& dir) {
  std::string text;
  if (e == LimitEnforcer::kCgroup2) {
    return ReadText(dir + "/memory.events", &text) ? KeyedValue(text, "oom_kill") : -1;
  }
  if (e == LimitEnforcer::kCgroup1) {
    int64_t v = ReadText(dir + "/memory.oom_control", &text) ? KeyedValue(text, "oom_kill") : -1;
    if (v < 0 && ReadText(dir + "/memory.failcnt", &text)) v = std::atoll(text.c_str());
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
    // Not empty: kill what is left of the instance (setsid() daemons included).
    cgroupfs::RemoveKilling(InstanceDir(*parent, instance_id));
  }
}

}  // namespace tide
