#include "agent/run_as.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "api/user_spec.h"

namespace tide {
namespace {

// getpwnam_r / getpwuid_r with a buffer that grows on ERANGE. *found is false when there is no
// such entry; a failing lookup (e.g. NSS unreachable) is an error.
template <typename Lookup>
Status LookupPasswd(Lookup lookup, const std::string& what, passwd* pw, std::vector<char>* buf,
                    bool* found) {
  buf->resize(1024);
  for (;;) {
    passwd* result = nullptr;
    int rc = lookup(pw, buf->data(), buf->size(), &result);
    if (rc == ERANGE && buf->size() < (1u << 20)) {
      buf->resize(buf->size() * 2);
      continue;
    }
    if (rc != 0 && rc != ENOENT && rc != ESRCH && rc != EBADF && rc != EPERM) {
      return Status::Internal("spec.user " + what + ": looking it up failed: " + std::strerror(rc));
    }
    *found = result != nullptr;
    return Status::Ok();
  }
}

}  // namespace

Status ResolveRunAs(const std::string& user, const RunAsPolicy& policy, uid_t agent_euid,
                    RunAs* out) {
  *out = RunAs{};
  const bool from_default = user.empty();
  const std::string text = from_default ? policy.default_user : user;
  if (text.empty()) {  // the agent's own user, no switch
    if (agent_euid == 0 && !policy.allow_root) {
      return Status::Forbidden(
          "spec.user is not set and the node has no --default-user, so the workload would run "
          "as the agent's own user, root; give the workload a user, or set --default-user, or "
          "start the agent with --allow-root");
    }
    return Status::Ok();
  }
  const std::string what =
      "\"" + text + "\"" + (from_default ? " (the node's --default-user)" : "");
  UserSpec spec;
  std::string err;
  if (!ParseUserSpec(text, &spec, &err)) return Status::Invalid("spec.user " + what + ": " + err);

  passwd pw;
  std::vector<char> buf;
  bool found = false;
  if (!spec.name.empty()) {
    Status s = LookupPasswd([&](passwd* p, char* b, size_t n,
                                passwd** r) { return ::getpwnam_r(spec.name.c_str(), p, b, n, r); },
                            what, &pw, &buf, &found);
    if (!s.ok()) return s;
    if (!found) {
      return Status::NotFound("spec.user " + what + ": no such user on this node (create it, " +
                              "or give a numeric UID[:GID])");
    }
    out->uid = pw.pw_uid;
    out->gid = pw.pw_gid;
    int n = 32;
    std::vector<gid_t> groups(static_cast<size_t>(n));
    while (::getgrouplist(spec.name.c_str(), pw.pw_gid, groups.data(), &n) < 0) {
      if (n <= static_cast<int>(groups.size())) n = static_cast<int>(groups.size()) * 2;
      groups.resize(static_cast<size_t>(n));
    }
    groups.resize(static_cast<size_t>(n));
    out->groups = std::move(groups);
  } else {
    out->uid = static_cast<uid_t>(*spec.uid);
    if (spec.gid) {
      out->gid = static_cast<gid_t>(*spec.gid);
    } else {
      const uid_t uid = out->uid;
      Status s = LookupPasswd(
          [&](passwd* p, char* b, size_t n, passwd** r) { return ::getpwuid_r(uid, p, b, n, r); },
          what, &pw, &buf, &found);
      if (!s.ok()) return s;
      out->gid = found ? pw.pw_gid : static_cast<gid_t>(uid);
    }
  }
  if (out->uid == 0 && !policy.allow_root) {
    return Status::Forbidden("spec.user " + what +
                             ": running as root (uid 0) is refused on this node; give the "
                             "workload a user, or start the agent with --allow-root");
  }
  if (agent_euid != 0) {
    if (out->uid != agent_euid) {
      return Status::Forbidden("spec.user " + what + ": the agent runs as uid " +
                               std::to_string(agent_euid) + " and cannot switch to uid " +
                               std::to_string(out->uid) +
                               "; run the agent as root to run workloads as other users");
    }
    *out = RunAs{};  // already that user: nothing to switch
    return Status::Ok();
  }
  out->switch_user = true;
  return Status::Ok();
}

}  // namespace tide
