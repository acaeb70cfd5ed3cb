// The JSON answers of tided's API (docs/api.md "Errors"): shared by the route files
// (api_server.cc, api_secrets.cc) and the front door's own routes. Header-only, inline.
#pragma once

#include <httplib.h>

#include <string>
#include <utility>
#include <vector>

#include "api/json.h"
#include "api/status.h"
#include "daemon/server/front_door.h"

namespace tide::api_reply {

inline int HttpCode(Status::Code c) {
  switch (c) {
    case Status::Code::kOk:
      return 200;
    case Status::Code::kInvalid:
      return 400;
    case Status::Code::kUnauthorized:
      return 401;
    case Status::Code::kForbidden:
      return 403;
    case Status::Code::kNotFound:
      return 404;
    case Status::Code::kConflict:
      return 409;
    case Status::Code::kTooLarge:
      return 413;
    case Status::Code::kUnavailable:
      return 503;
    case Status::Code::kTimeout:
      return 504;
    case Status::Code::kInternal:
      return 500;
  }
  return 500;
}

inline const char* ErrorCode(Status::Code c) {
  switch (c) {
    case Status::Code::kInvalid:
      return "Invalid";
    case Status::Code::kUnauthorized:
      return "Unauthorized";
    case Status::Code::kForbidden:
      return "Forbidden";
    case Status::Code::kNotFound:
      return "NotFound";
    case Status::Code::kConflict:
      return "Conflict";
    case Status::Code::kTooLarge:
      return "TooLarge";
    case Status::Code::kUnavailable:
      return "Unavailable";
    case Status::Code::kTimeout:
      return "Timeout";
    default:
      return "Internal";
  }
}

inline void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                  "application/json");
}

// 200 with {"items":[...]}, written an item at a time: a listing of 1,000 instances is never a
// whole JSON tree (1.7 MiB) beside its text (issue 13: tided's RSS while a client lists them).
template <typename T>
void SendItems(httplib::Response& res, const std::vector<T>& items) {
  std::string out = "{\"items\":[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += json(items[i]).dump(-1, ' ', false, json::error_handler_t::replace);
  }
  out += "]}\n";
  res.status = 200;
  res.body = std::move(out);  // set_content would copy it
  res.set_header("Content-Type", "application/json");
}

inline void SendError(httplib::Response& res, int status, const std::string& code,
                      const std::string& message, const json& details = json()) {
  json e = {{"code", code}, {"message", message}};
  if (!details.is_null()) e["details"] = details;
  SendJson(res, status, json{{"error", e}});
}

inline void SendStatus(httplib::Response& res, const Status& s) {
  SendError(res, HttpCode(s.code()), ErrorCode(s.code()), s.message());
}

// The same error for the routes the front door answers itself (ApiWaits, ApiReports, ApiLogs)
// and for the in-process agent's link.
inline FrontDoorAnswer FrontDoorError(int status, const std::string& code,
                                      const std::string& message) {
  FrontDoorAnswer a;
  a.status = status;
  a.body = json{{"error", {{"code", code}, {"message", message}}}}.dump(
               -1, ' ', false, json::error_handler_t::replace) +
           "\n";
  return a;
}

// "workload/NAME", "layer/NAME", "secret/NAME": the object of an event.
inline std::string ObjectRef(Kind kind, const std::string& name) {
  switch (kind) {
    case Kind::kLayer:
      return "layer/" + name;
    case Kind::kSecret:
      return "secret/" + name;
    default:
      return "workload/" + name;
  }
}

inline bool IsWorkload(Kind k) { return k == Kind::kService || k == Kind::kFunction; }

}  // namespace tide::api_reply
