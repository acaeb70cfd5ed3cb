#include "daemon/api_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "api/json.h"
#include "api/manifest.h"
#include "api/version.h"
#include "api/wire.h"
#include "daemon/apply.h"
#include "daemon/invoker.h"

namespace tide {
namespace {

int HttpCode(Status::Code c) {
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

const char* ErrorCode(Status::Code c) {
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

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                  "application/json");
}

void SendError(httplib::Response& res, int status, const std::string& code,
               const std::string& message, const json& details = json()) {
  json e = {{"code", code}, {"message", message}};
  if (!details.is_null()) e["details"] = details;
  SendJson(res, status, json{{"error", e}});
}

void SendStatus(httplib::Response& res, const Status& s) {
  SendError(res, HttpCode(s.code()), ErrorCode(s.code()), s.message());
}

std::string Param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : "";
}

bool LabelsMatch(const StringMap& labels, const std::string& selector) {
  if (selector.empty()) return true;
  // k=v[,k2=v2]
  size_t start = 0;
  while (start <= selector.size()) {
    size_t comma = selector.find(',', start);
    std::string term =
        selector.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t eq = term.find('=');
    if (eq == std::string::npos) {
      if (!labels.count(term)) return false;
    } else {
      auto it = labels.find(term.substr(0, eq));
      if (it == labels.end() || it->second != term.substr(eq + 1)) return false;
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

// A route template for the api_requests_total metric (bounded cardinality).
std::string RouteLabel(const std::string& path) {
  static const char* kPrefixes[] = {"/v1/agent/", "/v1/workloads",   "/v1/instances", "/v1/nodes",
                                    "/v1/events", "/v1/layers",      "/v1/apply",     "/v1/version",
                                    "/v1/info",   "/v1/invocations", "/healthz",      "/metrics"};
  for (const char* p : kPrefixes) {
    if (path.rfind(p, 0) == 0) {
      std::string r = p;
      if (r == "/v1/workloads" && path.size() > r.size()) {
        if (path.find("/logs") != std::string::npos) return "/v1/workloads/{name}/logs";
        if (path.find("/scale") != std::string::npos) return "/v1/workloads/{name}/scale";
        if (path.find("/dead-letters") != std::string::npos)
          return "/v1/workloads/{name}/dead-letters";
        return "/v1/workloads/{name}";
      }
      if (r == "/v1/agent/") return path.substr(0, path.find('?'));
      return r;
    }
  }
  return "other";
}

// Resolves the kind=/label= filters of GET /v1/workloads and the short kind names.
std::optional<Kind> KindFilter(const std::string& k) {
  if (k.empty()) return std::nullopt;
  std::string l = k;
  for (auto& c : l) c = static_cast<char>(std::tolower(c));
  if (l == "service" || l == "services") return Kind::kService;
  if (l == "function" || l == "functions") return Kind::kFunction;
  return std::nullopt;
}

}  // namespace

bool SplitHostPort(const std::string& s, std::string* host, int* port) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  *host = s.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  std::string p = s.substr(colon + 1);
  if (p.empty() || p.size() > 5) return false;
  for (char c : p)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  *port = std::stoi(p);
  return *port <= 65535 && !host->empty();
}

ApiServer::ApiServer(ApiServerOptions opts, Store& store, ControlPlane& cp, Auth& auth,
                     Metrics& metrics)
    : opts_(std::move(opts)),
      store_(store),
      cp_(cp),
      auth_(auth),
      metrics_(metrics),
      srv_(std::make_unique<httplib::Server>()) {}

ApiServer::~ApiServer() { Stop(); }

void ApiServer::RememberAgentToken(const std::string& agent_url, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("apiToken") || !j["apiToken"].is_string()) return;
  std::string token = j["apiToken"].get<std::string>();
  if (token.size() > 512) return;
  std::lock_guard<std::mutex> lk(agent_tokens_mu_);
  agent_tokens_[agent_url] = std::move(token);
}

std::string ApiServer::AgentToken(const std::string& agent_url) {
  std::lock_guard<std::mutex> lk(agent_tokens_mu_);
  auto it = agent_tokens_.find(agent_url);
  return it == agent_tokens_.end() ? "" : it->second;
}

Status ApiServer::Start() {
  std::string host;
  int port = 0;
  if (!SplitHostPort(opts_.listen, &host, &port))
    return Status::Invalid("--api-listen: expected HOST:PORT, got '" + opts_.listen + "'");
  Routes();
  const int backend_port = srv_->bind_to_any_port("127.0.0.1");
  if (backend_port < 0) return Status::Unavailable("cannot listen on 127.0.0.1 (API backend)");
  thread_ = std::thread([this] { srv_->listen_after_bind(); });
  // httplib's stop() does nothing before its listen loop runs (a Stop() right after Start()
  // would then join a thread that accepts forever): wait for the loop.
  for (int i = 0; i < 5000 && !srv_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  FrontDoorOptions fo;
  fo.listen = opts_.listen;
  fo.backend_port = backend_port;
  fo.max_body_bytes = opts_.max_body_bytes;
  fo.header_timeout_ms = opts_.header_timeout_ms;
  fo.body_timeout_ms = opts_.body_timeout_ms;
  fo.max_connections = opts_.max_connections;
  front_ = std::make_unique<FrontDoor>(fo);
  Status st = front_->Start();
  if (!st.ok()) {
    Stop();
    return st;
  }
  port_ = front_->port();
  return Status::Ok();
}

void ApiServer::Stop() {
  if (front_) front_->Stop();
  if (srv_) srv_->stop();
  if (thread_.joinable()) thread_.join();
}

void ApiServer::Routes() {
  httplib::Server& s = *srv_;
  // Workers only ever see complete requests (FrontDoor); long-polls of agents hold one each.
  s.new_task_queue = [] { return new httplib::ThreadPool(64); };
  s.set_payload_max_length(opts_.max_body_bytes);
  s.set_keep_alive_max_count(1000);
  s.set_tcp_nodelay(true);  // no Nagle: small JSON answers must not wait for delayed ACKs
  s.set_read_timeout(10, 0);

  // Auth for every route but /healthz and /metrics; metrics for every answer.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    RouteClass cls = ClassifyRoute(req.method, req.path);
    Status st = auth_.Authorize(req.get_header_value("Authorization"), req.method, cls, nullptr);
    if (!st.ok()) {
      SendStatus(res, st);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics_.api_requests_total
        .Add({{"method", req.method},
              {"route", RouteLabel(req.path)},
              {"code", std::to_string(res.status)}})
        .Increment();
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      SendError(res, 413, "TooLarge", "request body too large");
    } else if (res.status == 404) {
      SendError(res, 404, "NotFound", "no route " + req.method + " " + req.path);
    } else {
      SendError(res, res.status, "Error", "HTTP " + std::to_string(res.status));
    }
  });
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        SendError(res, 500, "Internal", what);
      });

  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.Serve(), "text/plain; version=0.0.4");
  });
  s.Get("/v1/version", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, {{"version", kTideVersion}, {"gitCommit", kTideGitCommit}});
  });
  s.Get("/v1/info", [this](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, {{"version", kTideVersion}, {"gatewayUrl", opts_.gateway_url}});
  });

  // ---- apply ----
  s.Post("/v1/apply", [this](const httplib::Request& req, httplib::Response& res) {
    bool dry_run = Param(req, "dryRun") == "true" || Param(req, "dryRun") == "1";
    std::string ctype = req.get_header_value("Content-Type");
    std::vector<ManifestFile> files;
    if (ctype.rfind("application/vnd.tide.files+json", 0) == 0) {
      std::vector<std::pair<std::string, std::string>> decoded;
      Status st = DecodeFilesBody(req.body, &decoded);
      if (!st.ok()) return SendError(res, HttpCode(st.code()), "InvalidRequest", st.message());
      for (auto& [name, content] : decoded)
        files.push_back({name.empty() ? "<body>" : name, std::move(content)});
    } else {
      std::string file = req.get_header_value("X-Tide-Filename");
      files.push_back({file.empty() ? "<body>" : file, req.body});
    }
    std::vector<ApplyResult> results;
    std::vector<FieldError> errors;
    Status st = ApplyFiles(store_, files, dry_run, &results, &errors);
    if (!st.ok()) {
      bool invalid = st.code() == Status::Code::kInvalid;
      SendError(res, HttpCode(st.code()), invalid ? "InvalidManifest" : ErrorCode(st.code()),
                st.message(), errors.empty() ? json() : FieldErrorsToJson(errors));
      return;
    }
    json out = json::array();
    for (const auto& r : results) {
      out.push_back({{"kind", KindName(r.kind)}, {"name", r.name}, {"action", r.action}});
      if (!dry_run && r.action != "unchanged") {
        cp_.Emit("Normal", r.action == "created" ? "Created" : "Configured",
                 std::string(r.kind == Kind::kLayer ? "layer/" : "workload/") + r.name,
                 r.kind == Kind::kLayer ? "" : r.name,
                 std::string(KindName(r.kind)) + " " + r.action + ", generation " +
                     std::to_string(r.generation));
      }
    }
    if (!dry_run) cp_.Kick();
    SendJson(res, 200, {{"results", out}, {"dryRun", dry_run}});
  });

  // ---- workloads ----
  auto workload_json = [this](const StoredObject& o) {
    json j = o.object;
    WorkloadStatus st = cp_.StatusOf(o);
    json conds = json::array();
    for (const auto& c : st.conditions)
      conds.push_back(
          {{"type", c.type}, {"status", c.status}, {"reason", c.reason}, {"message", c.message}});
    j["status"] = {{"desiredReplicas", st.desired},
                   {"readyReplicas", st.ready},
                   {"phase", st.phase},
                   {"conditions", conds},
                   {"generation", st.generation},
                   {"observedGeneration", st.observed_generation},
                   {"instanceSeconds", st.instance_seconds},
                   {"scaleOverride", o.scale_replicas ? json(*o.scale_replicas) : json()}};
    j["metadata"]["generation"] = o.generation;
    j["metadata"]["creationTimestamp"] = FormatTime(o.created_ms);
    return j;
  };
  s.Get("/v1/workloads", [this, workload_json](const httplib::Request& req,
                                               httplib::Response& res) {
    std::string kind = Param(req, "kind");
    auto k = KindFilter(kind);
    if (!kind.empty() && !k) {
      SendError(res, 400, "InvalidRequest", "kind must be Service or Function, got '" + kind + "'");
      return;
    }
    std::vector<StoredObject> objs;
    Status st = store_.List(k, &objs);
    if (!st.ok()) return SendStatus(res, st);
    json items = json::array();
    std::string label = Param(req, "label");
    for (const auto& o : objs) {
      if (!LabelsMatch(o.object.metadata.labels, label)) continue;
      items.push_back(workload_json(o));
    }
    SendJson(res, 200, {{"items", items}});
  });
  // Conditional and watching GET: every answer carries an ETag of its body. With
  // If-None-Match naming the current one, the answer is 304 at once, or with waitMs=W the
  // request waits up to W ms (at most 60000) for the workload to change and answers 200 with
  // the new body, or 304 when nothing changed. A watcher (scale_bench; docs/api.md has a
  // curl loop) sees each change as it happens without polling.
  s.Get(R"(/v1/workloads/([a-z0-9-]+))", [this, workload_json](const httplib::Request& req,
                                                               httplib::Response& res) {
    const std::string if_none_match = req.get_header_value("If-None-Match");
    const int64_t wait_ms = std::clamp<int64_t>(
        req.has_param("waitMs") ? std::atoll(Param(req, "waitMs").c_str()) : 0, 0, 60000);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    while (true) {
      // Read before building the body: a change after this point wakes the wait below.
      const int64_t revision = cp_.StatusRevision();
      StoredObject o;
      Status st = store_.Get(req.matches[1], &o);
      if (!st.ok()) return SendStatus(res, st);
      json j = workload_json(o);
      j["instances"] = cp_.Instances(o.object.metadata.name, "");
      SendJson(res, 200, j);
      char etag[32];
      std::snprintf(etag, sizeof etag, "\"%016zx\"", std::hash<std::string>{}(res.body));
      res.headers.erase("ETag");
      res.set_header("ETag", etag);
      if (if_none_match != etag) return;
      // Unchanged: wait for a change (a new revision may still leave this workload as it
      // was: then wait again), or answer 304 Not Modified at the deadline or on shutdown.
      if (std::chrono::steady_clock::now() >= deadline ||
          cp_.WaitStatusChange(revision, deadline) <= revision) {
        res.status = 304;
        res.body.clear();
        return;
      }
    }
  });
  s.Delete(R"(/v1/workloads/([a-z0-9-]+))",
           [this](const httplib::Request& req, httplib::Response& res) {
             std::string name = req.matches[1];
             Status st = store_.Delete(name);
             if (!st.ok()) return SendStatus(res, st);
             cp_.Emit("Normal", "Deleted", "workload/" + name, name,
                      "workload deleted; its instances are drained and stopped");
             cp_.Kick();
             SendJson(res, 200, {{"deleted", name}});
           });
  s.Put(R"(/v1/workloads/([a-z0-9-]+)/scale)", [this](const httplib::Request& req,
                                                      httplib::Response& res) {
    std::string name = req.matches[1];
    int n = 0;
    Status dst = DecodeScaleBody(req.body, &n);
    if (!dst.ok()) return SendError(res, HttpCode(dst.code()), "InvalidRequest", dst.message());
    Status st = store_.SetScale(name, n);
    if (!st.ok()) return SendStatus(res, st);
    cp_.Emit("Normal", "Scaled", "workload/" + name, name, "replicas set to " + std::to_string(n));
    cp_.Kick();
    SendJson(res, 200, {{"name", name}, {"replicas", n}});
  });
  s.Get(R"(/v1/workloads/([a-z0-9-]+)/logs)", [this](const httplib::Request& req,
                                                     httplib::Response& res) {
    std::string name = req.matches[1];
    StoredObject o;
    Status st = store_.Get(name, &o);
    if (!st.ok()) return SendStatus(res, st);
    std::string inst = Param(req, "instance");
    if (inst.empty()) {
      auto list = cp_.Instances(name, "");
      for (const auto& i : list) {
        if (i.state == InstanceState::kReady) {
          inst = i.id;
          break;
        }
      }
      if (inst.empty() && !list.empty()) inst = list.front().id;
    }
    std::string url = inst.empty() ? "" : cp_.AgentUrlOf(inst);
    if (inst.empty() || url.empty()) {
      SendError(res, 404, "NotFound",
                inst.empty() ? "workload " + name + " has no instances"
                             : "instance " + inst + " not found on any node");
      return;
    }
    std::string path = "/v1/instances/" + inst +
                       "/logs?tail=" + (req.has_param("tail") ? Param(req, "tail") : "-1") +
                       (Param(req, "follow") == "true" ? "&follow=true" : "");
    bool follow = Param(req, "follow") == "true";
    httplib::Headers h;  // the agent's API token, learnt from its registration
    if (std::string t = AgentToken(url); !t.empty()) h.emplace("Authorization", "Bearer " + t);
    if (!follow) {
      httplib::Client cli(url);
      cli.set_read_timeout(10, 0);
      auto r = cli.Get(path, h);
      if (!r) return SendError(res, 503, "Unavailable", "agent at " + url + " unreachable");
      res.status = r->status;
      res.set_content(r->body, r->status == 200 ? "text/plain" : "application/json");
      return;
    }
    res.set_chunked_content_provider("text/plain", [url, path, h](size_t, httplib::DataSink& sink) {
      httplib::Client cli(url);
      cli.set_read_timeout(24 * 3600, 0);
      cli.Get(path, h, [&](const char* data, size_t len) {
        return sink.is_writable() && sink.write(data, len);
      });
      sink.done();
      return true;
    });
  });

  // ---- async invocations ----
  s.Get(R"(/v1/invocations/([0-9a-f]+))",
        [this](const httplib::Request& req, httplib::Response& res) {
          Invocation inv;
          Status st = store_.GetInvocation(req.matches[1], &inv);
          if (!st.ok()) return SendStatus(res, st);
          SendJson(res, 200, Invoker::ToJson(inv));
        });
  s.Get(R"(/v1/workloads/([a-z0-9-]+)/dead-letters)",
        [this](const httplib::Request& req, httplib::Response& res) {
          std::string name = req.matches[1];
          StoredObject o;
          Status st = store_.Get(name, &o);
          if (!st.ok()) return SendStatus(res, st);
          std::vector<Invocation> dead;
          st = store_.ListInvocations(name, "DeadLetter", &dead);
          if (!st.ok()) return SendStatus(res, st);
          json items = json::array();
          for (const auto& inv : dead) items.push_back(Invoker::ToJson(inv));
          SendJson(res, 200, {{"items", items}});
        });

  // ---- instances, nodes, events, layers ----
  s.Get("/v1/instances", [this](const httplib::Request& req, httplib::Response& res) {
    SendJson(res, 200, {{"items", cp_.Instances(Param(req, "workload"), Param(req, "node"))}});
  });
  auto node_json = [](const ControlPlane::NodeView& v) {
    json j = v.entry.info;
    j["state"] = NodeStateName(v.entry.state);
    j["allocated"] = {{"cpu", v.allocated.cpu}, {"memory", v.allocated.memory_bytes}};
    j["lastHeartbeat"] = FormatTime(v.entry.last_heartbeat_wall);
    j["instances"] = v.instances;
    return j;
  };
  s.Get("/v1/nodes", [this, node_json](const httplib::Request&, httplib::Response& res) {
    json items = json::array();
    for (const auto& v : cp_.Nodes()) items.push_back(node_json(v));
    SendJson(res, 200, {{"items", items}});
  });
  s.Get(R"(/v1/nodes/([^/]+))",
        [this, node_json](const httplib::Request& req, httplib::Response& res) {
          for (const auto& v : cp_.Nodes()) {
            if (v.entry.info.name == req.matches[1]) {
              json j = node_json(v);
              j["instanceList"] = cp_.Instances("", v.entry.info.name);
              return SendJson(res, 200, j);
            }
          }
          SendError(res, 404, "NotFound", "no node named " + std::string(req.matches[1]));
        });
  s.Get("/v1/events", [this](const httplib::Request& req, httplib::Response& res) {
    int64_t since = 0;
    std::string s_since = Param(req, "since");
    if (!s_since.empty()) {
      bool digits = std::all_of(s_since.begin(), s_since.end(), ::isdigit);
      if (digits) {
        since = std::stoll(s_since);
      } else {
        std::tm tm{};
        if (!strptime(s_since.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) {
          SendError(
              res, 400, "InvalidRequest",
              "since must be milliseconds since the epoch or RFC 3339, got '" + s_since + "'");
          return;
        }
        since = static_cast<int64_t>(timegm(&tm)) * 1000;
      }
    }
    int limit = 1000;
    if (req.has_param("limit")) limit = std::atoi(Param(req, "limit").c_str());
    std::vector<Event> events;
    Status st = store_.ListEvents(Param(req, "workload"), since, limit, &events);
    if (!st.ok()) return SendStatus(res, st);
    SendJson(res, 200, {{"items", events}});
  });
  s.Get("/v1/layers", [this](const httplib::Request&, httplib::Response& res) {
    std::vector<StoredObject> layers;
    Status st = store_.ListLayers(&layers);
    if (!st.ok()) return SendStatus(res, st);
    json items = json::array();
    for (const auto& l : layers) items.push_back(json(l.object));
    SendJson(res, 200, {{"items", items}});
  });
  s.Delete(R"(/v1/layers/([a-z0-9-]+))",
           [this](const httplib::Request& req, httplib::Response& res) {
             std::string name = req.matches[1];
             Status st = store_.DeleteLayer(name);
             if (!st.ok()) return SendStatus(res, st);
             cp_.Emit("Normal", "Deleted", "layer/" + name, "", "layer deleted");
             SendJson(res, 200, {{"deleted", name}});
           });

  // ---- agent protocol ----
  s.Post("/v1/agent/register", [this](const httplib::Request& req, httplib::Response& res) {
    NodeInfo info;
    std::vector<InstanceStatus> running;
    Status dst = DecodeRegisterBody(req.body, &info, &running);
    if (!dst.ok()) return SendError(res, HttpCode(dst.code()), "InvalidRequest", dst.message());
    Status st = cp_.RegisterNode(info, running);
    if (!st.ok()) return SendStatus(res, st);
    RememberAgentToken(info.agent_url, req.body);
    SendJson(res, 200, {{"registered", info.name}});
  });
  s.Post("/v1/agent/status", [this](const httplib::Request& req, httplib::Response& res) {
    NodeReport report;
    Status dst = DecodeNodeReport(req.body, &report);
    if (!dst.ok()) return SendError(res, HttpCode(dst.code()), "InvalidRequest", dst.message());
    Status st = cp_.Report(report);
    if (!st.ok()) return SendStatus(res, st);
    SendJson(res, 200, {{"ok", true}});
  });
  s.Get("/v1/agent/assignments", [this](const httplib::Request& req, httplib::Response& res) {
    std::string node = Param(req, "node");
    int64_t after = req.has_param("after") ? std::atoll(Param(req, "after").c_str()) : -1;
    int64_t wait = req.has_param("waitMs") ? std::atoll(Param(req, "waitMs").c_str()) : 25000;
    wait = std::clamp<int64_t>(wait, 0, 60000);
    AssignmentSet set;
    Status st = cp_.WaitAssignments(node, after, wait, &set);
    if (!st.ok()) return SendStatus(res, st);
    // Agents of this version ask for the shared-spec form; older ones get every spec inline.
    if (Param(req, "specs") == "shared") {
      SendJson(res, 200, SharedAssignmentSetJson(set));
    } else {
      SendJson(res, 200, set);
    }
  });
}

}  // namespace tide
