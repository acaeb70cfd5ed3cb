// Private data directories: a data directory is 0700 and every file in it
// 0600, so the store, tokens, instance records and logs are readable by their owner only.
//
// MakePrivateDir creates `dir` (and missing parents) and then tightens what is already there,
// so an install made before this rule is fixed at its next start: every directory below `dir`
// loses its group/other bits down to 0700 (the owner's bits are kept), every regular file down
// to 0600. Symbolic links are neither followed nor changed. A file that vanishes meanwhile is
// fine; failing to create or tighten `dir` itself is an error naming it.
//
// Processes that create files in such a directory should also run with umask 077 (tided and
// tide-agent set it at start), so new files are private from their first byte.
// Not thread-safe against concurrent renames in the same tree; call it at start.
#pragma once

#include <string>

#include "api/status.h"

namespace tide {

Status MakePrivateDir(const std::string& dir);

}  // namespace tide
