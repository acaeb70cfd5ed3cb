// AgentLink: how a node agent reaches one tided member with the agent protocol (docs/api.md
// "Agent protocol": POST /v1/agent/register, GET /v1/agent/assignments, POST /v1/agent/status).
// Two kinds, like Nomad's client RPC:
//  - HttpAgentLink (here): REST over HTTP(S) with api/client.h; every tide-agent uses it.
//  - tided's in-process agent uses daemon/server/local_agent_link.h, which hands the very same
//    calls (target, body, bearer token) to the API's handlers in this process: no socket, no
//    HTTP framing, and no hop through the front door's threads. The handlers authorize it as
//    they authorize a call from the network (node identity, docs/security.md).
// A link is used by one thread at a time, except Abort, which any thread may call.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/client.h"
#include "api/status.h"

namespace tide {

class AgentLink {
 public:
  virtual ~AgentLink() = default;
  // One call: `target` is a path with its query, `body` "" for a GET. As Client::Send: Ok for a
  // 2xx answer; otherwise the Status says why and *out says whether an answer came (reached),
  // its status and body.
  virtual Status Send(const std::string& method, const std::string& target, const std::string& body,
                      Response* out) = 0;
  // Ends a Send waiting on another thread (the assignments long-poll) at once, with a Status
  // that is not Ok and `reached` false. A Send that had not started may still run: call it
  // again until that thread is done (Agent::Stop does).
  virtual void Abort() = 0;
};

// How an agent makes its link to one member: its URL, the bearer token, and the timeout of a
// call in seconds (a long-poll's is its wait plus a margin).
struct AgentLinkConfig {
  std::string url;
  std::string token;
  double timeout_seconds = 5;
  std::string ca_file;  // TLS (api/tls.h), as ClientConfig
  bool pin_server_cert = false;
};
using AgentLinkFactory = std::function<std::unique_ptr<AgentLink>(const AgentLinkConfig&)>;

class HttpAgentLink : public AgentLink {
 public:
  explicit HttpAgentLink(const AgentLinkConfig& config);
  Status Send(const std::string& method, const std::string& target, const std::string& body,
              Response* out) override;
  void Abort() override { client_.Abort(); }

 private:
  Client client_;
};

}  // namespace tide
