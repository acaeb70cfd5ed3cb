// Per-instance log files. The child's stdout and stderr are opened by the launcher straight onto
// DIR/logs/<instance>.log with O_APPEND, so output keeps flowing while the agent is down.
// Rotation is copy-then-truncate: the live file is copied to <file>.1 (older ones shift to .2 ..
// .keep) and truncated in place; the child's O_APPEND writes land at the new end. Bounded: at most
// (keep + 1) x max_bytes on disk per instance.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "api/status.h"

namespace tide {

class LogFiles {
 public:
  explicit LogFiles(std::string dir, int64_t max_bytes = 10 << 20, int keep = 2);

  // DIR/<instance_id>.log (creates DIR when needed).
  std::string PathFor(const std::string& instance_id) const;
  // Rotates when the live file is over max_bytes. Cheap when it is not (one stat).
  void RotateIfNeeded(const std::string& instance_id) const;
  // The last `tail` lines (all when tail < 0), oldest first, across rotated files.
  Status Tail(const std::string& instance_id, int tail, std::string* out) const;
  // Follows the live file from the current end (after sending the last `tail` lines), calling
  // sink with each chunk until sink returns false or stop() is true. Survives rotation.
  Status Follow(const std::string& instance_id, int tail,
                const std::function<bool(const std::string&)>& sink,
                const std::function<bool()>& stop) const;
  // Deletes the instance's live and rotated files.
  void Remove(const std::string& instance_id) const;

 private:
  std::string dir_;
  int64_t max_bytes_;
  int keep_;
};

}  // namespace tide
