#include "daemon/control/secret_env.h"

namespace tide {

std::string ResolveSecretEnv(const WorkloadSpec& spec,
                             const std::map<std::string, StringMap>& secrets, StringMap* out) {
  out->clear();
  std::string missing;
  for (const auto& [env, ref] : spec.secret_env) {
    auto s = secrets.find(ref.name);
    std::string why;
    if (s == secrets.end()) {
      why = "secret \"" + ref.name + "\" does not exist";
    } else if (auto v = s->second.find(ref.key); v != s->second.end()) {
      (*out)[env] = v->second;
      continue;
    } else {
      std::string keys;
      for (const auto& [k, unused] : s->second) keys += (keys.empty() ? "" : ", ") + k;
      why = "secret \"" + ref.name + "\" has no key \"" + ref.key +
            "\" (it has: " + (keys.empty() ? "no keys" : keys) + ")";
    }
    if (missing.empty()) missing = "env " + env + ": " + why;
  }
  return missing;
}

}  // namespace tide
