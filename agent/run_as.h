// RunAs: who an instance runs as, resolved on the node before the launch (agent/spawn.h then
// switches to it in the child: supplementary groups, then gid, then uid, before exec).
//
// Policy (docs/security.md):
//   - The user is spec.user, else the node's default user (tide-agent --default-user); an empty
//     default means "the agent's own user, no switch" (tided's local agent on a dev machine).
//   - uid 0 is refused unless the node allows root (--allow-root), whether it came from the
//     manifest, from the node's default, or from the agent itself (no default, agent is root).
//   - An agent that is not root cannot switch users: a user other than its own is refused with
//     a message saying so, instead of failing later in the child with EPERM.
//   - Names are looked up with getpwnam_r here, in the agent, never in the child (which must not
//     allocate or take locks). NAME takes its passwd entry's group and its supplementary groups
//     (getgrouplist); UID takes its passwd entry's group when there is one, else the same number;
//     UID:GID has no supplementary groups.
// Every refusal is a Status whose message starts with "spec.user" and names the user and why.
// Thread-safe (only reentrant lookups).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "api/status.h"

namespace tide {

struct RunAs {
  bool switch_user = false;  // false: the child keeps the agent's credentials
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, set with setgroups (may be empty)
};

struct RunAsPolicy {
  std::string default_user;  // "" = the agent's own user
  bool allow_root = false;
};

// Resolves `user` (spec.user; "" = the policy's default) for an agent whose effective uid is
// `agent_euid` (geteuid() in production; injected by tests).
Status ResolveRunAs(const std::string& user, const RunAsPolicy& policy, uid_t agent_euid,
                    RunAs* out);

}  // namespace tide
