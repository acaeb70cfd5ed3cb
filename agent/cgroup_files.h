// One home for the cgroup file-system chores that agent/limits.h (memory) and
// agent/pids_limit.h (task counts) share: reading and writing control files, making
// directories, and finding where the agent's instance cgroups go in each hierarchy.
//
// Thread-safety: plain functions on the file system; any thread.
#pragma once

#include <string>

namespace tide::cgroupfs {

bool ReadText(const std::string& path, std::string* out);
// One write(2) of the whole value, as cgroup files expect; errno is that of the write.
bool WriteText(const std::string& path, const std::string& value);
bool MakeDir(const std::string& path);   // 0755; an existing one is fine
bool MakeDirs(const std::string& path);  // and its parents
// True when `word` is one of text's items separated by `sep` (trailing spaces/newlines ignored).
bool HasWord(const std::string& text, const std::string& word, char sep);

// Removes the cgroup directory `dir` if it exists; when processes are left in it, kills them
// (cgroup.kill on v2 5.14+, else SIGKILL to what cgroup.procs lists, read again until it is
// empty: a process forking meanwhile shows up in the next read) and waits briefly (at most
// about 0.5 s) for the kernel to let go. Best effort.
void RemoveKilling(const std::string& dir);

// Where instance cgroups go for one controller: <agent's own cgroup>/tide in the v2 hierarchy
// (only when `controller` is enabled in that cgroup's subtree_control) and in the v1 hierarchy
// that carries `controller`. "" where there is none. Read from proc_root's
// self/mountinfo and self/cgroup; require_listed: a hierarchy counts only when self/cgroup
// lists the agent in it.
struct TideParents {
  std::string v2, v1;
};
TideParents FindTideParents(const std::string& proc_root, const std::string& controller,
                            bool require_listed);

}  // namespace tide::cgroupfs
