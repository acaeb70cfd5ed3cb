// Instance finder: when the agent's saved state (instances.json) is corrupt, find the instances
// this node still runs from the processes themselves, so the agent re-adopts them instead of
// refusing to start or starting them a second time.
//
// FindInstances makes one pass over PROC/*: a process is one of this node's instances when
//  - its environment (PROC/PID/environ, as it was at exec; the agent sets every instance's env
//    exactly, agent/instance_env.h) has TIDE_NODE equal to `node` and a TIDE_INSTANCE id, and
//  - it leads its process group (the agent starts every instance as a group leader; what an
//    instance forks inherits its environment but not the leadership), and is not a zombie.
//  - when `logs_dir` is given, its stdout (PROC/PID/fd/1) is LOGS_DIR/ID.log, the file this
//    agent opened for it (agent/log_files.h): another agent on the host using the same node name
//    (tests, a second install) or a process merely setting the variables is not taken.
// From the same environment come the workload (TIDE_WORKLOAD) and the port (PORT); the start
// time (PROC/PID/stat field 22) completes the identity (pid, start time) re-adoption checks.
// Two leaders claiming one id (a duplicate started earlier) are both reported in `duplicates`;
// the oldest is the instance. Processes whose files cannot be read are skipped.
//
// RecoverInstanceState applies that to a data dir whose instances.json cannot be decoded: the
// corrupt file is renamed DIR/instances.json.corrupt-STAMP (kept for the operator), the found
// instances are saved as records (phase running, state Starting: re-probed, restarts 0; the spec
// comes with the next assignment set from tided), and Supervisor::Restore can then re-adopt them
// as after any restart. Log files need nothing: an instance's log path follows from its id.
//
// Pure but for reading `proc_root` and, in RecoverInstanceState, the data dir: unit tests point
// it at a fake /proc tree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/state_store.h"
#include "api/status.h"

namespace tide {

struct FoundInstance {
  std::string id;        // TIDE_INSTANCE
  std::string workload;  // TIDE_WORKLOAD
  int pid = 0;
  uint64_t start_time = 0;  // /proc/PID/stat field 22
  int port = 0;             // PORT; 0 when absent or not a number
};

struct FoundInstances {
  std::vector<FoundInstance> instances;   // one per id, ordered by id
  std::vector<FoundInstance> duplicates;  // younger leaders with an id already found
};

FoundInstances FindInstances(const std::string& proc_root, const std::string& node,
                             const std::string& logs_dir = "");

// Saved records for what was found, for `node`.
AgentState StateFromFound(const std::string& node, const std::vector<FoundInstance>& found);

// See above. *found gets what was found; *moved_to the corrupt file's new path. Errors: the
// state file cannot be read at all (nothing is moved), or it decodes (nothing to recover:
// Invalid), or moving or saving fails (the message says what happened to the file).
Status RecoverInstanceState(const std::string& data_dir, const std::string& node,
                            const std::string& proc_root, int64_t wall_ms, FoundInstances* found,
                            std::string* moved_to, const std::string& logs_dir = "");

// At every start, before Supervisor::Restore: adds to the (readable) saved state the running
// instances it does not hold, e.g. launched while saves failed (full disk) and then the agent
// was killed, and updates a record whose process was replaced by one not recorded. Without it
// they would run untracked beside a second copy. *added gets what was added or updated. Errors:
// the saved state cannot be read (the caller's Restore reports it), or the result cannot be
// saved (starting would then launch duplicates: the caller refuses to start).
Status AdoptUnrecorded(const std::string& data_dir, const std::string& node,
                       const std::string& proc_root, const std::string& logs_dir,
                       std::vector<FoundInstance>* added);

}  // namespace tide
