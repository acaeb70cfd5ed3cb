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
using api_reply::HttpCode;

namespace {

FrontDoorAnswer JsonAnswer(int status, const json& body) {
  FrontDoorAnswer a;
  a.status = status;
  a.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return a;
}

FrontDoorAnswer ErrorAnswer(int status, const std::string& code, const std::string& message) {
  return JsonAnswer(status, json{{"error", {{"code", code}, {"message", message}}}});
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

std::optional<FrontDoorAnswer> ApiReports::Answer(const FrontDoorCall& call, bool quick_only) {
  NodeReport report;
  json parsed;
  if (Status st = DecodeNodeReport(call.body, &report, &parsed); !st.ok()) {
    return ErrorAnswer(HttpCode(st.code()), "InvalidRequest", st.message());
  }
  Principal who;
  if (Status st = auth_.AuthorizeAs(call.Header("Authorization"), "POST", RouteClass::kAgent, &who);
      !st.ok()) {  // the door checked it; a token revoked since is refused here
    return ErrorAnswer(HttpCode(st.code()), ErrorCode(st.code()), st.message());
  }
  const NodeAccess access =
      DecideNodeAccess(who, NodeAction::kReport, report.node, auth_.NodeClaimed(report.node));
  if (access.verdict != NodeAccess::Verdict::kAllow) {
    if (quick_only) return std::nullopt;  // the event is written on the pool
    if (deny_) deny_(who, NodeAction::kReport, report.node, access.message);
    return ErrorAnswer(403, "Forbidden", access.message);
  }
  if (quick_only) cp_.HeardFrom(report.node);  // alive now, however long the rest waits
  int64_t seq = -1, base = -1;
  std::vector<std::string> gone;
  if (Status st = DecodeReportDelta(parsed, &seq, &base, &gone); !st.ok()) {
    return ErrorAnswer(400, "InvalidRequest", st.message());
  }
  if (gone.empty() && base >= 0 && cp_.QuickReport(report.node, seq, base, report.instances)) {
    quick_reports_.Increment();
    return JsonAnswer(200, json{{"ok", true}, {"seq", seq}});
  }
  if (quick_only) return std::nullopt;
  bool resync = false;
  full_reports_.Increment();
  if (Status st = cp_.Report(report, seq, base, gone, &resync); !st.ok()) {
    return ErrorAnswer(HttpCode(st.code()), ErrorCode(st.code()), st.message());
  }
  json out = {{"ok", true}};
  if (resync) {
    out["resync"] = true;
  } else if (seq >= 0) {
    out["seq"] = seq;
  }
  return JsonAnswer(200, out);
}

asio::awaitable<FrontDoorAnswer> ApiReports::Report(FrontDoorCall call) {
  std::optional<FrontDoorAnswer> ans;
  if (call.method != "POST") {
    ans = ErrorAnswer(405, "MethodNotAllowed", "POST /v1/agent/status only");
  } else if (call.body.size() <= kInlineReportBytes) {
    // A heartbeat that lists nothing (the steady state of a node whose instances' samples did
    // not move, or that runs none) is parsed here: a few microseconds, where the hop to the
    // parse pool and back cost two thread wake-ups a second per idle node.
    ans = Answer(call, /*quick_only=*/true);
  } else {
    // Parsing 1,000 reports a second would fill the event loop's one thread: it is done on the
    // parse pool, which never waits for the control loop's lock (QuickReport).
    ans = co_await parse_pool_->Off([&] { return Answer(call, /*quick_only=*/true); });
  }
  if (!ans) ans = co_await pool_->Off([&] { return *Answer(call, /*quick_only=*/false); });
  metrics_.api_requests_total
      .Add({{"method", "POST"},
            {"route", "/v1/agent/status"},
            {"code", std::to_string(ans->status)}})
      .Increment();
  co_return std::move(*ans);
}

}  // namespace tide
