// The resource types tidectl shows, their names and short names (like kubectl), and how each
// renders as a table row or an -o name line. Pure functions over the server's JSON; fields the
// server does not send show as "-". Thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/table.h"

namespace tide::cli {

using nlohmann::json;

enum class Resource {
  kWorkloads,
  kServices,
  kFunctions,
  kInstances,
  kNodes,
  kEvents,
  kLayers,
  kSecrets
};

// workloads|workload|wl, services|service|svc, functions|function|fn|func, instances|instance|
// inst, nodes|node|no, events|event|ev, layers|layer, secrets|secret. Case-insensitive.
std::optional<Resource> ParseResource(const std::string& word);
// "workloads", "services", ...
const char* ResourceName(Resource r);

// The table for a list of items of `r`; `wide` adds columns; ages are relative to `now_ms`.
Table MakeTable(Resource r, const json& items, bool wide, int64_t now_ms);
// "service/users", "instance/users-3f2a", "node/a", "event/42", "layer/common", "secret/db".
std::string ObjectName(Resource r, const json& item);
// Labels of an item for -l filtering (metadata.labels, else labels).
const json& ItemLabels(const json& item);

// The first time stamp found among the usual creation fields (metadata.creationTimestamp,
// metadata.createdAt, createdAt, status.createdAt, registeredAt, ...), or a null json.
const json& CreationTime(const json& item);
// Workload helpers.
std::string ScalingText(const json& spec);         // "1-10 concurrency=10" or "fixed 2"
std::string GenerationText(const json& workload);  // "3" or "3 (observed 2)"

}  // namespace tide::cli
