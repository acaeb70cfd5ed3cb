#include "agent/freezer.h"

#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>

#include "agent/cgroup_files.h"

namespace tide {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

// Whether process `pid` is gone or about to be: no /proc entry, a zombie, or SIGKILL pending
// (a process killed while frozen by the v1 freezer dies only once thawed).
bool Doomed(int pid) {
  std::string status;
  if (pid <= 0 || !cgroupfs::ReadText("/proc/" + std::to_string(pid) + "/status", &status))
    return true;
  std::istringstream in(status);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("State:") && line.find('Z') != std::string::npos) return true;
    if (line.starts_with("SigPnd:") || line.starts_with("ShdPnd:")) {
      const unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
      if (mask & (1ULL << (SIGKILL - 1))) return true;
    }
  }
  return false;
}

}  // namespace

FreezerPaths DetectFreezerPaths(const CgroupLayout& memory, const std::string& proc_root) {
  FreezerPaths p;
  p.v2_parent = memory.cgroup2_parent;
  p.v1_member_parent = memory.cgroup1_parent;
  if (!p.v1_member_parent.empty())
    p.v1_freezer_parent = cgroupfs::FindTideParents(proc_root, "freezer", true).v1;
  return p;
}

InstanceFreezer::InstanceFreezer(FreezerPaths paths) : paths_(std::move(paths)) {}

InstanceFreezer::Method InstanceFreezer::MethodLocked(const std::string& id) const {
  if (!paths_.v2_parent.empty() &&
      Exists(MemoryLimits::InstanceDir(paths_.v2_parent, id) + "/cgroup.freeze"))
    return Method::kCgroup2;
  std::string procs;
  if (!paths_.v1_freezer_parent.empty() && !paths_.v1_member_parent.empty() &&
      cgroupfs::ReadText(MemoryLimits::InstanceDir(paths_.v1_member_parent, id) + "/cgroup.procs",
                         &procs) &&
      !Lines(procs).empty())
    return Method::kCgroup1;
  return Method::kSignal;
}

std::string InstanceFreezer::MethodFor(const std::string& id) const {
  std::lock_guard lock(mu_);
  switch (MethodLocked(id)) {
    case Method::kCgroup2:
      return "cgroup2";
    case Method::kCgroup1:
      return "cgroup1";
    case Method::kSignal:
      break;
  }
  return "signal";
}

// Moves every process the instance's memory cgroup lists into its freezer cgroup. Those forked
// meanwhile by a process not moved yet are caught by the next pass.
bool InstanceFreezer::MoveIntoFreezer(const std::string& id, const std::string& dir) {
  const std::string members = MemoryLimits::InstanceDir(paths_.v1_member_parent, id);
  std::set<std::string> moved;
  for (int pass = 0; pass < 3; ++pass) {
    std::string procs;
    if (!cgroupfs::ReadText(members + "/cgroup.procs", &procs)) return false;
    bool any = false;
    for (const auto& pid : Lines(procs)) {
      if (!moved.insert(pid).second) continue;
      any = true;
      // A process that exited in between cannot be moved (ESRCH): nothing to freeze.
      if (!cgroupfs::WriteText(dir + "/cgroup.procs", pid) && errno != ESRCH) return false;
    }
    if (!any) return true;
  }
  return true;
}

Status InstanceFreezer::Freeze(const std::string& id, int pid) {
  if (pid <= 0) return Status::Invalid("instance " + id + " has no process to freeze");
  std::lock_guard lock(mu_);
  if (frozen_.count(id)) return Status::Ok();
  const Method m = MethodLocked(id);
  bool ok = false;
  if (m == Method::kCgroup2) {
    ok = cgroupfs::WriteText(MemoryLimits::InstanceDir(paths_.v2_parent, id) + "/cgroup.freeze",
                             "1");
  } else if (m == Method::kCgroup1) {
    HoldV1FreezerLocked();
    const std::string dir = MemoryLimits::InstanceDir(paths_.v1_freezer_parent, id);
    ok = cgroupfs::MakeDirs(dir) && MoveIntoFreezer(id, dir) &&
         cgroupfs::WriteText(dir + "/freezer.state", "FROZEN") && MoveIntoFreezer(id, dir);
    if (!ok) cgroupfs::WriteText(dir + "/freezer.state", "THAWED");
  } else {
    ok = ::kill(-pid, SIGSTOP) == 0;
  }
  if (!ok) {
    return Status::Internal("cannot freeze instance " + id + ": " + std::strerror(errno));
  }
  frozen_[id] = Frozen{m, pid};
  return Status::Ok();
}

void InstanceFreezer::HoldV1FreezerLocked() {
  if (held_ || paths_.v1_freezer_parent.empty()) return;
  // Best effort: without it a thaw is only slower.
  const std::string dir = paths_.v1_freezer_parent + "/" + kV1HoldCgroup;
  held_ = cgroupfs::MakeDirs(dir) && cgroupfs::WriteText(dir + "/freezer.state", "FROZEN");
}

bool InstanceFreezer::ThawLocked(const std::string& id, const Frozen& f) {
  switch (f.method) {
    case Method::kCgroup2:
      return cgroupfs::WriteText(MemoryLimits::InstanceDir(paths_.v2_parent, id) + "/cgroup.freeze",
                                 "0");
    case Method::kCgroup1:
      return cgroupfs::WriteText(
          MemoryLimits::InstanceDir(paths_.v1_freezer_parent, id) + "/freezer.state", "THAWED");
    case Method::kSignal:
      return ::kill(-f.pid, SIGCONT) == 0 || errno == ESRCH;
  }
  return false;
}

Status InstanceFreezer::Thaw(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = frozen_.find(id);
  if (it == frozen_.end()) return Status::Ok();
  const Frozen f = it->second;
  const bool doomed = Doomed(f.pid);
  if (!ThawLocked(id, f) && !doomed) {
    return Status::Internal("cannot thaw instance " + id + ": " + std::strerror(errno));
  }
  frozen_.erase(it);
  if (doomed) return Status::NotFound("instance " + id + " ended while frozen");
  return Status::Ok();
}

bool InstanceFreezer::IsFrozen(const std::string& id) const {
  std::lock_guard lock(mu_);
  return frozen_.count(id) > 0;
}

void InstanceFreezer::Release(const std::string& id, bool gone) {
  std::lock_guard lock(mu_);
  if (auto it = frozen_.find(id); it != frozen_.end()) {
    ThawLocked(id, it->second);
    frozen_.erase(it);
  }
  if (gone && !paths_.v1_freezer_parent.empty()) {
    cgroupfs::RemoveKilling(MemoryLimits::InstanceDir(paths_.v1_freezer_parent, id));
  }
}

int InstanceFreezer::ThawLeftovers(const std::vector<Leftover>& own) {
  std::lock_guard lock(mu_);
  int thawed = 0;
  for (const Leftover& l : own) {
    if (l.id.empty()) continue;
    if (!paths_.v1_freezer_parent.empty()) {
      const std::string dir = MemoryLimits::InstanceDir(paths_.v1_freezer_parent, l.id);
      std::string state, procs;
      if (cgroupfs::ReadText(dir + "/freezer.state", &state) && !state.starts_with("THAWED") &&
          cgroupfs::WriteText(dir + "/freezer.state", "THAWED")) {
        // Counted when processes were in it (an empty one is a stopped instance's leftover).
        thawed += cgroupfs::ReadText(dir + "/cgroup.procs", &procs) && !procs.empty() ? 1 : 0;
      }
    }
    if (!paths_.v2_parent.empty()) {
      const std::string file = MemoryLimits::InstanceDir(paths_.v2_parent, l.id) + "/cgroup.freeze";
      std::string state;
      if (cgroupfs::ReadText(file, &state) && state.starts_with("1")) {
        thawed += cgroupfs::WriteText(file, "0") ? 1 : 0;
      }
    }
    if (l.pid > 0) ::kill(-l.pid, SIGCONT);
  }
  frozen_.clear();
  return thawed;
}

}  // namespace tide
