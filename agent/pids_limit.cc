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

#include "agent/cgroup_files.h"

namespace tide {
namespace {

using cgroupfs::HasWord;
using cgroupfs::MakeDirs;
using cgroupfs::ReadText;
using cgroupfs::WriteText;

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
  cgroupfs::TideParents p = cgroupfs::FindTideParents(proc_root, "pids", true);
  PidsLayout layout;
  layout.cgroup2_parent = p.v2;
  layout.cgroup1_parent = p.v1;
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
    // Forking within the cgroup stops at pids.max, so killing converges even against a fork
    // bomb; bounded all the same.
    cgroupfs::RemoveKilling(MemoryLimits::InstanceDir(*parent, instance_id));
  }
}

std::string PidsLimits::Describe() const {
  if (!layout_.cgroup2_parent.empty()) return "cgroup2 (" + layout_.cgroup2_parent + ")";
  if (!layout_.cgroup1_parent.empty()) return "cgroup1 (" + layout_.cgroup1_parent + ")";
  return "rlimit (RLIMIT_NPROC)";
}

}  // namespace tide
