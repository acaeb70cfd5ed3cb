// WritePrivateFile: writes a small secret file (a token, a node credential) so that no reader
// ever sees half of it and nobody but the owner can read it: a temp file created with mode 0600
// (O_EXCL, O_NOFOLLOW), written, fsync'ed, then renamed over `path`. Used by tided for its
// generated tokens and by the agent for its node credential.
// Thread-safety: concurrent calls for the same path race on PATH.tmp; callers serialize them.
#pragma once

#include <string>

#include "api/status.h"

namespace tide {

Status WritePrivateFile(const std::string& path, const std::string& content);

}  // namespace tide
