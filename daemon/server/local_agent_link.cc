#include "daemon/server/local_agent_link.h"

#include <httplib.h>

#include "daemon/server/api_reply.h"
#include "daemon/server/api_reports.h"
#include "daemon/server/api_server.h"
#include "daemon/server/api_waits.h"

namespace tide {

LocalAgentLink::LocalAgentLink(ApiServer& api, std::string token)
    : api_(api), authorization_("Bearer " + std::move(token)) {}

void LocalAgentLink::Abort() {
  aborted_ = true;
  if (api_.waits_) api_.waits_->AbortNow();
}

Status LocalAgentLink::Send(const std::string& method, const std::string& target,
                            const std::string& body, Response* out) {
  *out = Response{};
  if (aborted_) return Status::Unavailable("in-process link to tided: aborted");
  if (!api_.waits_ || !api_.reports_)
    return Status::Unavailable("in-process link: API not started");
  const std::string path = target.substr(0, target.find('?'));
  FrontDoorAnswer a;
  bool counted = false;  // by the handler (the long-poll and the report count themselves)
  // The door's check (ApiServer::Admit): a token that is no agent's is refused before any
  // handler runs.
  Principal who;
  if (Status st = api_.auth_.AuthorizeAs(authorization_, method, RouteClass::kAgent, &who);
      !st.ok()) {
    a = api_reply::FrontDoorError(api_reply::HttpCode(st.code()), api_reply::ErrorCode(st.code()),
                                  st.message());
  } else if (method == "POST" && path == "/v1/agent/register") {
    httplib::Response res;
    api_.RegisterAgent(authorization_, body, res);
    a.status = res.status;
    a.body = std::move(res.body);
  } else {
    FrontDoorCall call;
    call.method = method;
    call.target = target;
    call.body = body;
    call.peer = "in-process";
    call.principal = who.name;
    call.headers.emplace_back("Authorization", authorization_);
    if (method == "GET" && path == "/v1/agent/assignments") {
      a = api_.waits_->AssignmentsNow(call, aborted_);
      counted = true;
      if (a.status == 0) return Status::Unavailable("in-process link to tided: aborted");
    } else if (method == "POST" && path == "/v1/agent/status") {
      a = api_.reports_->ReportNow(call);
      counted = true;
    } else {
      a = api_reply::FrontDoorError(404, "NotFound", "no route " + method + " " + path);
    }
  }
  if (!counted) {  // tide_api_requests_total, as for a network call
    api_.metrics_.api_requests_total
        .Add({{"method", ApiMethodLabel(method)},
              {"route", ApiRouteLabel(path)},
              {"code", std::to_string(a.status)}})
        .Increment();
  }
  out->reached = true;
  out->status = a.status;
  out->content_type = "application/json";
  out->body = std::move(a.body);
  if (out->status >= 200 && out->status < 300) return Status::Ok();
  ApiError e;
  return StatusFromHttp(out->status, ParseApiError(out->body, &e) && !e.message.empty()
                                         ? e.message
                                         : "tided answered HTTP " + std::to_string(out->status));
}

}  // namespace tide
