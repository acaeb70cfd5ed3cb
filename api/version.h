// Build identity, shown by `tidectl version` and GET /v1/version.
#pragma once

namespace tide {
extern const char* const kTideVersion;    // e.g. "0.1.0"
extern const char* const kTideGitCommit;  // short commit hash, or "unknown"
}  // namespace tide
