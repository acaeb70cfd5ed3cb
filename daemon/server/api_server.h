// ApiServer: tided's REST API (docs/api.md), the agent protocol routes (ARCHITECTURE.md),
// /healthz and /metrics, on cpp-httplib. Every /v1 route is authorized by Auth; errors are
// JSON `{"error":{"code","message","details"}}` with a fitting status. Bodies over
// max_body_bytes are refused with 413 before they are read whole.
// Clients reach it through a FrontDoor (daemon/server/front_door.h) on `listen`, which admits only
// complete requests (slow clients are cut off) to httplib on an internal loopback port.
// The store, control plane, auth and metrics must outlive the server.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/agent_link.h"
#include "api/status.h"
#include "daemon/control/control_plane.h"
#include "daemon/metrics.h"
#include "daemon/server/auth.h"
#include "daemon/server/front_door.h"
#include "daemon/server/node_identity.h"
#include "daemon/store/object_store.h"

namespace httplib {
class Server;
struct Response;
}  // namespace httplib

namespace tide {

struct ApiServerOptions {
  std::string listen = "127.0.0.1:7400";
  size_t max_body_bytes = 8 << 20;
  std::string gateway_url;            // shown at GET /v1/info for `tidectl invoke`
  int64_t header_timeout_ms = 10000;  // a request head must arrive within this (FrontDoor)
  int64_t body_timeout_ms = 30000;    // and its body within this
  int max_connections = 1024;         // client connections at once
  // Limits of the front door (daemon/server/front_door.h, docs/operations.md "API limits").
  int max_agent_connections = 4096;  // agent requests at once, a budget clients cannot touch
  int max_pending = 0;               // connections whose head has not arrived (0: max_connections)
  int max_per_peer = 256;            // client requests in flight per peer address
  int max_watches = 64;              // client watches at once; followed logs at once (own workers)
  int max_watches_per_token = 16;    // of them, per token
  double rate_per_token = 500;       // client requests per second per token (0: no bound)
  int workers = 64;                  // threads answering client calls that do not wait
  int agent_workers = 16;            // threads answering agents' register and status calls
  // No effect (kept so that configs naming it still start): agents' assignment long-polls and
  // client watches wait without a thread (daemon/server/api_waits.h).
  int agent_wait_workers = 256;
  // GET /v1/leader: {"leader": NAME, "self": NAME} (docs/ha.md). Unset: a single member that
  // always leads, named self_name.
  std::function<std::string()> leader;
  std::string self_name;
  std::string tls_cert_file, tls_key_file;  // both set: the API speaks https only (api/tls.h)
  std::string agent_ca_file;  // CA of agents' https APIs, for proxied logs ("" = system's)
};

class ApiLogs;
class ApiReports;
class ApiWaits;

class ApiServer {
 public:
  ApiServer(ApiServerOptions opts, ObjectStore& store, ControlPlane& cp, Auth& auth,
            Metrics& metrics);
  ~ApiServer();

  Status Start();  // binds and serves on a background thread
  void Stop();
  int port() const { return port_; }
  // The agent API token learnt from the registration of the agent at agent_url ("" unknown):
  // tided presents it on calls to that agent (logs, the frozen tier's freeze and thaw).
  std::string AgentApiToken(const std::string& agent_url) { return AgentToken(agent_url); }
  // The agent protocol for tided's in-process agent, without a socket
  // (daemon/server/local_agent_link.h): its calls reach the handlers a network call reaches,
  // authorized the same way. Valid from Start() until Stop(); stop the agent first.
  AgentLinkFactory LocalAgentLinks();

 private:
  friend class LocalAgentLink;
  // POST /v1/agent/register: decode, node identity (a join gets a credential), ControlPlane::
  // RegisterNode; the answer in `res`.
  void RegisterAgent(const std::string& authorization, const std::string& body,
                     httplib::Response& res);
  // The routes on one backend server (every lane serves all of them; the front door decides
  // which lane a request takes) with `workers` threads.
  void Routes(httplib::Server& s, int workers);
  void SecretRoutes(httplib::Server& s);  // GET/DELETE /v1/secrets..., api_secrets.cc
  // The front door's admission: auth at the door (401/403 without touching a backend), then
  // the lane: client, client watch, agent, agent long-poll.
  FrontDoorAdmission Admit(const FrontDoorRequest& r);
  // 403 for an agent call `who` may not make (docs/api.md "Node identity"), with a Warning event
  // NodeAccessDenied: at most one a minute per principal, action and node, so a hostile loop
  // cannot wash real events out of the bounded event log.
  void DenyNodeAccess(httplib::Response& res, const Principal& who, NodeAction action,
                      const std::string& node, const std::string& message);
  void EventNodeAccessDenied(const Principal& who, NodeAction action, const std::string& node,
                             const std::string& message);
  // The agent API token an agent sent in its registration (memory only, never logged or
  // shown), keyed by its agent_url; presented when logs are proxied to that agent.
  void RememberAgentToken(const std::string& agent_url, const std::string& register_body);
  std::string AgentToken(const std::string& agent_url);
  std::mutex agent_tokens_mu_;
  std::map<std::string, std::string> agent_tokens_;

  ApiServerOptions opts_;
  ObjectStore& store_;
  ControlPlane& cp_;
  Auth& auth_;
  Metrics& metrics_;
  std::vector<std::unique_ptr<httplib::Server>> srvs_;  // one per front-door lane
  std::unique_ptr<ApiWaits> waits_;      // the waiting routes, served in the front door
  std::unique_ptr<ApiReports> reports_;  // agents' heartbeats, served in the front door
  std::unique_ptr<ApiLogs> logs_;        // followed logs, relayed by the front door
  std::unique_ptr<FrontDoor> front_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  std::mutex deny_mu_;
  std::map<std::string, int64_t> deny_evented_ms_;  // guarded by deny_mu_; bounded
};

// The `route` label of tide_api_requests_total: the template of a known route (for example
// `/v1/workloads/{name}/scale`), or "other" for any path no route serves, so that no request
// can add a label value (docs/metrics.md).
std::string ApiRouteLabel(const std::string& path);
// The `method` label: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, or "other".
std::string ApiMethodLabel(const std::string& method);

}  // namespace tide
