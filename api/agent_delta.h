// Deltas of the agent protocol, shared by tided and the agent (docs/api.md "Agent protocol"): an
// assignments answer carries only what changed since the version the agent acknowledged (the
// `after` it asks with), when tided still remembers what it sent at that version; otherwise the
// full set (a resync: after a tided restart, a version gap, or an agent that never had a set).
// Pure: no clock, no I/O.
//
//  - SetDigest: what a node was sent at one version, id -> a hash of the assignment's wire form.
//  - ComputeAssignmentDelta: from the digest of the acknowledged version (nullptr: unknown) and
//    the current set, the answer: full, or the new and changed assignments plus removed ids.
//  - ApplyAssignmentDelta (the agent's side): the new full set from the one it holds; an error
//    when the delta's base is not the version it holds (the agent then asks for a full set).
//  - AssignmentAnswerJson / DecodeAssignmentAnswer: the wire form, the shared-spec form of
//    api/json.h plus, for a delta, "base" and "removed". A full answer is exactly the form
//    older agents read; only agents that ask with `delta=true` ever get a delta.
//  - DeltaHistory: the digests of the last kVersionsPerNode versions sent to each node, bounded
//    in nodes too (the oldest-touched node is forgotten first: it resyncs with a full set).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "api/model.h"
#include "api/status.h"
#include "api/text_digest.h"

namespace tide {

using SetDigest = std::map<std::string, uint64_t>;  // instance id -> hash of its assignment

uint64_t AssignmentHash(const InstanceAssignment& a);  // of its JSON wire form
SetDigest DigestOf(const std::vector<InstanceAssignment>& set);

struct AssignmentDelta {
  bool full = true;  // true: `upserts` is the whole set, `base` and `removed` are unused
  int64_t base = -1;
  int64_t version = 0;
  std::vector<InstanceAssignment> upserts;  // new or changed (full: all)
  std::vector<std::string> removed;         // ids no longer assigned (sorted)
};

// `base_digest` is what was sent at `base` (nullptr when unknown: the answer is full).
AssignmentDelta ComputeAssignmentDelta(const SetDigest* base_digest, int64_t base,
                                       const AssignmentSet& now);

// Applies `d` to `*set` (held at version `*version`); on success both are the new state.
// Invalid (and nothing changed) when d is a delta on another base.
Status ApplyAssignmentDelta(const AssignmentDelta& d, std::vector<InstanceAssignment>* set,
                            int64_t* version);

// {"version", "specs", "instances"[, "base", "removed"]}
nlohmann::json AssignmentAnswerJson(const AssignmentDelta& d);
// Never throws; Invalid with the reason for a malformed answer.
Status DecodeAssignmentAnswer(const nlohmann::json& j, AssignmentDelta* out);

// ---- reports (agent -> tided) ----
// A heartbeat carries "seq" (increasing per agent run) and, once tided has acknowledged an
// earlier one, "base" (that seq): then "instances" lists only the statuses that changed since
// base and "gone" the ids no longer run. Without "base" the report is complete. tided answers
// {"ok":true,"seq":S} (acknowledged) or {"ok":true,"resync":true} (it does not hold `base`: a
// restart, a lost answer; the next report is complete).
struct ReportDeltaState {
  using Digest = TextDigest;  // of a status's fields (agent_delta.cc)
  int64_t next_seq = 1;
  int64_t acked = -1;                    // the seq tided acknowledged (-1: none)
  std::map<std::string, Digest> at_ack;  // what it held then, by instance id
  int64_t pending = -1;                  // the seq of the report in flight
  std::map<std::string, Digest> sent;    // what that report brings tided to
};
// The next report's body (JSON text) for `now` (a complete one when nothing is acknowledged).
std::string NextReport(const std::string& node, const std::vector<InstanceStatus>& now,
                       ReportDeltaState* st);
// tided's answer to the report in flight (status 0: no answer): acknowledged, or back to a
// complete report next time.
void OnReportAnswer(int status, const std::string& body, ReportDeltaState* st);
// tided's side: "seq", "base" (-1 when absent) and "gone" of a report body; Invalid on a
// malformed one (gone: at most max_gone ids of 1-253 characters).
Status DecodeReportDelta(const nlohmann::json& j, int64_t* seq, int64_t* base,
                         std::vector<std::string>* gone, size_t max_gone = 100000);

class DeltaHistory {
 public:
  static constexpr size_t kVersionsPerNode = 4;
  explicit DeltaHistory(size_t max_nodes = 20000) : max_nodes_(max_nodes) {}

  void Remember(const std::string& node, int64_t version, SetDigest digest);
  // What `node` was sent at `version`; nullptr when not remembered.
  const SetDigest* Find(const std::string& node, int64_t version) const;
  void Forget(const std::string& node);
  size_t nodes() const { return by_node_.size(); }

 private:
  struct PerNode {
    std::list<std::pair<int64_t, SetDigest>> versions;  // newest first
    std::list<std::string>::iterator lru;
  };
  size_t max_nodes_;
  std::map<std::string, PerNode> by_node_;
  std::list<std::string> lru_;  // most recently remembered first
};

}  // namespace tide
