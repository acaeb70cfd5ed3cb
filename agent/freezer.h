// InstanceFreezer: the frozen tier on one node (spec.keepAlive, docs/manifests.md). Freezing an
// instance stops every process of it where it stands: no CPU, memory kept, sockets open (the
// kernel still queues connections to its port), so a thaw is one write and the next request is
// answered by the same warm process.
//
// Mechanisms, first that applies (found at run time, nothing assumed about the host):
//   cgroup2: the instance's own v2 cgroup (agent/limits.h puts it there when v2 has the memory
//            controller): `cgroup.freeze` 1 / 0.
//   cgroup1: the v1 freezer hierarchy: the instance's processes (listed by its v1 memory cgroup)
//            are moved into <own freezer cgroup>/tide/<instance>, then `freezer.state` FROZEN /
//            THAWED. Children forked later are born in that cgroup.
//   signal:  SIGSTOP / SIGCONT to the instance's process group.
//
// Who decides: the gateway (daemon/gateway/freeze_policy.h) sees every request, so it freezes
// an instance only with no request in flight and thaws it on the way to the next one; it calls
// this class directly for the in-process agent (no HTTP, no agent lock on the thaw path) and
// through the agent API (`POST /v1/instances/{id}/freeze|thaw`) for remote ones. The frozen set
// lives here; the supervisor asks IsFrozen to skip probes, and the agent reports it
// (InstanceStatus::frozen) so the autoscaler does not count frozen instances as capacity.
//
// The v1 freezer's thaw, fast: since Linux 6.1 the kernel keeps a static key, on while any v1
// freezer cgroup is frozen, and turning it on or off patches kernel code on every CPU (IPIs:
// 1.3-1.7 ms per thaw measured in a Firecracker VM, kernel 6.18, where the whole thaw-to-answer
// target is 1 ms). So the first v1 freeze also freezes an empty cgroup of its own,
// <v1 freezer parent>/_hold (no instance id starts with '_'), and leaves it frozen: an instance's
// freeze and thaw then move the key's count between 1 and 2, with no patching (thaw write 1.67
// to 0.32 ms there). It holds no process and is left in place at stop (every agent on the host
// shares it; removing it is harmless, the next v1 freeze makes it again). cgroup v2's freeze
// does not use that key.
//
// Restarts: nothing of the frozen set is saved. ThawLeftovers() at agent start thaws every
// instance of this agent's that a previous run left frozen (their freezer cgroups, and SIGCONT
// to their process groups), so no instance stays frozen with nobody to thaw it. Only its own:
// the tide parents are shared by every agent on the host (a test machine runs several), and
// another agent's frozen instance is that agent's to thaw.
//
// Thread-safety: every method is thread-safe (one mutex, held across the one or two file writes
// of a freeze or thaw, so calls for an instance apply in the order they were made).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent/limits.h"
#include "api/status.h"

namespace tide {

struct FreezerPaths {
  std::string v2_parent;          // instance v2 cgroups (MemoryLimits' cgroup2_parent); "" = none
  std::string v1_freezer_parent;  // <v1 freezer hierarchy>/<own>/tide; "" = no v1 freezer
  std::string v1_member_parent;   // where an instance's processes are listed (v1 memory parent)
};
// From the memory layout (agent/limits.h) and proc_root's mountinfo/cgroup for the freezer.
FreezerPaths DetectFreezerPaths(const CgroupLayout& memory, const std::string& proc_root = "/proc");

class InstanceFreezer {
 public:
  explicit InstanceFreezer(FreezerPaths paths);

  // Freezes instance `id`, whose process group leader is `pid`. Idempotent. An error leaves it
  // running (and not frozen).
  Status Freeze(const std::string& id, int pid);
  // Thaws it. OK when it was not frozen (an agent restart thawed it). NotFound when its process
  // is gone or dies as it thaws (killed while frozen): the caller sends the request elsewhere.
  Status Thaw(const std::string& id);
  bool IsFrozen(const std::string& id) const;
  // "cgroup2" | "cgroup1" | "signal": how Freeze would freeze this instance now.
  std::string MethodFor(const std::string& id) const;
  // The instance is stopping or gone: thawed (a frozen process cannot act on SIGTERM, and a v1
  // frozen one not even on SIGKILL) and, with gone, its freezer cgroup removed.
  void Release(const std::string& id, bool gone);
  // At agent start, for the instances it re-adopted: thaws their freezer cgroups and sends
  // SIGCONT to their process groups. Returns how many freezer cgroups were thawed.
  struct Leftover {
    std::string id;
    int pid = 0;
  };
  int ThawLeftovers(const std::vector<Leftover>& own);

  const FreezerPaths& paths() const { return paths_; }
  // The empty v1 freezer cgroup kept frozen (above), under paths().v1_freezer_parent.
  static constexpr const char* kV1HoldCgroup = "_hold";

 private:
  enum class Method { kCgroup2, kCgroup1, kSignal };
  struct Frozen {
    Method method;
    int pid;
  };
  Method MethodLocked(const std::string& id) const;
  bool MoveIntoFreezer(const std::string& id, const std::string& dir);
  bool ThawLocked(const std::string& id, const Frozen& f);
  void HoldV1FreezerLocked();  // the frozen empty _hold cgroup (above), once

  bool held_ = false;  // mu_: _hold was frozen by this object

  const FreezerPaths paths_;
  mutable std::mutex mu_;
  std::map<std::string, Frozen> frozen_;
};

}  // namespace tide
