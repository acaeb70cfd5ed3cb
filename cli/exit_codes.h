// tidectl exit codes (docs/cli.md) and the mapping from a client call's outcome to one.
// Header-only, pure.
#pragma once

#include "api/client.h"

namespace tide::cli {

inline constexpr int kExitOk = 0;           // done
inline constexpr int kExitFailed = 1;       // refused or failed (server's message on stderr)
inline constexpr int kExitUsage = 2;        // bad command line
inline constexpr int kExitUnreachable = 3;  // no HTTP answer from the server

// ok -> 0; no answer at all -> 3; an answer that refused (any non-2xx) -> 1; a request that
// could not be formed (bad server URL) -> 2.
inline int ExitCodeFor(const Status& s, const Response& r) {
  if (s.ok()) return kExitOk;
  if (!r.reached) return s.code() == Status::Code::kInvalid ? kExitUsage : kExitUnreachable;
  return kExitFailed;
}

}  // namespace tide::cli
