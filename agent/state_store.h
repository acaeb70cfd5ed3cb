// StateStore: the agent's durable state, i.e. what it needs after its own restart to re-adopt
// the instances that kept running (pid + process start time, port, phase, restarts, the
// assignment). The Supervisor is the only writer and reader; it saves the whole state in the
// same Tick as any change re-adoption depends on, and at most once a second otherwise.
//
// Contract of every implementation:
//  - Save(state) replaces the saved state as a whole, atomically: a later Load sees either the
//    previous state or this one, never a mix or a torn write, whenever the process or the
//    machine stops. On error the previous state is still what Load returns.
//  - Load() of a store that never saved anything answers Ok with an empty state (first start).
//    Saved state that cannot be read or decoded is an error naming where it is, never an empty
//    state: starting empty would forget running processes (they would be started twice).
//
// FileStateStore keeps the state in DIR/instances.json (the snapshot) and DIR/instances.journal:
//  - A snapshot save writes DIR/instances.json.tmp (mode 0600), fsyncs it, renames it over
//    DIR/instances.json and fsyncs DIR, so the rename itself survives a power cut. DIR is
//    created with mode 0700 when missing (an existing DIR keeps the mode its owner gave it).
//    Each snapshot carries a random "journal" id; the journal is emptied after it is written.
//  - Every other save appends ONE line to the journal, holding only the records that changed
//    since the previous save and the ids removed, tagged with the snapshot's id: a cold
//    start's first save costs one small append, not the rewrite of the whole document and two
//    fsyncs (issue 13). The line is written before Save returns (it is in the kernel's page
//    cache, so a crash of the process, kill -9 included, loses nothing) and fdatasynced on the
//    store's syncer thread right after, off the caller's path: an fdatasync on a busy disk
//    costs milliseconds, and what it adds is durability against a crash of the machine, after
//    which no instance process is left to re-adopt. Lines a machine crash loses are the last
//    ones (a torn last line is skipped, below). A failed fdatasync makes the next save a
//    snapshot, which syncs before it returns. A save is a snapshot when this store has not
//    written one yet (the first save after a start), when the journal passed kMaxJournalBytes,
//    or when more than half of at least kMinSnapshotRecords records changed. Which records
//    changed is told by a digest of each as last saved (Digest, 128 bits), not its text; a
//    snapshot is written a piece at a time (WriteSnapshot), never held whole in memory.
//  - Load reads the snapshot and applies, in order, the journal lines that carry its id (lines
//    of an earlier snapshot are stale and skipped). A last line that does not decode is a save
//    that never completed (its Save did not return Ok, so nothing it holds was reported; or a
//    machine crash cut it, and no process it names survived that) and is skipped; any other line
//    that does not decode makes the state unreadable (Invalid). A failed append is cut off again
//    (ftruncate) and the next save is a snapshot. The journal is opened for each append and only a
//    snapshot creates it: a journal that went away fails the append.
//  - Both files are JSON: {"node", "specs": [assignment specs, each once], "instances": [{"id",
//    "specRef", "status", "phase", "startTime", "removing", "relaunchCounts"}]} (the shared-spec
//    form of api/json.h); a journal line adds "journal" (the snapshot's id) and "removed" (ids).
//    Files of earlier versions, with each record's "assignment" inline and no "specs", are read
//    too.
// MemoryStateStore keeps it in memory, for tests; it can be told to fail its next saves.
//
// Thread-safety: none; the caller serializes calls on one store (FileStateStore's syncer
// thread is its own).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/model.h"
#include "api/status.h"
#include "api/text_digest.h"

namespace tide {

// Where an instance's state machine is: waiting to (re)start, has a process, or final.
enum class InstancePhase { kWaiting, kRunning, kDone };
const char* InstancePhaseName(InstancePhase p);  // "waiting" | "running" | "done"

// One instance on this node, as saved.
struct SavedInstance {
  InstanceAssignment assignment;
  InstanceStatus status;  // last known status: pid, port, restarts, generation, state, ...
  InstancePhase phase = InstancePhase::kWaiting;
  uint64_t start_time = 0;       // the process's start time (/proc); with status.pid its identity
  bool removing = false;         // no longer desired: being stopped
  bool relaunch_counts = false;  // the next successful launch counts as a restart
};

struct AgentState {
  std::string node;
  std::vector<SavedInstance> instances;
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual Status Save(const AgentState& state) = 0;
  virtual Status Load(AgentState* out) = 0;
  // Where the state lives, for messages (a path, or "memory").
  virtual std::string Where() const = 0;
};

class FileStateStore final : public StateStore {
 public:
  // datasync makes an appended line durable (nullptr: ::fdatasync); tests pass a slow one.
  explicit FileStateStore(std::string dir, std::function<int(int fd)> datasync = nullptr);
  ~FileStateStore() override;  // syncs the lines not yet synced, then stops the syncer
  FileStateStore(const FileStateStore&) = delete;
  FileStateStore& operator=(const FileStateStore&) = delete;
  Status Save(const AgentState& state) override;
  Status Load(AgentState* out) override;
  std::string Where() const override { return path_; }

  // Past this size the next save writes a snapshot instead of appending.
  static constexpr size_t kMaxJournalBytes = 256 * 1024;
  // A save that changes more than half of at least this many records writes a snapshot.
  static constexpr size_t kMinSnapshotRecords = 16;
  // Saves so far that were snapshots / journal appends (for tests and tools).
  int snapshots() const { return snapshots_; }
  int appends() const { return appends_; }
  // Waits until every line appended so far is synced; false when an fdatasync failed.
  bool Flush();
  // A saved record's digest (api/text_digest.h, of its encoding), kept instead of its text.
  using Digest = TextDigest;

 private:
  Status SaveSnapshot(const AgentState& state, std::map<std::string, Digest> encoded);
  Status Append(const AgentState& state, std::map<std::string, Digest> encoded);

  std::string dir_;
  std::string path_;
  std::string journal_path_;
  uint64_t journal_id_ = 0;  // of the snapshot this store wrote; 0: none yet
  size_t journal_bytes_ = 0;
  std::map<std::string, Digest> saved_;  // id -> digest of its record as last saved
  int snapshots_ = 0, appends_ = 0;
  class Syncer;  // the thread that fdatasyncs appended lines, started by the first append
  std::function<int(int)> datasync_;
  std::unique_ptr<Syncer> syncer_;
};

class MemoryStateStore final : public StateStore {
 public:
  Status Save(const AgentState& state) override;
  Status Load(AgentState* out) override;
  std::string Where() const override { return "memory"; }

  // The next `n` saves fail with `error` and leave the saved state as it was.
  void FailSaves(int n, Status error);
  // Makes the saved state unreadable: Load fails until the next successful Save.
  void Corrupt() { corrupt_ = true; }
  int saves() const { return saves_; }  // successful saves so far
  const std::optional<AgentState>& saved() const { return saved_; }

 private:
  std::optional<AgentState> saved_;
  bool corrupt_ = false;
  int fail_saves_ = 0;
  Status fail_with_ = Status::Ok();
  int saves_ = 0;
};

// The file form described above; exposed for tests and tools.
std::string EncodeAgentState(const AgentState& state);
Status DecodeAgentState(const std::string& text, AgentState* out);

}  // namespace tide
