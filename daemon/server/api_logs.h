// ApiLogs: GET /v1/workloads/NAME/logs?follow=true, a followed log, relayed by the front door
// (daemon/server/front_door.h, FrontDoorLane::route) straight from the agent's API
// (`GET /v1/instances/ID/logs?follow=true`, agent/agent.h) for as long as the client reads it.
// No thread waits while a log is followed: which instance and which agent is looked up on a
// small pool (store and control plane take locks), then the front door streams the agent's
// answer. An agent reached over https (--agent-ca-file) and any other request of the follow lane
// go to the API's own worker (127.0.0.1:fallback_port), as before.
// The store and control plane must outlive it; StopPool before the front door goes.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>

#include "daemon/control/control_plane.h"
#include "daemon/server/front_door.h"
#include "daemon/server/off_pool.h"
#include "daemon/store/object_store.h"

namespace tide {

class ApiLogs {
 public:
  // `agent_token(url)`: the API token the agent at url sent at registration ("" when none).
  ApiLogs(ObjectStore& store, ControlPlane& cp,
          std::function<std::string(const std::string&)> agent_token, int fallback_port);

  boost::asio::awaitable<FrontDoorRoute> Route(FrontDoorCall call);
  void StopPool();

 private:
  FrontDoorRoute Resolve(const FrontDoorCall& call);  // on the pool

  ObjectStore& store_;
  ControlPlane& cp_;
  std::function<std::string(const std::string&)> agent_token_;
  int fallback_port_;
  std::unique_ptr<OffPool> pool_;
};

}  // namespace tide
