// FreezeRouter: how tided's gateway reaches the freezer of the node an instance runs on (the
// frozen tier, agent/freezer.h). For the in-process agent (the default single node) a direct
// call into it: a thaw is one file write, no HTTP and no agent lock on the request's path. For a
// remote agent `POST {agentUrl}/v1/instances/{id}/freeze|thaw` with the agent's API token (as
// for logs): NotFound (404) means the instance is gone.
//
// Thread-safety: every method is thread-safe. The agent and the lookups are set once tided has
// built them; until then remote calls answer Unavailable.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>

#include "api/status.h"
#include "daemon/gateway/gateway.h"

namespace tide {

class Agent;

class FreezeRouter {
 public:
  struct Remote {
    std::function<std::string(const std::string& instance_id)> agent_url;  // "" = unknown
    std::function<std::string(const std::string& agent_url)> token;
    std::string ca_file;  // an https agent API's CA ("" = the system's)
  };

  // The in-process agent, acting as node `node` (nullptr: none, or it stopped).
  void SetLocal(const std::string& node, Agent* agent);
  void SetRemote(Remote remote);
  // GatewayBackend::Freeze: freeze (true) or thaw the instance `ep` names on its node.
  Status Freeze(const Endpoint& ep, bool freeze);

 private:
  std::mutex mu_;
  std::string local_node_;  // guarded by mu_
  Agent* local_ = nullptr;  // guarded by mu_
  Remote remote_;           // guarded by mu_
};

}  // namespace tide
