#include "agent/agent_metrics.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <map>

namespace tide {
namespace {

prometheus::MetricFamily Family(const AgentMetricFamily& f) {
  return prometheus::MetricFamily{f.name, f.help, f.type, {}};
}

// One series of `f` with its label values, in the order of f.labels.
prometheus::ClientMetric& Add(prometheus::MetricFamily& fam, const AgentMetricFamily& f,
                              std::initializer_list<std::string> values, double value) {
  prometheus::ClientMetric m;
  auto v = values.begin();
  for (const char* name : f.labels) m.label.push_back({name, v == values.end() ? "" : *v++});
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  fam.metric.push_back(std::move(m));
  return fam.metric.back();
}

}  // namespace

std::string RenderAgentMetrics(const std::string& node,
                               const std::vector<InstanceStatus>& instances) {
  std::vector<prometheus::MetricFamily> families;
  families.reserve(std::size(kAgentMetricFamilies));

  auto& by_state = families.emplace_back(Family(kAgentInstances));
  std::map<std::string, int> counts;
  for (const auto& i : instances) counts[InstanceStateName(i.state)]++;
  for (const auto& [state, n] : counts) Add(by_state, kAgentInstances, {node, state}, n);

  auto& memory = families.emplace_back(Family(kAgentInstanceMemoryBytes));
  auto& cpu = families.emplace_back(Family(kAgentInstanceCpuSecondsTotal));
  auto& limits = families.emplace_back(Family(kAgentInstanceLimitsInfo));
  for (const auto& i : instances) {
    Add(memory, kAgentInstanceMemoryBytes, {i.id, i.workload}, static_cast<double>(i.memory_bytes));
    Add(cpu, kAgentInstanceCpuSecondsTotal, {i.id, i.workload}, i.cpu_seconds_total);
    if (!i.limit_enforcer.empty() || !i.pids_enforcer.empty()) {
      Add(limits, kAgentInstanceLimitsInfo, {i.id, i.workload, i.limit_enforcer, i.pids_enforcer},
          1);
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace tide
