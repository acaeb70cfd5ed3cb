// Safe decoding of the JSON request bodies tided's REST API accepts (docs/api.md, including the
// agent protocol), for input that may be hostile.
//
// Each Decode* function parses `body` completely and checks every field it reads: its JSON type,
// its range, string lengths and element counts. It never throws and never reads out of range,
// whatever the bytes. On failure it returns Status::Invalid whose message names the field, e.g.
// "node.capacity.cpu: expected a number" or "instances[3].port: must be between 0 and 65535"
// (Status::TooLarge when the body or a count exceeds the caps below), and leaves the outputs in
// an unspecified but valid state. On success the outputs hold the decoded values; fields that
// are absent or null keep the defaults of api/model.h. Unknown members are ignored (forward
// compatibility); output-only members of GET answers (e.g. "startedAt") are ignored too.
//
// Compared with api/json.h's from_json (lenient, for trusted peers), these decoders are strict
// about types: a string where a number belongs is an error, never a silent default or a throw.
// Identifiers are required: the register body's node.name, the report's node and every
// instance's id must be non-empty strings.
//
// Pure functions over their arguments; thread-safe.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/model.h"
#include "api/status.h"

namespace tide {

inline constexpr size_t kMaxWireBodyBytes = 256u * 1024 * 1024;  // any decoded body
inline constexpr int kMaxWireDepth = 64;                         // nesting of arrays and objects
inline constexpr size_t kMaxWireInstances = 100000;   // instances in one register or report
inline constexpr size_t kMaxWireMapEntries = 1000;    // labels
inline constexpr size_t kMaxWireStringBytes = 65536;  // any string except file content
inline constexpr size_t kMaxWireFiles = 1000;         // files in one apply
inline constexpr int kMaxWireReplicas = 10000;

// POST /v1/agent/register: {"node":{NodeInfo},"instances":[InstanceStatus...]} ("instances"
// optional). `instances` may be null when the caller does not want them.
Status DecodeRegisterBody(std::string_view body, NodeInfo* node,
                          std::vector<InstanceStatus>* instances);

// POST /v1/agent/status: {"node":"name","instances":[InstanceStatus...]}.
Status DecodeNodeReport(std::string_view body, NodeReport* report);
// The same, keeping the parsed document in *parsed (the report delta's fields are read from it:
// api/agent_delta.h DecodeReportDelta), so a heartbeat is parsed once.
Status DecodeNodeReport(std::string_view body, NodeReport* report, nlohmann::json* parsed);

// PUT /v1/workloads/{name}/scale: {"replicas": N}, N an integer in 0..kMaxWireReplicas.
Status DecodeScaleBody(std::string_view body, int* replicas);

// POST /v1/apply with Content-Type application/vnd.tide.files+json:
// {"files":[{"name":"a.yaml","content":"..."}...]}. Each file is (name, content); "content" is a
// required string of at most kMaxManifestBytes (api/manifest.h); "name" is an optional string
// without control characters, "<body>" when absent or empty.
Status DecodeFilesBody(std::string_view body,
                       std::vector<std::pair<std::string, std::string>>* files);

}  // namespace tide
