// AgentMetrics: every Prometheus metric family the node agent serves on GET /metrics
// (docs/metrics.md), declared once in kAgentMetricFamilies and rendered with prometheus-cpp's
// TextSerializer, like tided's (daemon/metrics.h), so label values are escaped by the library.
//
// The agent's families describe the instances it supervises right now, so they are rebuilt from
// the Supervisor's statuses at each scrape: an instance that went away leaves no stale series.
// Pure functions; thread-safe.
#pragma once

#include <prometheus/metric_type.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "api/model.h"

namespace tide {

struct AgentMetricFamily {
  const char* name;
  const char* help;
  prometheus::MetricType type;
  std::initializer_list<const char*> labels;  // in the order the series carry them
};

// The agent's families, in the order they are served.
inline constexpr AgentMetricFamily kAgentInstances{"tide_agent_instances",
                                                   "Instances supervised by this agent, by state.",
                                                   prometheus::MetricType::Gauge,
                                                   {"node", "state"}};
inline constexpr AgentMetricFamily kAgentInstanceMemoryBytes{"tide_agent_instance_memory_bytes",
                                                             "Resident memory of an instance.",
                                                             prometheus::MetricType::Gauge,
                                                             {"instance", "workload"}};
inline constexpr AgentMetricFamily kAgentInstanceCpuSecondsTotal{
    "tide_agent_instance_cpu_seconds_total",
    "CPU time of an instance.",
    prometheus::MetricType::Counter,
    {"instance", "workload"}};
// Which mechanism enforces each instance's memory and task-count limits (cgroup2, cgroup1,
// rlimit, none: fixed set), value 1. Empty until the instance's process started.
inline constexpr AgentMetricFamily kAgentInstanceLimitsInfo{
    "tide_agent_instance_limits_info",
    "What enforces an instance's limits: memory and pids are cgroup2, cgroup1, rlimit or none.",
    prometheus::MetricType::Gauge,
    {"instance", "workload", "memory", "pids"}};
inline constexpr const AgentMetricFamily* kAgentMetricFamilies[] = {
    &kAgentInstances, &kAgentInstanceMemoryBytes, &kAgentInstanceCpuSecondsTotal,
    &kAgentInstanceLimitsInfo};

// The text exposition (format 0.0.4) of every family for `node` and its `instances`.
std::string RenderAgentMetrics(const std::string& node,
                               const std::vector<InstanceStatus>& instances);

}  // namespace tide
