#include "daemon/freeze_router.h"

#include "agent/agent.h"
#include "api/client.h"

namespace tide {

void FreezeRouter::SetLocal(const std::string& node, Agent* agent) {
  std::lock_guard lock(mu_);
  local_node_ = node;
  local_ = agent;
}

void FreezeRouter::SetRemote(Remote remote) {
  std::lock_guard lock(mu_);
  remote_ = std::move(remote);
}

Status FreezeRouter::Freeze(const Endpoint& ep, bool freeze) {
  Remote remote;
  Agent* local = nullptr;
  {
    std::lock_guard lock(mu_);
    if (local_ && ep.node == local_node_) local = local_;
    remote = remote_;
  }
  // The agent outlives this call: tided clears it (SetLocal nullptr) only after stopping the
  // gateway, before destroying the agent.
  if (local) return freeze ? local->Freeze(ep.instance_id) : local->Thaw(ep.instance_id);
  if (!remote.agent_url) return Status::Unavailable("tided is starting: no agent lookup yet");
  const std::string url = remote.agent_url(ep.instance_id);
  if (url.empty()) return Status::NotFound("instance " + ep.instance_id + " is on no known node");
  Client cli(ClientConfig{url, remote.token ? remote.token(url) : "", 5, remote.ca_file});
  Response r;
  Status st = cli.Post("/v1/instances/" + ep.instance_id + (freeze ? "/freeze" : "/thaw"), "",
                       "application/json", &r);
  if (st.ok()) return st;
  if (r.reached && r.status == 404) return Status::NotFound(st.message());
  return Status::Unavailable("agent at " + url + ": " + st.message());
}

}  // namespace tide
