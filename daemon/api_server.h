// ApiServer: tided's REST API (SPEC section 3), the agent protocol routes (ARCHITECTURE.md),
// /healthz and /metrics, on cpp-httplib. Every /v1 route is authorized by Auth; errors are
// JSON `{"error":{"code","message","details"}}` with a fitting status. Bodies over
// max_body_bytes are refused with 413 before they are read whole.
// Clients reach it through a FrontDoor (daemon/front_door.h) on `listen`, which admits only
// complete requests (slow clients are cut off) to httplib on an internal loopback port.
// The store, control plane, auth and metrics must outlive the server.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api/status.h"
#include "daemon/auth.h"
#include "daemon/control_plane.h"
#include "daemon/front_door.h"
#include "daemon/metrics.h"
#include "daemon/store.h"

namespace httplib {
class Server;
}

namespace tide {

struct ApiServerOptions {
  std::string listen = "127.0.0.1:7400";
  size_t max_body_bytes = 8 << 20;
  std::string gateway_url;            // shown at GET /v1/info for `tidectl invoke`
  int64_t header_timeout_ms = 10000;  // a request head must arrive within this (FrontDoor)
  int64_t body_timeout_ms = 30000;    // and its body within this
  int max_connections = 1024;         // client connections at once
};

class ApiServer {
 public:
  ApiServer(ApiServerOptions opts, Store& store, ControlPlane& cp, Auth& auth, Metrics& metrics);
  ~ApiServer();

  Status Start();  // binds and serves on a background thread
  void Stop();
  int port() const { return port_; }

 private:
  void Routes();
  // The agent API token an agent sent in its registration (memory only, never logged or
  // shown), keyed by its agent_url; presented when logs are proxied to that agent.
  void RememberAgentToken(const std::string& agent_url, const std::string& register_body);
  std::string AgentToken(const std::string& agent_url);
  std::mutex agent_tokens_mu_;
  std::map<std::string, std::string> agent_tokens_;

  ApiServerOptions opts_;
  Store& store_;
  ControlPlane& cp_;
  Auth& auth_;
  Metrics& metrics_;
  std::unique_ptr<httplib::Server> srv_;
  std::unique_ptr<FrontDoor> front_;
  std::thread thread_;
  int port_ = 0;
};

// Splits "HOST:PORT" (PORT 0 allowed). False when malformed.
bool SplitHostPort(const std::string& s, std::string* host, int* port);

}  // namespace tide
