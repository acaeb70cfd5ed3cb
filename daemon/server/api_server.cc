#include "daemon/server/api_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <string_view>

#include "api/address.h"
#include "api/agent_delta.h"
#include "api/http_listen.h"
#include "api/json.h"
#include "api/manifest.h"
#include "api/tls.h"
#include "api/version.h"
#include "api/wire.h"
#include "daemon/gateway/invoker.h"
#include "daemon/server/api_logs.h"
#include "daemon/server/api_reply.h"
#include "daemon/server/api_reports.h"
#include "daemon/server/api_waits.h"
#include "daemon/server/apply.h"
#include "daemon/server/lazy_pool.h"
#include "daemon/server/local_agent_link.h"

namespace tide {
namespace {

using api_reply::ErrorCode;
using api_reply::HttpCode;
using api_reply::IsWorkload;
using api_reply::ObjectRef;
using api_reply::SendError;
using api_reply::SendItems;
using api_reply::SendJson;
using api_reply::SendStatus;

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

ApiServer::ApiServer(ApiServerOptions opts, ObjectStore& store, ControlPlane& cp, Auth& auth,
                     Metrics& metrics)
    : opts_(std::move(opts)), store_(store), cp_(cp), auth_(auth), metrics_(metrics) {}

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

namespace {

// Front-door lanes, each its own backend server and worker pool.
// The watch and agent long-poll lanes are served in the front door itself (ApiWaits, no thread
// per waiter), and so are heartbeats (ApiReports); followed logs are relayed by the front door
// from the agent (ApiLogs, no thread per stream).
enum Lane {
  kClientLane = 0,
  kWatchLane = 1,
  kAgentLane = 2,
  kAgentWaitLane = 3,
  kFollowLane = 4,
  kAgentReportLane = 5,
  kLanes = 6
};

// Value of `key` in a query string ("" when absent; not URL-decoded: only numbers and words
// are looked at).
std::string QueryValue(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    size_t eq = kv.find('=');
    if (kv.substr(0, eq) == key) return std::string(eq == kv.npos ? "" : kv.substr(eq + 1));
    if (amp == query.npos) break;
    query.remove_prefix(amp + 1);
  }
  return "";
}

}  // namespace

FrontDoorAdmission ApiServer::Admit(const FrontDoorRequest& r) {
  FrontDoorAdmission a;
  std::string_view target = r.target;
  size_t q = target.find('?');
  const std::string path(target.substr(0, q));
  const std::string_view query = q == target.npos ? std::string_view() : target.substr(q + 1);
  const RouteClass cls = ClassifyRoute(r.method, path);
  Principal who;
  Status st = auth_.AuthorizeAs(r.authorization, r.method, cls, &who);
  if (!st.ok()) {
    a.status = HttpCode(st.code());
    a.code = ErrorCode(st.code());
    a.message = st.message();
    metrics_.api_requests_total
        .Add({{"method", ApiMethodLabel(r.method)},
              {"route", ApiRouteLabel(path)},
              {"code", std::to_string(a.status)}})
        .Increment();
    return a;
  }
  a.principal = who.name;
  if (cls == RouteClass::kAgent) {
    a.lane = path == "/v1/agent/assignments" ? kAgentWaitLane
             : path == "/v1/agent/status"    ? kAgentReportLane
                                             : kAgentLane;
    a.timed = path == "/v1/agent/status";
    return a;
  }
  const std::string wait = QueryValue(query, "waitMs");
  if (QueryValue(query, "follow") == "true") {
    a.lane = kFollowLane;
  } else if (r.method == "GET" && path.rfind("/v1/workloads/", 0) == 0 &&
             path.find('/', 14) == std::string::npos && !wait.empty() &&
             std::atoll(wait.c_str()) > 0) {
    a.lane = kWatchLane;
  } else {
    a.lane = kClientLane;
  }
  return a;
}

Status ApiServer::Start() {
  HostPort addr;
  if (Status st = ParseHostPort(opts_.listen, PortUse::kListen, &addr); !st.ok())
    return Status::Invalid("--api-listen: " + st.message());
  waits_ = std::make_unique<ApiWaits>(
      store_, cp_, auth_, metrics_,
      [this](const Principal& who, NodeAction action, const std::string& node,
             const std::string& message) { EventNodeAccessDenied(who, action, node, message); });
  cp_.SetChangeListener([w = waits_.get()] { w->Notify(); });
  reports_ = std::make_unique<ApiReports>(
      cp_, auth_, metrics_,
      [this](const Principal& who, NodeAction action, const std::string& node,
             const std::string& message) { EventNodeAccessDenied(who, action, node, message); });
  // The follow lane's workers only answer what ApiLogs cannot route (an https agent): its
  // streams are relayed by the front door, bounded by max_watches, not by threads.
  constexpr int kFollowFallbackWorkers = 2;
  const int workers[kLanes] = {opts_.workers, 0, opts_.agent_workers, 0, kFollowFallbackWorkers, 0};
  FrontDoorOptions fo;
  for (int lane = 0; lane < kLanes; ++lane) {
    FrontDoorLane l;
    l.agent = lane == kAgentLane || lane == kAgentWaitLane || lane == kAgentReportLane;
    if (lane == kWatchLane || lane == kFollowLane) {
      l.max_inflight = std::max(1, opts_.max_watches);
      l.max_per_principal = opts_.max_watches_per_token;
    }
    if (lane == kWatchLane) {
      l.serve = [w = waits_.get()](FrontDoorCall c) { return w->Watch(std::move(c)); };
    } else if (lane == kFollowLane) {
      // Followed logs stream from the agent through the front door (ApiLogs); the lane's
      // worker answers only what it cannot route (an https agent).
      srvs_.push_back(std::make_unique<httplib::Server>());
      httplib::Server& srv = *srvs_.back();
      Routes(srv, std::max(1, workers[lane]));
      const int port = BindHttpServer(srv, "127.0.0.1", 0);
      if (port < 0) {
        Stop();
        return Status::Unavailable("cannot listen on 127.0.0.1 (API backend)");
      }
      threads_.emplace_back([&srv] { srv.listen_after_bind(); });
      for (int i = 0; i < 5000 && !srv.is_running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      logs_ = std::make_unique<ApiLogs>(
          store_, cp_, [this](const std::string& url) { return AgentToken(url); }, port);
      l.route = [r = logs_.get()](FrontDoorCall c) { return r->Route(std::move(c)); };
    } else if (lane == kAgentWaitLane) {
      l.serve = [w = waits_.get()](FrontDoorCall c) { return w->Assignments(std::move(c)); };
    } else if (lane == kAgentReportLane) {
      l.serve = [r = reports_.get()](FrontDoorCall c) { return r->Report(std::move(c)); };
    } else {
      srvs_.push_back(std::make_unique<httplib::Server>());
      httplib::Server& srv = *srvs_.back();
      Routes(srv, std::max(1, workers[lane]));
      l.backend_port = BindHttpServer(srv, "127.0.0.1", 0);
      if (l.backend_port < 0) {
        Stop();
        return Status::Unavailable("cannot listen on 127.0.0.1 (API backend)");
      }
      threads_.emplace_back([&srv] { srv.listen_after_bind(); });
      // httplib's stop() does nothing before its listen loop runs (a Stop() right after
      // Start() would then join a thread that accepts forever): wait for the loop.
      for (int i = 0; i < 5000 && !srv.is_running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    fo.lanes.push_back(l);
  }
  fo.admit = [this](const FrontDoorRequest& r) { return Admit(r); };
  fo.listen = opts_.listen;
  fo.max_body_bytes = opts_.max_body_bytes;
  fo.header_timeout_ms = opts_.header_timeout_ms;
  fo.body_timeout_ms = opts_.body_timeout_ms;
  fo.max_connections = opts_.max_connections;
  fo.max_agent_connections = opts_.max_agent_connections;
  fo.max_pending = opts_.max_pending;
  fo.max_per_peer = opts_.max_per_peer;
  fo.rate_per_principal = opts_.rate_per_token;
  fo.tls_cert_file = opts_.tls_cert_file;
  fo.tls_key_file = opts_.tls_key_file;
  // Agents' heartbeats, head arrived to answer written (docs/metrics.md).
  auto& reports = prometheus::BuildHistogram()
                      .Name("tide_agent_report_duration_seconds")
                      .Help("Agent heartbeats, head arrived to answer written")
                      .Register(*metrics_.registry());
  fo.on_timed = [h = &reports.Add({}, Metrics::LatencyBuckets())](double s) { h->Observe(s); };
  front_ = std::make_unique<FrontDoor>(fo);
  Status st = front_->Start();
  if (!st.ok()) {
    Stop();
    return st;
  }
  port_ = front_->port();
  return Status::Ok();
}

AgentLinkFactory ApiServer::LocalAgentLinks() {
  return [this](const AgentLinkConfig& c) -> std::unique_ptr<AgentLink> {
    return std::make_unique<LocalAgentLink>(*this, c.token);
  };
}

void ApiServer::Stop() {
  if (front_) front_->Stop();
  if (waits_) waits_->StopPool();  // its last completions queue on the stopped front door
  if (reports_) reports_->StopPool();
  if (logs_) logs_->StopPool();
  for (auto& srv : srvs_) srv->stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  if (waits_) {
    cp_.SetChangeListener(nullptr);
    front_.reset();  // its suspended handlers refer to waits_ and reports_
    waits_.reset();
    reports_.reset();
    logs_.reset();
  }
}

void ApiServer::Routes(httplib::Server& s, int workers) {
  // Workers only ever see complete, admitted requests (FrontDoor); a long-poll holds one of its
  // lane's workers while it waits.
  // Threads started as calls need them (daemon/server/lazy_pool.h), not `workers` at start.
  s.new_task_queue = [workers] { return new LazyPool(static_cast<size_t>(workers)); };
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
        .Add({{"method", ApiMethodLabel(req.method)},
              {"route", ApiRouteLabel(req.path)},
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
  s.Get("/v1/leader", [this](const httplib::Request&, httplib::Response& res) {
    const std::string leader = opts_.leader ? opts_.leader() : opts_.self_name;
    SendJson(res, 200, {{"leader", leader}, {"self", opts_.self_name}});
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
                 ObjectRef(r.kind, r.name), IsWorkload(r.kind) ? r.name : "",
                 std::string(KindName(r.kind)) + " " + r.action + ", generation " +
                     std::to_string(r.generation));
      }
    }
    if (!dry_run) cp_.Kick();
    SendJson(res, 200, {{"results", out}, {"dryRun", dry_run}});
  });

  // ---- workloads ----
  auto workload_json = [this](const StoredObject& o) { return WorkloadJson(cp_, o); };
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
  // Conditional GET: every answer carries an ETag of its body; with If-None-Match naming the
  // current one, 304. With waitMs=W > 0 the request is a watch, served without a thread by
  // ApiWaits::Watch (daemon/server/api_waits.cc); it never reaches this route.
  s.Get(R"(/v1/workloads/([a-z0-9-]+))",
        [this, workload_json](const httplib::Request& req, httplib::Response& res) {
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
          if (req.get_header_value("If-None-Match") == etag) {
            res.status = 304;
            res.body.clear();
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
  s.Get(R"(/v1/workloads/([a-z0-9-]+)/logs)",
        [this](const httplib::Request& req, httplib::Response& res) {
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
          if (std::string t = AgentToken(url); !t.empty())
            h.emplace("Authorization", "Bearer " + t);
          const ClientTls tls{opts_.agent_ca_file, false};  // an https agent API (api/tls.h)
          if (!follow) {
            httplib::Client cli(url);
            TrustServer(&cli, url, tls);
            cli.set_read_timeout(10, 0);
            auto r = cli.Get(path, h);
            if (!r) return SendError(res, 503, "Unavailable", "agent at " + url + " unreachable");
            res.status = r->status;
            res.set_content(r->body, r->status == 200 ? "text/plain" : "application/json");
            return;
          }
          res.set_chunked_content_provider("text/plain", [=](size_t, httplib::DataSink& sink) {
            httplib::Client cli(url);
            TrustServer(&cli, url, tls);
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
    SendItems(res, cp_.Instances(Param(req, "workload"), Param(req, "node")));
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

  SecretRoutes(s);  // api_secrets.cc

  // ---- agent protocol ----
  // Each call first proves the caller may act as the node it names (docs/api.md "Node identity",
  // daemon/server/node_identity.h); the pre-routing handler has already authenticated it.
  // tided's in-process agent makes the same calls without a socket (LocalAgentLink).
  s.Post("/v1/agent/register", [this](const httplib::Request& req, httplib::Response& res) {
    RegisterAgent(req.get_header_value("Authorization"), req.body, res);
  });
  // POST /v1/agent/status (heartbeats) is served by ApiReports::Report.
  // GET /v1/agent/assignments (the long-poll) is served by ApiWaits::Assignments.
}

void ApiServer::RegisterAgent(const std::string& authorization, const std::string& body,
                              httplib::Response& res) {
  NodeInfo info;
  std::vector<InstanceStatus> running;
  Status dst = DecodeRegisterBody(body, &info, &running);
  if (!dst.ok()) return SendError(res, HttpCode(dst.code()), "InvalidRequest", dst.message());
  Principal who;
  auth_.AuthorizeAs(authorization, "POST", RouteClass::kAgent, &who);
  const NodeAccess access =
      DecideNodeAccess(who, NodeAction::kRegister, info.name, auth_.NodeClaimed(info.name));
  if (access.verdict == NodeAccess::Verdict::kDeny) {
    return DenyNodeAccess(res, who, NodeAction::kRegister, info.name, access.message);
  }
  std::string credential;
  const bool joined = access.verdict == NodeAccess::Verdict::kJoin;
  if (joined) {
    Status st = auth_.Join(
        info.name,
        [this](const std::string& n, const std::string& d) {
          return store_.PutNodeCredential(n, d);
        },
        &credential);
    if (st.code() == Status::Code::kForbidden) {  // another join for this name won the race
      return DenyNodeAccess(res, who, NodeAction::kRegister, info.name, st.message());
    }
    if (!st.ok()) return SendStatus(res, st);
    cp_.Emit("Normal", "NodeJoined", "node/" + info.name, "",
             "node " + info.name + " joined with join token " + who.name +
                 "; it got a credential bound to it");
  }
  // A node that just joined was never assigned anything: what it says it runs is not adopted.
  Status st = cp_.RegisterNode(info, running, /*may_adopt=*/!joined);
  if (!st.ok()) return SendStatus(res, st);
  json out = {{"registered", info.name}};
  if (joined) out["credential"] = credential;
  RememberAgentToken(info.agent_url, body);
  SendJson(res, 200, out);
}

void ApiServer::DenyNodeAccess(httplib::Response& res, const Principal& who, NodeAction action,
                               const std::string& node, const std::string& message) {
  SendError(res, 403, "Forbidden", message);
  EventNodeAccessDenied(who, action, node, message);
}

void ApiServer::EventNodeAccessDenied(const Principal& who, NodeAction action,
                                      const std::string& node, const std::string& message) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  {
    std::lock_guard<std::mutex> lk(deny_mu_);
    if (deny_evented_ms_.size() >= 1024) deny_evented_ms_.clear();  // bounded, whatever comes
    int64_t& last = deny_evented_ms_[who.name + "\n" + NodeActionName(action) + "\n" + node];
    if (last != 0 && now - last < 60000) return;
    last = now;
  }
  cp_.Emit("Warning", "NodeAccessDenied", "node/" + node, "", message);
}

}  // namespace tide
