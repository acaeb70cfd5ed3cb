// Build identity, shown by `tidectl version` and GET /v1/version.
#pragma once

namespace tide {
inline constexpr const char* kTideVersion = TIDE_VERSION;
inline constexpr const char* kTideGitCommit = TIDE_GIT_COMMIT;
}  // namespace tide
