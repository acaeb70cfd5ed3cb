// The bounded labels of tide_api_requests_total (declared in api_server.h): a request's path
// becomes the template of the route that serves it, or "other"; its method one of a fixed set.
// No request can add a label value (docs/metrics.md).
#include <algorithm>
#include <string_view>

#include "daemon/server/api_server.h"

namespace tide {

std::string ApiRouteLabel(const std::string& path) {
  // Every route Routes() serves; "{x}" stands for one path segment.
  static const char* kTemplates[] = {"/healthz",
                                     "/metrics",
                                     "/v1/version",
                                     "/v1/info",
                                     "/v1/leader",
                                     "/v1/apply",
                                     "/v1/workloads",
                                     "/v1/workloads/{name}",
                                     "/v1/workloads/{name}/scale",
                                     "/v1/workloads/{name}/logs",
                                     "/v1/workloads/{name}/dead-letters",
                                     "/v1/invocations/{id}",
                                     "/v1/instances",
                                     "/v1/nodes",
                                     "/v1/nodes/{name}",
                                     "/v1/events",
                                     "/v1/layers",
                                     "/v1/layers/{name}",
                                     "/v1/secrets",
                                     "/v1/secrets/{name}",
                                     "/v1/agent/register",
                                     "/v1/agent/status",
                                     "/v1/agent/assignments"};
  const std::string_view p(path.data(), std::min(path.find('?'), path.size()));
  for (const char* t : kTemplates) {
    std::string_view tv(t);
    size_t pi = 0, ti = 0;
    bool ok = true;
    while (ok && ti < tv.size() && pi < p.size()) {
      if (tv[ti] == '{') {  // one non-empty segment
        const size_t pe = std::min(p.find('/', pi), p.size());
        ok = pe > pi;
        pi = pe;
        ti = std::min(tv.find('}', ti), tv.size()) + 1;
      } else {
        ok = tv[ti++] == p[pi++];
      }
    }
    if (ok && ti == tv.size() && pi == p.size()) return t;
  }
  return "other";
}

std::string ApiMethodLabel(const std::string& method) {
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    if (method == m) return m;
  }
  return "other";
}

}  // namespace tide
