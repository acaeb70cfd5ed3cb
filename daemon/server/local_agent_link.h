// LocalAgentLink: the agent protocol (api/agent_link.h) for tided's in-process agent, spoken
// without a socket. A call goes to the handler a network call of the same route reaches, on the
// agent's own thread:
//   POST /v1/agent/register     ApiServer::RegisterAgent
//   GET  /v1/agent/assignments  ApiWaits::AssignmentsNow (waits on this thread; the control
//                               plane's change check wakes it with the answer built)
//   POST /v1/agent/status       ApiReports::ReportNow (parsed and applied on this thread)
// anything else: 404. It is checked as the front door checks a call (the token, 401/403 at
// the door, ApiServer::Admit) and then by the handler (node identity): the in-process agent's
// token acts as its own node only, as over HTTP.
// Why: a cold start's assignment and its Ready report each crossed loopback HTTP and two to
// four thread hand-offs in tided (the front door's event loop, its pools); here the assignment
// is one hand-off from the placing thread to the agent's, and the report none
// (docs/benchmarks.md, "The in-process agent's link").
// The ApiServer must be started and outlive every link; Abort may be called from any thread.
#pragma once

#include <atomic>
#include <string>

#include "api/agent_link.h"

namespace tide {

class ApiServer;

class LocalAgentLink : public AgentLink {
 public:
  LocalAgentLink(ApiServer& api, std::string token);
  Status Send(const std::string& method, const std::string& target, const std::string& body,
              Response* out) override;
  void Abort() override;

 private:
  ApiServer& api_;
  std::string authorization_;  // "Bearer TOKEN"
  std::atomic<bool> aborted_{false};
};

}  // namespace tide
