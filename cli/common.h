// Helpers shared by the tidectl verbs: error reporting in one format, JSON calls that report
// their own failures, query strings, label selectors. Stateless; thread-compatible.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "api/client.h"
#include "cli/commands.h"

namespace tide::cli {

using nlohmann::json;

// Prints "error: MESSAGE" to env.err, and for an error answer with details (InvalidManifest)
// one line per detail: "file:line:column: path: message". Returns the exit code for it.
int ReportFailure(Env& env, const Status& s, const Response& r);
// Prints "error: MESSAGE" and returns `code`.
int ReportError(Env& env, const std::string& message, int code);

// Calls the API and decodes a JSON answer into *out. On any failure prints it and returns the
// exit code; 0 on success. An empty 2xx body decodes as an empty object.
int CallJson(Env& env, const std::string& method, const std::string& path, const std::string& body,
             json* out);
inline int GetJson(Env& env, const std::string& path, json* out) {
  return CallJson(env, "GET", path, "", out);
}

// "?k=v&k2=v2" with values URL-encoded; pairs with an empty value are left out; "" if none.
std::string Query(const std::vector<std::pair<std::string, std::string>>& params);

// Label selector k=v pairs from -l values (each may be "a=b,c=d"). False (with a message) when
// one is not k=v.
bool ParseSelector(const std::vector<std::string>& values,
                   std::vector<std::pair<std::string, std::string>>* out, std::string* error);
// True when every pair matches the labels object.
bool MatchesSelector(const json& labels,
                     const std::vector<std::pair<std::string, std::string>>& selector);

// The gateway URL to use: a wildcard host in `gateway` ("http://0.0.0.0:7480", "http://:7480",
// "http://[::]:7480") means "the daemon's host", so the API server URL's host is put in.
std::string GatewayUrlFor(const std::string& gateway, const std::string& server);

// The "items" array of a list answer (an empty array when missing).
json Items(const json& list);

}  // namespace tide::cli
