// Metrics: every Prometheus metric family tided exposes (docs/metrics.md), built once on one
// registry and handed by reference to the units that update them (gateway, autoscaler,
// reconciler). The registry outlives every unit; families are owned by the registry.
// Serve() renders the text exposition format for GET /metrics.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace tide {

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // Text exposition of everything in the registry.
  std::string Serve() const;

  // Buckets for request latency and cold starts (seconds).
  static prometheus::Histogram::BucketBoundaries LatencyBuckets();
  // Buckets for thaws of frozen instances (seconds; most are well under a millisecond).
  static prometheus::Histogram::BucketBoundaries ThawBuckets();

 private:
  std::shared_ptr<prometheus::Registry> registry_;

 public:
  // {workload, kind}
  prometheus::Family<prometheus::Gauge>& workload_desired_replicas;
  prometheus::Family<prometheus::Gauge>& workload_ready_replicas;
  // {workload, code}
  prometheus::Family<prometheus::Counter>& gateway_requests_total;
  // {workload}
  prometheus::Family<prometheus::Histogram>& gateway_request_duration_seconds;
  prometheus::Family<prometheus::Gauge>& gateway_inflight_requests;
  prometheus::Family<prometheus::Gauge>& gateway_queued_requests;
  prometheus::Family<prometheus::Counter>& gateway_endpoint_ejections_total;
  prometheus::Family<prometheus::Counter>& cold_starts_total;
  prometheus::Family<prometheus::Histogram>& cold_start_duration_seconds;
  // {workload, phase}: phase = queued | spawned | ready | first_byte; seconds from arrival
  prometheus::Family<prometheus::Histogram>& cold_start_phase_seconds;
  // {workload}: frozen instances thawed for a request (spec.keepAlive), and how long each thaw
  // took (the gateway's freeze call to the agent, request picked to instance running)
  prometheus::Family<prometheus::Counter>& thaws_total;
  prometheus::Family<prometheus::Histogram>& thaw_duration_seconds;
  prometheus::Family<prometheus::Counter>& instance_restarts_total;
  // {workload, direction}: direction = up | down
  prometheus::Family<prometheus::Counter>& autoscaler_scale_events_total;
  prometheus::Family<prometheus::Counter>& workload_cpu_seconds_total;
  prometheus::Family<prometheus::Gauge>& workload_memory_bytes;
  prometheus::Family<prometheus::Counter>& workload_instance_seconds_total;
  // {state}
  prometheus::Family<prometheus::Gauge>& nodes;
  // {method, route, code}
  prometheus::Family<prometheus::Counter>& api_requests_total;
  // no labels: one reconcile pass, with the control plane's lock held (heartbeats that change
  // something and status reads wait for it)
  prometheus::Family<prometheus::Histogram>& reconcile_duration_seconds;
  // no labels: fenced writes of this member etcd refused because it no longer led (docs/ha.md)
  prometheus::Family<prometheus::Counter>& fenced_writes_refused_total;
  // {path}: quick = a heartbeat that said nothing new, taken without the control loop's lock
  // (daemon/control/quick_beats.h); full = through ControlPlane::Report
  prometheus::Family<prometheus::Counter>& agent_reports_total;
};

}  // namespace tide
