#include "api/agent_link.h"

namespace tide {

HttpAgentLink::HttpAgentLink(const AgentLinkConfig& c)
    : client_(ClientConfig{c.url, c.token, c.timeout_seconds, c.ca_file, c.pin_server_cert}) {}

Status HttpAgentLink::Send(const std::string& method, const std::string& target,
                           const std::string& body, Response* out) {
  return client_.Send(method, target, body, method == "GET" ? "" : "application/json", {}, out);
}

}  // namespace tide
