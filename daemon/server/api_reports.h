// ApiReports: POST /v1/agent/status, the agents' heartbeats (docs/api.md "Agent protocol"),
// answered in the front door's event loop (daemon/server/front_door.h, FrontDoorLane::serve)
// rather than by a worker thread behind a loopback hop.
//  - A heartbeat that carries nothing (a report delta with no status and no gone id: the steady
//    state of every node) is answered on the spot through ControlPlane::QuickReport, which never
//    waits for the control loop's lock; 1,000 agents a second cost a JSON parse each.
//  - Anything else (statuses, a complete report, a refusal and its event) runs on a small pool
//    (daemon/server/off_pool.h), where ControlPlane::Report may wait for a reconcile pass.
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
#include "daemon/server/off_pool.h"

namespace tide {

class ApiReports {
 public:
  ApiReports(ControlPlane& cp, Auth& auth, Metrics& metrics, ApiWaits::DenyHook deny,
             int pool_threads = 4);

  boost::asio::awaitable<FrontDoorAnswer> Report(FrontDoorCall call);
  void StopPool();
  // Bodies up to this size are parsed on the event loop; larger ones on the pool.
  static constexpr size_t kInlineBodyBytes = 16 << 10;

 private:
  // The answer to `call`; with quick_only, nullopt unless it is a heartbeat QuickReport took
  // (nothing blocking runs: no event, no control-plane lock).
  std::optional<FrontDoorAnswer> Answer(const FrontDoorCall& call, bool quick_only);

  ControlPlane& cp_;
  Auth& auth_;
  Metrics& metrics_;
  ApiWaits::DenyHook deny_;
  std::unique_ptr<OffPool> pool_;
};

}  // namespace tide
