#include "daemon/server/api_reports.h"

#include <nlohmann/json.hpp>

#include "api/agent_delta.h"
#include "api/wire.h"
#include "daemon/server/api_reply.h"
#include "daemon/server/node_identity.h"

namespace tide {

namespace asio = boost::asio;
using json = nlohmann::json;
using api_reply::ErrorCode;
using api_reply::FrontDoorError;
using api_reply::HttpCode;

namespace {

FrontDoorAnswer JsonAnswer(int status, const json& body) {
  FrontDoorAnswer a;
  a.status = status;
  a.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return a;
}

}  // namespace

ApiReports::ApiReports(ControlPlane& cp, Auth& auth, Metrics& metrics, ApiWaits::DenyHook deny,
                       int pool_threads)
    : cp_(cp),
      auth_(auth),
      metrics_(metrics),
      quick_reports_(metrics.agent_reports_total.Add({{"path", "quick"}})),
      full_reports_(metrics.agent_reports_total.Add({{"path", "full"}})),
      deny_(std::move(deny)),
      parse_pool_(std::make_unique<OffPool>(2)),
      pool_(std::make_unique<OffPool>(pool_threads)) {}

void ApiReports::StopPool() {
  parse_pool_->Stop();
  pool_->Stop();
}

std::optional<FrontDoorAnswer> ApiReports::Take(const FrontDoorCall& call, Parsed* out) {
  json parsed;
  if (Status st = DecodeNodeReport(call.body, &out->report, &parsed); !st.ok()) {
    return FrontDoorError(HttpCode(st.code()), "InvalidRequest", st.message());
  }
  if (Status st =
          auth_.AuthorizeAs(call.Header("Authorization"), "POST", RouteClass::kAgent, &out->who);
      !st.ok()) {  // the door checked it; a token revoked since is refused here
    return FrontDoorError(HttpCode(st.code()), ErrorCode(st.code()), st.message());
  }
  const std::string& node = out->report.node;
  out->access = DecideNodeAccess(out->who, NodeAction::kReport, node, auth_.NodeClaimed(node));
  if (out->access.verdict != NodeAccess::Verdict::kAllow) return std::nullopt;  // event: pool
  cp_.HeardFrom(node);  // alive now, however long the rest waits
  if (Status st = DecodeReportDelta(parsed, &out->seq, &out->base, &out->gone); !st.ok()) {
    return FrontDoorError(400, "InvalidRequest", st.message());
  }
  if (out->gone.empty() && out->base >= 0 &&
      cp_.QuickReport(node, out->seq, out->base, out->report.instances)) {
    quick_reports_.Increment();
    return JsonAnswer(200, json{{"ok", true}, {"seq", out->seq}});
  }
  return std::nullopt;
}

FrontDoorAnswer ApiReports::Finish(const Parsed& p) {
  if (p.access.verdict != NodeAccess::Verdict::kAllow) {
    if (deny_) deny_(p.who, NodeAction::kReport, p.report.node, p.access.message);
    return FrontDoorError(403, "Forbidden", p.access.message);
  }
  bool resync = false;
  full_reports_.Increment();
  if (Status st = cp_.Report(p.report, p.seq, p.base, p.gone, &resync); !st.ok()) {
    return FrontDoorError(HttpCode(st.code()), ErrorCode(st.code()), st.message());
  }
  json out = {{"ok", true}};
  if (resync) {
    out["resync"] = true;
  } else if (p.seq >= 0) {
    out["seq"] = p.seq;
  }
  return JsonAnswer(200, out);
}

asio::awaitable<FrontDoorAnswer> ApiReports::Report(FrontDoorCall call) {
  std::optional<FrontDoorAnswer> ans;
  Parsed parsed;
  if (call.method != "POST") {
    ans = FrontDoorError(405, "MethodNotAllowed", "POST /v1/agent/status only");
  } else if (call.body.size() <= kInlineReportBytes) {
    // A heartbeat that lists nothing (the steady state of a node whose instances' samples did
    // not move, or that runs none) is parsed here: a few microseconds, where the hop to the
    // parse pool and back cost two thread wake-ups a second per idle node.
    ans = Take(call, &parsed);
  } else {
    // Parsing 1,000 reports a second would fill the event loop's one thread: it is done on the
    // parse pool, which never waits for the control loop's lock (QuickReport).
    ans = co_await parse_pool_->Off([&] { return Take(call, &parsed); });
  }
  // What is left goes to the pool as parsed: a report is never parsed twice.
  if (!ans) ans = co_await pool_->Off([&] { return Finish(parsed); });
  Count(*ans);
  co_return std::move(*ans);
}

FrontDoorAnswer ApiReports::ReportNow(const FrontDoorCall& call) {
  Parsed parsed;
  std::optional<FrontDoorAnswer> ans = Take(call, &parsed);
  if (!ans) ans = Finish(parsed);
  Count(*ans);
  return std::move(*ans);
}

void ApiReports::Count(const FrontDoorAnswer& a) {
  metrics_.api_requests_total
      .Add({{"method", "POST"}, {"route", "/v1/agent/status"}, {"code", std::to_string(a.status)}})
      .Increment();
}

}  // namespace tide
