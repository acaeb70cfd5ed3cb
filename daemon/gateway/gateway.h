// Gateway: tided's request gateway (data plane, docs/gateway.md). An HTTP/1.1 reverse proxy on
// Boost.Asio/Beast that routes `ANY /function/{name}[/{rest}]` and `ANY /service/{name}[/{rest}]`
// to a ready instance of the workload as `/{rest}` (query, method, headers and body kept; bodies
// streamed both ways, never buffered whole), adding X-Forwarded-For and X-Request-Id.
//
// Balancing: least in-flight among the workload's ready endpoints, never more than the workload's
// `concurrency` per instance (0 = unlimited). A request that finds no endpoint with room waits in
// the workload's bounded FIFO queue up to `timeout_seconds`; at zero ready endpoints that wait is
// a cold start (the answer carries `X-Tide-Cold-Start: true`). Errors are one JSON line:
// 404 unknown workload, 503 queue full (Retry-After: 1), 504 nothing ready / no answer in time,
// 502 upstream failed before answering, 413/431/400 limits, 408 body too slow. See
// docs/gateway.md.
//
// Strict at the edge: ambiguous framing (Transfer-Encoding other than exactly `chunked`, with
// Content-Length, or twice) gets 400 and close; paths are normalised (dot segments, also
// percent-encoded) and may not climb out of /{prefix}/{name} (400). A request's body is read up
// to 64 KiB (or whole) before it takes a slot on an instance, under the body deadline.
//
// Passive health: a connection to an instance refused or reset before any byte of the request
// was sent ejects the endpoint (gw::RouteTable::Eject) and the request is retried at once on
// another endpoint; a request whose bytes were sent is never retried on another instance.
//
// Threads: a fixed pool of `io_threads` event loops serves every client connection (idle
// keep-alive connections hold no thread). Every public method is thread-safe. The backend is
// called from I/O threads and from the thread calling SetEndpoints/RemoveWorkload, never while a
// gateway lock is held, so the backend may call back into the gateway from inside OnLoad/Route.
// Ownership: the backend, clock and metrics are borrowed and must outlive the Gateway.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/clock.h"
#include "api/model.h"
#include "api/status.h"

namespace tide {

class Metrics;

// One ready instance the gateway may send requests to.
struct Endpoint {
  std::string instance_id;
  std::string host;
  int port = 0;
  std::string node{};   // the node running it (the freezer's address)
  bool frozen = false;  // the agent reports it frozen (only read for an endpoint new to the table)
};

// How the gateway treats one workload's requests.
struct RouteInfo {
  Kind kind = Kind::kService;   // /function/ serves kFunction, /service/ serves kService
  int concurrency = 0;          // most in-flight requests per instance; 0 = unlimited
  double timeout_seconds = 30;  // per request: queue wait, and each upstream wait
  // spec.keepAlive.freezeAfterSeconds: an endpoint idle this long is frozen; 0 = never.
  double freeze_after_seconds = 0;
};

// Implemented by the control plane. Called from gateway I/O threads; must not block.
// An asynchronous invocation as the gateway received it (POST /async-function/{name}/...).
struct AsyncInvocation {
  std::string method = "POST";
  std::string target;  // "/" + rest of the path, plus "?query"
  std::vector<std::pair<std::string, std::string>> headers;  // end-to-end headers only
  std::string body;
};

class GatewayBackend {
 public:
  virtual ~GatewayBackend() = default;
  // POST /async-function/{name}/...: keeps the invocation durably and sets *id; the gateway then
  // answers 202 {"id"}. Called on an I/O thread; must be quick. Default: not supported (503).
  virtual Status EnqueueAsync(const std::string& workload, AsyncInvocation inv, std::string* id) {
    (void)workload;
    (void)inv;
    (void)id;
    return Status::Unavailable("asynchronous invocation is not available");
  }
  // nullopt → 404.
  virtual std::optional<RouteInfo> Route(const std::string& workload) = 0;
  // Load signal (autoscaler input + activation): called when a workload's in-flight or queued
  // count changes. Calls for one workload are serialised and the last call carries the latest
  // counts (intermediate values may be coalesced). A request arriving with zero ready endpoints
  // triggers a call with queued >= 1 at once (scale-from-zero activation).
  virtual void OnLoad(const std::string& workload, int inflight, int queued) = 0;
  // The frozen tier (agent/freezer.h): freezes (freeze true) or thaws an instance. Called with no
  // gateway lock held, from the gateway's freeze thread (freeze) or an I/O thread on the way to
  // a request (thaw: must be quick). A thaw answering NotFound means the instance is gone: the
  // request goes to another one or waits for a cold start. Default: not supported.
  virtual Status Freeze(const Endpoint& ep, bool freeze) {
    (void)ep;
    (void)freeze;
    return Status::Unavailable("freezing is not available");
  }
};

struct GatewayOptions {
  std::string listen = "127.0.0.1:7480";  // HOST:PORT; port 0 → ephemeral
  int io_threads = 2;
  size_t max_queue_per_workload = 1000;
  size_t max_header_bytes = 64 * 1024;  // request head larger → 431
  int64_t max_body_bytes = 1LL << 30;   // request body larger → 413
  int max_connections = 10000;          // more client connections → 503 and close
  int header_timeout_ms = 10000;        // a request head must arrive within this (slow loris)
  int idle_timeout_ms = 75000;          // idle keep-alive client connections are closed after
  // Request bodies (slow senders): the time spent waiting for body bytes from the client may
  // reach body_timeout_ms plus one second per body_min_rate bytes received (0: no allowance);
  // past it the request gets 408 and the connection is closed. `tided --gateway-body-timeout`,
  // `--gateway-body-min-rate`.
  int64_t body_timeout_ms = 60000;
  int64_t body_min_rate = 1024;  // bytes per second
};

class Gateway {
 public:
  // `metrics` may be null (tests).
  Gateway(GatewayOptions options, GatewayBackend& backend, Clock& clock, Metrics* metrics);
  ~Gateway();  // Stop()s
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds the listen address (port 0 → ephemeral) and starts the I/O threads.
  Status Start();
  // Stops accepting, closes every connection, joins the I/O threads. Idempotent.
  void Stop();
  // The bound port (after Start), else 0.
  int port() const;

  // Routing table push: the full set of READY endpoints of a workload, on every change (empty =
  // none ready). Queued requests are woken at once. An endpoint missing from the new set gets no
  // new requests; its in-flight requests finish (drain).
  void SetEndpoints(const std::string& workload, std::vector<Endpoint> ready);
  // Forgets the workload: no new requests, queued requests get 404, in-flight ones finish.
  void RemoveWorkload(const std::string& workload);
  // Requests in flight on one instance (for graceful drain before SIGTERM).
  int InFlight(const std::string& instance_id) const;

  struct WorkloadLoad {
    int inflight = 0;
    int queued = 0;
    uint64_t requests_total = 0;  // requests admitted (routed) since the workload was first seen
  };
  WorkloadLoad Load(const std::string& workload) const;

  // Cold-start phase marks for observability: when an instance started for this workload was
  // spawned / became ready (phase "spawned" | "ready"; at_ms on the Clock's steady scale). Each
  // cold start records every phase once and in order (see RouteTable::NoteInstancePhase).
  void NoteInstancePhase(const std::string& workload, const std::string& phase, int64_t at_ms);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tide
