#include "api/version.h"

namespace tide {
const char* const kTideVersion = TIDE_VERSION;
const char* const kTideGitCommit = TIDE_GIT_COMMIT;
}  // namespace tide
