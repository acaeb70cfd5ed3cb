// tidectl delete, scale, logs, invoke and version, plus the Env defaults.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <ostream>
#include <regex>
#include <thread>

#include "api/version.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/resources.h"
#include "cli/sources.h"

namespace tide::cli {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Deletes one object; prints `KIND "NAME" deleted`. Layers live under /v1/layers, Secrets
// under /v1/secrets.
int DeleteOne(Env& env, const std::string& kind, const std::string& name) {
  const std::string k = Lower(kind);
  std::string path = (k == "layer"    ? "/v1/layers/"
                      : k == "secret" ? "/v1/secrets/"
                                      : "/v1/workloads/") +
                     UrlEncode(name);
  json answer;
  if (int rc = CallJson(env, "DELETE", path, "", &answer)) return rc;
  *env.out << Lower(kind) << " \"" << name << "\" deleted\n";
  return kExitOk;
}

int ResolveGateway(Env& env, const InvokeOptions& opt, std::string* url) {
  if (!opt.gateway.empty()) {
    *url = opt.gateway;
    return kExitOk;
  }
  const char* env_gw = std::getenv("TIDE_GATEWAY");
  if (env_gw && *env_gw) {
    *url = env_gw;
    return kExitOk;
  }
  json info;
  if (int rc = GetJson(env, "/v1/info", &info)) return rc;
  std::string gw = Str(info, "gatewayUrl", "");
  if (gw.empty()) return ReportError(env, "the server did not say its gateway URL", kExitFailed);
  *url = GatewayUrlFor(gw, env.api->server());
  return kExitOk;
}

int ReadData(Env& env, const InvokeOptions& opt, std::string* data) {
  if (!opt.has_data) return kExitOk;
  if (opt.data == "@-") {
    data->assign(std::istreambuf_iterator<char>(*env.in), std::istreambuf_iterator<char>());
  } else if (!opt.data.empty() && opt.data[0] == '@') {
    std::ifstream in(opt.data.substr(1), std::ios::binary);
    if (!in) return ReportError(env, "cannot read " + opt.data.substr(1), kExitFailed);
    data->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    *data = opt.data;
  }
  return kExitOk;
}

}  // namespace

void FillDefaults(Env* env) {
  if (!env->clock) env->clock = &SystemClock::Get();
  if (!env->sleep) {
    env->sleep = [](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
  }
  if (!env->stop) env->stop = [] { return false; };
}

int RunDelete(Env& env, const DeleteOptions& opt) {
  FillDefaults(&env);
  if (!opt.paths.empty()) {
    if (!opt.name.empty() || !opt.resource.empty()) {
      return ReportError(env, "delete takes either -f PATH or a workload NAME, not both",
                         kExitUsage);
    }
    std::vector<ManifestFile> files;
    Status st = ReadManifestFiles(opt.paths, *env.in, &files);
    if (!st.ok()) return ReportError(env, st.message(), kExitFailed);
    std::vector<ObjectRef> objects;
    for (const auto& f : files) {
      st = ListObjects(f, &objects);
      if (!st.ok()) return ReportError(env, st.message(), kExitFailed);
    }
    // Workloads first, layers and secrets last: one in use cannot go before its users.
    std::stable_partition(objects.begin(), objects.end(), [](const ObjectRef& o) {
      return Lower(o.kind) != "layer" && Lower(o.kind) != "secret";
    });
    int worst = kExitOk;
    for (const auto& o : objects) {
      int rc = DeleteOne(env, o.kind, o.name);
      if (rc == kExitUnreachable) return rc;
      if (rc != kExitOk) worst = rc;
    }
    return worst;
  }
  if (opt.resource.empty() || opt.name.empty()) {
    return ReportError(env, "usage: tidectl delete workload NAME | delete -f PATH", kExitUsage);
  }
  std::string kind;
  if (Lower(opt.resource) == "layer" || Lower(opt.resource) == "layers") {
    kind = "layer";
  } else if (Lower(opt.resource) == "secret" || Lower(opt.resource) == "secrets") {
    kind = "secret";
  } else {
    auto r = ParseResource(opt.resource);
    if (!r ||
        (*r != Resource::kWorkloads && *r != Resource::kServices && *r != Resource::kFunctions)) {
      return ReportError(env,
                         "cannot delete \"" + opt.resource + "\" (want workload, layer or secret)",
                         kExitUsage);
    }
    kind = *r == Resource::kServices    ? "service"
           : *r == Resource::kFunctions ? "function"
                                        : "workload";
  }
  return DeleteOne(env, kind, opt.name);
}

int RunScale(Env& env, const std::string& name, int replicas) {
  FillDefaults(&env);
  if (replicas < 0) return ReportError(env, "--replicas must be 0 or more", kExitUsage);
  json answer;
  std::string body = json{{"replicas", replicas}}.dump();
  if (int rc = CallJson(env, "PUT", "/v1/workloads/" + UrlEncode(name) + "/scale", body, &answer)) {
    return rc;
  }
  *env.out << "workload \"" << name << "\" scaled to " << replicas << "\n";
  return kExitOk;
}

int RunLogs(Env& env, const LogsOptions& opt) {
  FillDefaults(&env);
  std::string path = "/v1/workloads/" + UrlEncode(opt.name) + "/logs" +
                     Query({{"instance", opt.instance},
                            {"tail", opt.tail >= 0 ? std::to_string(opt.tail) : ""},
                            {"follow", opt.follow ? "true" : ""}});
  Response r;
  Status st = env.api->GetStream(
      path,
      [&](std::string_view chunk) {
        env.out->write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        env.out->flush();
        return !env.stop();
      },
      &r, opt.follow ? 24 * 3600 : 0);
  if (!st.ok()) return ReportFailure(env, st, r);
  return kExitOk;
}

int RunInvoke(Env& env, const InvokeOptions& opt) {
  FillDefaults(&env);
  if (!opt.path.empty() && opt.path[0] != '/') {
    return ReportError(env, "--path must start with /", kExitUsage);
  }
  HeaderMap headers;
  for (const auto& h : opt.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      return ReportError(env, "invalid header \"" + h + "\" (want \"Name: value\")", kExitUsage);
    }
    std::string value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    headers.emplace(h.substr(0, colon), value);
  }
  std::string data;
  if (int rc = ReadData(env, opt, &data)) return rc;

  json workload;
  if (int rc = GetJson(env, "/v1/workloads/" + UrlEncode(opt.name), &workload)) return rc;
  std::string kind = Str(workload, "kind", "Function");
  if (opt.async && kind != "Function") {
    return ReportError(env, "--async works for Functions only; " + opt.name + " is a " + kind,
                       kExitFailed);
  }
  std::string gateway;
  if (int rc = ResolveGateway(env, opt, &gateway)) return rc;

  std::string prefix = opt.async           ? "/async-function/"
                       : kind == "Service" ? "/service/"
                                           : "/function/";
  std::string method = opt.async             ? "POST"
                       : !opt.method.empty() ? opt.method
                       : opt.has_data        ? "POST"
                                             : "GET";
  std::string content_type;
  if (opt.has_data && headers.find("Content-Type") == headers.end()) {
    content_type = json::accept(data) ? "application/json" : "text/plain";
  }
  // The gateway gets no API token: it would be passed on to the workload.
  Client gw({gateway, "", env.api->config().timeout_seconds});
  Response r;
  Status st =
      gw.Send(method, prefix + UrlEncode(opt.name) + opt.path, data, content_type, headers, &r);
  if (!st.ok()) {
    if (!r.reached) return ReportFailure(env, st, r);
    *env.err << "error: " << r.status << " from the gateway: " << st.message() << "\n";
    return kExitFailed;
  }
  if (opt.async) {
    json answer = json::parse(r.body, nullptr, false);
    std::string id = answer.is_discarded() ? "" : Str(answer, "id", "");
    if (id.empty()) return ReportError(env, "the gateway did not return an id", kExitFailed);
    *env.out << id << "\n";
    return kExitOk;
  }
  *env.out << r.body;
  env.out->flush();
  return kExitOk;
}

int RunVersion(Env& env) {
  FillDefaults(&env);
  *env.out << "Client Version: " << kTideVersion << " (commit " << kTideGitCommit << ")\n";
  env.out->flush();
  json v;
  if (int rc = GetJson(env, "/v1/version", &v)) return rc;
  *env.out << "Server Version: " << Str(v, "version") << " (commit " << Str(v, "gitCommit")
           << ")\n";
  return kExitOk;
}

}  // namespace tide::cli
