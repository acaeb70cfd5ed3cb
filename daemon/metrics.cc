#include "daemon/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace tide {
namespace {

template <typename B>
auto& Named(B builder, const char* name, const char* help, prometheus::Registry& r) {
  return builder.Name(name).Help(help).Register(r);
}

}  // namespace

prometheus::Histogram::BucketBoundaries Metrics::LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

prometheus::Histogram::BucketBoundaries Metrics::ThawBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1};
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      workload_desired_replicas(Named(prometheus::BuildGauge(), "tide_workload_desired_replicas",
                                      "Replicas the control plane wants", *registry_)),
      workload_ready_replicas(Named(prometheus::BuildGauge(), "tide_workload_ready_replicas",
                                    "Replicas ready to serve", *registry_)),
      gateway_requests_total(Named(prometheus::BuildCounter(), "tide_gateway_requests_total",
                                   "Requests answered by the gateway", *registry_)),
      gateway_request_duration_seconds(
          Named(prometheus::BuildHistogram(), "tide_gateway_request_duration_seconds",
                "Gateway request latency, arrival to last byte", *registry_)),
      gateway_inflight_requests(Named(prometheus::BuildGauge(), "tide_gateway_inflight_requests",
                                      "Requests being served by instances", *registry_)),
      gateway_queued_requests(Named(prometheus::BuildGauge(), "tide_gateway_queued_requests",
                                    "Requests waiting for a ready instance", *registry_)),
      gateway_endpoint_ejections_total(Named(
          prometheus::BuildCounter(), "tide_gateway_endpoint_ejections_total",
          "Instances taken out of balancing after a refused or reset connection", *registry_)),
      cold_starts_total(Named(prometheus::BuildCounter(), "tide_cold_starts_total",
                              "Requests that waited for an instance to start", *registry_)),
      cold_start_duration_seconds(Named(prometheus::BuildHistogram(),
                                        "tide_cold_start_duration_seconds",
                                        "Cold start, request arrival to first byte", *registry_)),
      cold_start_phase_seconds(Named(prometheus::BuildHistogram(), "tide_cold_start_phase_seconds",
                                     "Cold start phases, seconds from arrival", *registry_)),
      thaws_total(Named(prometheus::BuildCounter(), "tide_thaws_total",
                        "Frozen instances thawed for a request", *registry_)),
      thaw_duration_seconds(Named(prometheus::BuildHistogram(), "tide_thaw_duration_seconds",
                                  "Thaw of a frozen instance, request picked it to running",
                                  *registry_)),
      instance_restarts_total(Named(prometheus::BuildCounter(), "tide_instance_restarts_total",
                                    "Instance restarts by the agents", *registry_)),
      autoscaler_scale_events_total(
          Named(prometheus::BuildCounter(), "tide_autoscaler_scale_events_total",
                "Autoscaler decisions that changed the desired replicas", *registry_)),
      workload_cpu_seconds_total(Named(prometheus::BuildCounter(),
                                       "tide_workload_cpu_seconds_total",
                                       "CPU seconds used by a workload's instances", *registry_)),
      workload_memory_bytes(Named(prometheus::BuildGauge(), "tide_workload_memory_bytes",
                                  "Resident memory of a workload's instances", *registry_)),
      workload_instance_seconds_total(
          Named(prometheus::BuildCounter(), "tide_workload_instance_seconds_total",
                "Seconds of instance run time, summed over instances", *registry_)),
      nodes(Named(prometheus::BuildGauge(), "tide_nodes", "Nodes by state", *registry_)),
      api_requests_total(Named(prometheus::BuildCounter(), "tide_api_requests_total",
                               "REST API requests", *registry_)),
      reconcile_duration_seconds(
          Named(prometheus::BuildHistogram(), "tide_reconcile_duration_seconds",
                "Reconcile passes, seconds under the control plane's lock", *registry_)),
      fenced_writes_refused_total(
          Named(prometheus::BuildCounter(), "tide_fenced_writes_refused_total",
                "Fenced writes etcd refused because this member no longer led", *registry_)),
      agent_reports_total(Named(prometheus::BuildCounter(), "tide_agent_reports_total",
                                "Agent status reports taken, by path", *registry_)) {
  fenced_writes_refused_total.Add({});  // 0 from the start, so a rate() has a base
  agent_reports_total.Add({{"path", "quick"}});
  agent_reports_total.Add({{"path", "full"}});
}

std::string Metrics::Serve() const {
  prometheus::TextSerializer s;
  std::ostringstream out;
  s.Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace tide
