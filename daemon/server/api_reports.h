// ApiReports: POST /v1/agent/status, the agents' heartbeats (docs/api.md "Agent protocol"),
// answered in the front door's event loop (daemon/server/front_door.h, FrontDoorLane::serve)
// rather than by a worker thread behind a loopback hop.
//  - Every report is parsed once, on a parse pool of two threads, so the event loop's one
//    thread only moves bytes; but one of at most kInlineReportBytes (a heartbeat that lists no
//    status: an idle node's) is parsed in the event loop, which costs less than the hop. A
//    heartbeat that says nothing new (a report delta with no gone id whose statuses differ at most
//    in CPU and memory samples: the steady state of every node) is answered there through
//    ControlPlane::QuickReport, which never waits for the control loop's lock.
//  - Anything else (a changed status, a complete report, a refusal and its event) runs on a
//    second pool (daemon/server/off_pool.h), where ControlPlane::Report may wait for a
//    reconcile pass without holding up the quick ones.
// Who may report for which node is decided as for every agent call (node_identity.h).
// The control plane, auth and metrics must outlive it; StopPool before the front door goes.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>

#include "daemon/control/control_plane.h"
#include "daemon/metrics.h"
#include "daemon/server/api_waits.h"
#include "daemon/server/auth.h"
#include "daemon/server/front_door.h"
#include "daemon/server/node_identity.h"
#include "daemon/server/off_pool.h"

namespace tide {

class ApiReports {
 public:
  ApiReports(ControlPlane& cp, Auth& auth, Metrics& metrics, ApiWaits::DenyHook deny,
             int pool_threads = 4);

  boost::asio::awaitable<FrontDoorAnswer> Report(FrontDoorCall call);
  // The same for tided's in-process agent (daemon/server/local_agent_link.h), on the calling
  // thread: parsed, checked and applied there, with no hop through the front door or a pool.
  FrontDoorAnswer ReportNow(const FrontDoorCall& call);
  static constexpr size_t kInlineReportBytes = 512;
  void StopPool();

 private:
  // A report parsed and checked once (Take), for the pool to finish (Finish).
  struct Parsed {
    NodeReport report;
    int64_t seq = -1, base = -1;
    std::vector<std::string> gone;
    Principal who;
    NodeAccess access;
  };
  // Parses `call` and answers what needs nothing blocking (no event, no control-plane lock):
  // a malformed report, a refused token, a heartbeat QuickReport took. nullopt: *out holds the
  // parsed report for Finish.
  std::optional<FrontDoorAnswer> Take(const FrontDoorCall& call, Parsed* out);
  // The rest, on the pool: the refusal and its event, or ControlPlane::Report.
  FrontDoorAnswer Finish(const Parsed& p);
  void Count(const FrontDoorAnswer& a);  // tide_api_requests_total

  ControlPlane& cp_;
  Auth& auth_;
  Metrics& metrics_;
  // tide_agent_reports_total{path}: looked up once, not per report (1,000 a second).
  prometheus::Counter& quick_reports_;
  prometheus::Counter& full_reports_;
  ApiWaits::DenyHook deny_;
  std::unique_ptr<OffPool> parse_pool_;  // parse, check, QuickReport: never waits for mu_
  std::unique_ptr<OffPool> pool_;        // ControlPlane::Report, the refusal event
};

}  // namespace tide
