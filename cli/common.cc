#include "cli/common.h"

#include <ostream>
#include <regex>

#include "cli/exit_codes.h"

namespace tide::cli {

int ReportFailure(Env& env, const Status& s, const Response& r) {
  *env.err << "error: " << s.message() << "\n";
  ApiError e;
  if (r.reached && ParseApiError(r.body, &e)) {
    for (const auto& d : e.details) {
      std::string where = d.file.empty() ? "<input>" : d.file;
#if defined(__GNUC__) && !defined(__clang__)  // GCC bug 105651: at -O3 GCC 12 reports a bogus
#pragma GCC diagnostic push                   // -Wrestrict in "c" + std::string&&
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
      if (d.line > 0) where += ":" + std::to_string(d.line);
      if (d.line > 0 && d.column > 0) where += ":" + std::to_string(d.column);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
      *env.err << where << ": ";
      if (!d.path.empty()) *env.err << d.path << ": ";
      *env.err << d.message << "\n";
    }
  }
  return ExitCodeFor(s, r);
}

int ReportError(Env& env, const std::string& message, int code) {
  *env.err << "error: " << message << "\n";
  return code;
}

int CallJson(Env& env, const std::string& method, const std::string& path, const std::string& body,
             json* out) {
  Response r;
  Status s = env.api->Send(method, path, body, body.empty() ? "" : "application/json", {}, &r);
  if (!s.ok()) return ReportFailure(env, s, r);
  if (r.body.empty()) {
    *out = json::object();
    return kExitOk;
  }
  *out = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    return ReportError(env, "the server's answer to " + method + " " + path + " is not JSON",
                       kExitFailed);
  }
  return kExitOk;
}

std::string Query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += q.empty() ? "?" : "&";
    q += UrlEncode(k) + "=" + UrlEncode(v);
  }
  return q;
}

bool ParseSelector(const std::vector<std::string>& values,
                   std::vector<std::pair<std::string, std::string>>* out, std::string* error) {
  out->clear();
  for (const auto& v : values) {
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      std::string part =
          v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      size_t eq = part.find('=');
      if (eq == std::string::npos || eq == 0) {
        *error = "invalid label selector \"" + part + "\" (want key=value)";
        return false;
      }
      out->emplace_back(part.substr(0, eq), part.substr(eq + 1));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return true;
}

bool MatchesSelector(const json& labels,
                     const std::vector<std::pair<std::string, std::string>>& selector) {
  for (const auto& [k, v] : selector) {
    if (!labels.is_object()) return false;
    auto it = labels.find(k);
    if (it == labels.end() || !it->is_string() || it->get<std::string>() != v) return false;
  }
  return true;
}

std::string GatewayUrlFor(const std::string& gateway, const std::string& server) {
  static const std::regex kUrl(R"(^(https?://)(0\.0\.0\.0|\[::\]|(?=:))(:[0-9]+)?(.*)$)");
  static const std::regex kHost(R"(^https?://([^/:]+|\[[^\]]+\]))");
  std::smatch g;
  std::smatch s;
  if (std::regex_match(gateway, g, kUrl) && std::regex_search(server, s, kHost)) {
    return g[1].str() + s[1].str() + g[3].str() + g[4].str();
  }
  return gateway;
}

json Items(const json& list) {
  if (list.is_object() && list.contains("items") && list["items"].is_array()) {
    return list["items"];
  }
  if (list.is_array()) return list;
  return json::array();
}

}  // namespace tide::cli
