// ResolveSecretEnv: the values a workload's secret env refers to (spec.secret_env), looked up
// in the secrets' data. Pure; thread-safe.
//
// A reference to a Secret or key that does not exist leaves that variable out and makes the
// answer a message naming the first such reference (never a value), e.g.
//   env DB_PASSWORD: secret "db" does not exist
//   env DB_PASSWORD: secret "db" has no key "password" (it has: user)
// The control plane does not place an instance while the message is not empty (its pending
// reason and a FailedScheduling event show it): Kubernetes accepts such a workload too and
// keeps its pods from starting (CreateContainerConfigError) until the Secret appears.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "api/model.h"

namespace tide {

// The start of the pending reason of an instance held for a missing Secret; the workload's
// Scheduled condition then has reason SecretMissing.
inline constexpr std::string_view kWaitingForSecret = "waiting for a Secret: ";

std::string ResolveSecretEnv(const WorkloadSpec& spec,
                             const std::map<std::string, StringMap>& secrets, StringMap* out);

}  // namespace tide
