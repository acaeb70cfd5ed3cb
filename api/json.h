// JSON wire form of the model (nlohmann::json), camelCase field names as in manifests and
// docs/api.md. to_json writes every field (defaults filled in), so GET shows the effective spec.
// from_json is lenient about missing fields (defaults apply) and is used for trusted peers
// (agent <-> tided); user input goes through api/manifest.h, which validates strictly.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "api/model.h"

namespace tide {

using nlohmann::json;

void to_json(json& j, const Probe& p);
void from_json(const json& j, Probe& p);
void to_json(json& j, const Autoscale& a);
void from_json(const json& j, Autoscale& a);
void to_json(json& j, const WorkloadSpec& s);
void from_json(const json& j, WorkloadSpec& s);
// {apiVersion, kind, metadata, spec}; a Secret's spec is {keys: [...]}: never its values.
void to_json(json& j, const Object& o);
void from_json(const json& j, Object& o);
void to_json(json& j, const InstanceStatus& s);
void from_json(const json& j, InstanceStatus& s);
void to_json(json& j, const NodeInfo& n);
void from_json(const json& j, NodeInfo& n);
void to_json(json& j, const WorkloadStatus& s);
void from_json(const json& j, WorkloadStatus& s);
// The "status" member of a workload answer (GET /v1/workloads[/NAME]) decoded; nullopt when
// absent or malformed. Never throws: for clients (tidectl, benchmarks) that show what is there.
std::optional<WorkloadStatus> WorkloadStatusOf(const json& workload);
void to_json(json& j, const Event& e);
void from_json(const json& j, Event& e);
// Without secret_env: only to_json(AssignmentSet) and SharedAssignmentSetJson, the answers an
// agent gets, carry resolved secret values ("secretEnv"); from_json reads them.
void to_json(json& j, const InstanceAssignment& a);
void from_json(const json& j, InstanceAssignment& a);
void to_json(json& j, const AssignmentSet& a);
void from_json(const json& j, AssignmentSet& a);
// The shared-spec form of a list of assignments: every distinct (workload, kind, generation,
// spec, layers) is written once into *specs, and each instance is {"id", "specRef": index}.
// 200 replicas of one Service then carry one spec instead of 200 (about 7x smaller and cheaper
// to write and parse). Used by GET /v1/agent/assignments?specs=shared and the agent's
// instances.json. DecodeSharedAssignments is its inverse; from_json(AssignmentSet) reads both
// this form (a "specs" member) and the one with every spec inline. Throws json exceptions on a
// malformed document, like every from_json here.
// Resolved secret values (InstanceAssignment::secret_env) are written only when
// `with_secret_values` (the assignments answer to an agent; never instances.json).
json EncodeSharedAssignments(const std::vector<const InstanceAssignment*>& in, json* specs,
                             bool with_secret_values = false);
std::vector<InstanceAssignment> DecodeSharedAssignments(const json& instances, const json& specs);
json SharedAssignmentSetJson(const AssignmentSet& a);  // {"version","specs","instances"}

void to_json(json& j, const NodeReport& r);
void from_json(const json& j, NodeReport& r);

// RFC 3339 UTC with milliseconds, e.g. 2026-11-27T21:07:26.123Z; "" for 0.
std::string FormatTime(int64_t wall_ms);

}  // namespace tide
