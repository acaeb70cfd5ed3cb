// tided: the control-plane binary (flags: docs/operations.md). Parses flags (each also settable in
// the YAML file given by --config; flags win), opens the store, loads credentials, starts the
// control plane, gateway, REST API and (unless --no-local-agent) the in-process node agent, applies
// --manifests, then runs until SIGINT/SIGTERM.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <iostream>

#include "agent/agent.h"
#include "agent/exec_stub.h"
#include "api/address.h"
#include "api/private_dir.h"
#include "api/quantity.h"
#include "api/service_notify.h"
#include "api/tls.h"
#include "daemon/control/control_plane.h"
#include "daemon/freeze_router.h"
#include "daemon/gateway/gateway.h"
#include "daemon/gateway/invoker.h"
#include "daemon/metrics.h"
#include "daemon/server/api_server.h"
#include "daemon/server/apply.h"
#include "daemon/server/auth.h"
#include "daemon/store/migrate.h"
#include "daemon/store/repair.h"
#include "daemon/store/secrets_key.h"
#include "daemon/store_backend.h"

namespace {

struct Config {
  std::string api_listen = "127.0.0.1:7400";
  std::string gateway_listen = "127.0.0.1:7480";
  std::string data_dir = "./tide-data";
  std::string tokens_file;
  bool no_local_agent = false;
  std::string manifests;
  std::string node_grace = "10s";
  // Adaptive keep-alive (idleTimeoutSeconds: auto, daemon/control/keepalive_policy.h).
  std::string keepalive_fallback = "10m";
  std::string keepalive_min_unload = "60s";
  std::string agent_port_range = "20000-29999";
  int gateway_max_queue = 1000;
  int gateway_io_threads = 2;
  std::string gateway_body_timeout = "60s";
  int64_t gateway_body_min_rate = 1024;
  tide::ApiServerOptions api;  // the API's limits
  // The local agent's user policy (agent/run_as.h). A single-node dev install keeps running
  // workloads as tided's own user, root included, unless told otherwise (docs/security.md).
  std::string default_user;
  bool allow_root = true;
  size_t cgroup_pool = 4;
  // The store and, on etcd, this member's name and lease (daemon/store_backend.h, docs/ha.md).
  tide::StoreBackendOptions store;
  std::string leader_ttl = "3s";
  std::string secrets_key_file;            // "" = DATA_DIR/secrets.key, created when absent
  std::string secrets_rotate_from;         // the previous key file (daemon/store/secrets_key.h)
  std::string tls_cert, tls_key, ca_file;  // api/tls.h; docs/operations.md "TLS"
};

// "gatewayMaxQueue" -> "--gateway-max-queue": the --config key of every flag is its name in
// camelCase, so a new flag is settable in the file the day it is added.
std::string FlagOfKey(const std::string& key) {
  std::string flag = "--";
  for (char c : key) {
    if (c >= 'A' && c <= 'Z') {
      flag += '-';
      flag += static_cast<char>(c - 'A' + 'a');
    } else {
      flag += c;
    }
  }
  return flag;
}

// Reads --config YAML into the flags' variables for every key not given as a flag, through the
// flag's own conversion and checks (so a value is refused for the same reasons on both paths).
bool LoadConfigFile(const std::string& path, CLI::App& app, std::string* err) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    *err = "--config " + path + ": " + e.what();
    return false;
  }
  if (!root.IsMap()) {
    *err = "--config " + path + ": expected a mapping of settings";
    return false;
  }
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    const std::string flag = FlagOfKey(key);
    CLI::Option* opt = nullptr;
    // repair, export and import are one-off actions, never standing settings.
    bool ok = !key.empty() && key != "config" && key != "help" && key != "version" &&
              key != "repair" && key != "export" && key != "import" && key != "importReplace" &&
              flag.find("--", 2) == std::string::npos;
    if (ok) opt = app.get_option_no_throw(flag);
    // A negated name (--no-allow-root) would set its option the other way round: not a key.
    if (opt) {
      const auto& negated = opt->get_fnames();
      if (std::find(negated.begin(), negated.end(), flag.substr(2)) != negated.end()) {
        opt = nullptr;
      }
    }
    if (!opt) {
      *err = "--config " + path + ": unknown setting '" + key + "'";
      return false;
    }
    if (!kv.second.IsScalar()) {
      *err = "--config " + path + ": " + key + ": expected a single value";
      return false;
    }
    if (opt->count() > 0) continue;  // the command line wins
    try {
      opt->add_result(kv.second.Scalar());
      opt->run_callback();
    } catch (const CLI::Error& e) {
      *err = "--config " + path + ": " + key + ": " + e.what();
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc gives each thread that allocates its own arena (up to 8 per core); with a dozen mostly
  // idle threads that is several MiB of resident, half-empty heap. Two arenas are plenty here.
  tide::MaybeRunExecStub(argc, argv);  // a local agent's exec stub: never returns
  ::mallopt(M_ARENA_MAX, 2);
  // Blocks of 128 KiB and more (a JSON document of 1,000 instances, a report's body) are mapped
  // on their own and given back when freed. glibc would raise this bound to the largest block
  // freed so far, and a burst's documents then stay in the heap as free pages until a trim: the
  // RSS read at 1,000 instances Ready was several MiB above what is held (docs/benchmarks.md,
  // idle_bench).
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  ::umask(077);  // the store, its WAL, tokens and logs are private from their first byte
  CLI::App app{"tided: Tide control plane"};
  Config cfg;
  std::string config_file;
  bool repair = false;
  std::string export_file, import_file;
  bool import_replace = false;
  app.add_option("--config", config_file, "YAML file with these settings (flags win)");
  app.add_option("--export", export_file,
                 "write every workload and layer of --store to FILE and exit (docs/ha.md)");
  app.add_option("--import", import_file,
                 "write the objects of an --export FILE into --store, all or nothing, and exit");
  app.add_flag("--import-replace", import_replace,
               "--import: replace the objects the target store already holds");
  app.add_flag("--repair", repair,
               "rebuild a damaged store from what can be read, print what was recovered and "
               "lost, and exit (docs/operations.md)");
  app.add_option("--api-listen", cfg.api_listen, "REST API, /healthz, /metrics")
      ->capture_default_str();
  app.add_option("--gateway-listen", cfg.gateway_listen, "request gateway")->capture_default_str();
  app.add_option("--data-dir", cfg.data_dir, "store and generated credentials")
      ->capture_default_str();
  app.add_option("--tokens-file", cfg.tokens_file, "API tokens (YAML)");
  app.add_flag("--no-local-agent", cfg.no_local_agent, "control plane only");
  app.add_option("--manifests", cfg.manifests, "apply these manifests (file or dir) at start");
  app.add_option("--node-grace", cfg.node_grace, "silent agent: NotReady, then Lost")
      ->capture_default_str();
  app.add_option("--keepalive-fallback", cfg.keepalive_fallback,
                 "idleTimeoutSeconds: auto: the fixed keep-alive until the idle gaps say more")
      ->capture_default_str();
  app.add_option("--keepalive-min-unload", cfg.keepalive_min_unload,
                 "idleTimeoutSeconds: auto: stop and pre-warm only for a longer idle stretch")
      ->capture_default_str();
  app.add_option("--agent-port-range", cfg.agent_port_range, "local agent's $PORT range")
      ->capture_default_str();
  app.add_option("--gateway-max-queue", cfg.gateway_max_queue,
                 "requests one workload may have waiting for an instance (then 503)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--gateway-io-threads", cfg.gateway_io_threads, "gateway I/O threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--gateway-body-timeout", cfg.gateway_body_timeout,
                 "time a request body may take to arrive (then 408), plus 1 s per "
                 "--gateway-body-min-rate bytes received")
      ->capture_default_str();
  app.add_option("--gateway-body-min-rate", cfg.gateway_body_min_rate,
                 "bytes per second of request body that extend --gateway-body-timeout (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  // The API's limits (daemon/server/front_door.h; docs/operations.md "API limits").
  app.add_option("--api-max-connections", cfg.api.max_connections,
                 "client requests at once (then 503)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--api-agent-connections", cfg.api.max_agent_connections,
                 "agent requests at once, a budget clients cannot use")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--api-max-per-peer", cfg.api.max_per_peer,
                 "client requests in flight per peer address (then 429; 0: no bound)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  app.add_option("--api-max-watches", cfg.api.max_watches,
                 "client watches and followed logs at once (then 429)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--api-max-watches-per-token", cfg.api.max_watches_per_token,
                 "of them, per token (then 429; 0: no bound)")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  app.add_option("--api-rate-per-token", cfg.api.rate_per_token,
                 "client requests per second per token, burst twice that (then 429; 0: no bound)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--api-agent-wait-workers", cfg.api.agent_wait_workers,
                 "no effect, kept for old configs: long-polls and watches hold no thread")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--default-user", cfg.default_user,
                 "local agent: user for workloads without spec.user (default: tided's own)");
  app.add_flag("--allow-root,!--no-allow-root", cfg.allow_root,
               "local agent: allow workloads to run as root (default: allowed)");
  app.add_option("--cgroup-pool", cfg.cgroup_pool,
                 "local agent: processes kept ready in cgroups of their own for cold starts")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  app.add_option("--store", cfg.store.store, "sqlite, or etcd://HOST:PORT[,HOST:PORT...]")
      ->capture_default_str();
  app.add_option("--store-prefix", cfg.store.prefix, "etcd: the keys' prefix")
      ->capture_default_str();
  app.add_option("--name", cfg.store.name, "this member's name (default: host name)");
  app.add_option("--leader-ttl", cfg.leader_ttl, "etcd: the leader lease's TTL (whole seconds)")
      ->capture_default_str();
  app.add_option("--secrets-key-file", cfg.secrets_key_file,
                 "AES-256 key sealing Secrets in the store (default: DATA_DIR/secrets.key, "
                 "generated at first start)");
  app.add_option("--secrets-rotate-from", cfg.secrets_rotate_from,
                 "previous secrets key file: re-seal every Secret with the current key at start");
  app.add_option("--tls-cert", cfg.tls_cert, "API over https: certificate chain (PEM)");
  app.add_option("--tls-key", cfg.tls_key, "API over https: private key of --tls-cert (PEM)");
  app.add_option("--ca-file", cfg.ca_file, "CA (PEM) that signs agents' https APIs (logs)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return e.get_exit_code() == 0 ? rc : 2;
  }
  std::string err;
  if (!config_file.empty() && !LoadConfigFile(config_file, app, &err)) {
    std::cerr << "tided: " << err << "\n";
    return 2;
  }
  int64_t grace_ms = 0;
  if (!tide::ParseDuration(cfg.node_grace, &grace_ms, &err) || grace_ms < 1000) {
    std::cerr << "tided: --node-grace: " << (err.empty() ? "must be at least 1s" : err) << "\n";
    return 2;
  }
  tide::KeepAliveOptions keepalive;
  for (auto [flag, text, out] :
       {std::tuple{"--keepalive-fallback", &cfg.keepalive_fallback, &keepalive.fallback_ms},
        std::tuple{"--keepalive-min-unload", &cfg.keepalive_min_unload,
                   &keepalive.min_unload_ms}}) {
    if (!tide::ParseDuration(*text, out, &err)) {
      std::cerr << "tided: " << flag << ": " << err << "\n";
      return 2;
    }
  }
  tide::HostPort api_addr, gateway_addr;
  for (auto [flag, text, out] :
       {std::tuple{"--api-listen", &cfg.api_listen, &api_addr},
        std::tuple{"--gateway-listen", &cfg.gateway_listen, &gateway_addr}}) {
    if (tide::Status s = tide::ParseHostPort(*text, tide::PortUse::kListen, out); !s.ok()) {
      std::cerr << "tided: " << flag << ": " << s.message() << "\n";
      return 2;
    }
  }

  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
    std::cerr << "tided: --tls-cert and --tls-key go together\n";
    return 2;
  }
  for (const tide::Status& s :
       {cfg.tls_cert.empty() ? tide::Status::Ok()
                             : tide::CheckServerTlsFiles(cfg.tls_cert, cfg.tls_key),
        cfg.ca_file.empty() ? tide::Status::Ok() : tide::CheckCaFile(cfg.ca_file)}) {
    if (!s.ok()) {
      std::cerr << "tided: TLS: " << s.message() << "\n";
      return 2;
    }
  }
  int64_t body_timeout_ms = 0;
  if (!tide::ParseDuration(cfg.gateway_body_timeout, &body_timeout_ms, &err) ||
      body_timeout_ms < 100) {
    std::cerr << "tided: --gateway-body-timeout: " << (err.empty() ? "must be at least 100ms" : err)
              << "\n";
    return 2;
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  tide::Clock& clock = tide::SystemClock::Get();
  int64_t leader_ttl_ms = 0;
  if (!tide::ParseDuration(cfg.leader_ttl, &leader_ttl_ms, &err) || leader_ttl_ms % 1000 != 0) {
    std::cerr << "tided: --leader-ttl: " << (err.empty() ? "whole seconds, e.g. 3s" : err) << "\n";
    return 2;
  }
  cfg.store.leader_ttl_seconds = leader_ttl_ms / 1000;
  cfg.store.data_dir = cfg.data_dir;
  if (cfg.store.name.empty()) cfg.store.name = tide::DefaultNodeName();
  // Before the store: its elector counts refused fenced writes into it from its first round.
  tide::Metrics metrics;
  std::unique_ptr<tide::StoreBackend> backend;
  // 0700, files 0600; an older install's modes are tightened here.
  tide::Status st = tide::MakePrivateDir(cfg.data_dir);
  if (!st.ok()) {
    std::cerr << "tided: " << st.message() << "\n";
    return 1;
  }
  if (repair) return tide::RunRepair(cfg.data_dir, clock.WallMs(), std::cout, std::cerr);
  st = tide::StoreBackend::Open(cfg.store, clock, &backend);
  if (!st.ok()) {
    std::cerr << "tided: store: " << st.message() << "\n";
    return st.code() == tide::Status::Code::kInvalid ? 2 : 1;
  }
  tide::ObjectStore* store = &backend->store();
  if (!export_file.empty() || !import_file.empty()) {  // one-off: no campaign, no serving
    if (!export_file.empty() && !import_file.empty()) {
      std::cerr << "tided: --export and --import: one at a time\n";
      return 2;
    }
    std::string summary;
    st = export_file.empty() ? tide::ImportStore(*store, import_file, import_replace, &summary)
                             : tide::ExportStore(*store, export_file, &summary);
    if (!st.ok()) {
      std::cerr << "tided: " << st.message() << " (nothing was written)\n";
      return 1;
    }
    std::cout << summary << "\n";
    return 0;
  }
  backend->SetFenceRefusedListener(
      [&metrics] { metrics.fenced_writes_refused_total.Add({}).Increment(); });
  backend->Start();
  std::vector<std::string> secret_notes;
  st = tide::SetUpSecretsKey(*store, cfg.data_dir, cfg.secrets_key_file, cfg.secrets_rotate_from,
                             &secret_notes);
  if (!st.ok()) {
    std::cerr << "tided: secrets: " << st.message() << "\n";
    return 1;
  }
  for (const auto& note : secret_notes) spdlog::info("{}", note);
  std::unique_ptr<tide::Auth> auth;
  st = cfg.tokens_file.empty()
           ? tide::Auth::LoadOrGenerate(cfg.data_dir, tide::LocalUrl(api_addr), &auth)
           : tide::Auth::LoadTokensFile(cfg.tokens_file, &auth);
  if (!st.ok()) {
    std::cerr << "tided: " << st.message() << "\n";
    return 2;
  }
  {  // Node credentials issued at earlier joins (only their digests are stored).
    std::vector<std::pair<std::string, std::string>> creds;
    st = store->ListNodeCredentials(&creds);
    for (size_t i = 0; st.ok() && i < creds.size(); ++i)
      st = auth->AddNodeCredential(creds[i].first, creds[i].second);
    if (!st.ok()) {
      std::cerr << "tided: node credentials: " << st.message() << "\n";
      return 1;
    }
  }
  // The in-process agent acts only as its own node; that name is taken from the start.
  const std::string local_node = tide::DefaultNodeName();
  if (!cfg.no_local_agent) auth->BindLocalAgent(local_node);

  tide::ControlPlaneOptions cpo;
  cpo.node_grace_ms = grace_ms;
  cpo.keepalive = keepalive;
  if (backend->is_etcd()) cpo.may_act = [b = backend.get()] { return b->IsLeader(); };
  cpo.member_name = backend->name();
  // The gateway needs the control plane as its backend and the control plane feeds the
  // gateway: construct the control plane first with the gateway pointer it will use. The
  // invoker is destroyed last: the control plane's threads enqueue schedule triggers with it.
  struct Holder {
    std::unique_ptr<tide::Invoker> invoker;
    std::unique_ptr<tide::Gateway> gateway;
    std::unique_ptr<tide::ControlPlane> cp;
  } h;
  tide::GatewayOptions gwo;
  gwo.listen = cfg.gateway_listen;
  gwo.max_queue_per_workload = static_cast<size_t>(cfg.gateway_max_queue);
  gwo.io_threads = cfg.gateway_io_threads;
  gwo.body_timeout_ms = body_timeout_ms;
  gwo.body_min_rate = cfg.gateway_body_min_rate;
  // Two-step wiring through a small forwarding backend.
  struct Forward : tide::GatewayBackend {
    tide::ControlPlane* cp = nullptr;
    tide::Invoker* invoker = nullptr;
    tide::Status EnqueueAsync(const std::string& w, tide::AsyncInvocation inv,
                              std::string* id) override {
      return invoker->Enqueue(w, std::move(inv), id);
    }
    std::optional<tide::RouteInfo> Route(const std::string& w) override { return cp->Route(w); }
    void OnLoad(const std::string& w, int inflight, int queued) override {
      cp->OnLoad(w, inflight, queued);
    }
    tide::FreezeRouter freezer;  // the frozen tier: straight to the local agent, else HTTP
    tide::Status Freeze(const tide::Endpoint& ep, bool freeze) override {
      return freezer.Freeze(ep, freeze);
    }
  } forward;
  h.gateway = std::make_unique<tide::Gateway>(gwo, forward, clock, &metrics);
  tide::InvokerOptions ivo;
  ivo.gateway_url = tide::LocalUrl(gateway_addr);
  // On etcd only the leader delivers async invocations (daemon/gateway/invoker.h, docs/ha.md).
  if (backend->is_etcd()) ivo.leads = [b = backend.get()] { return b->IsLeader(); };
  h.invoker = std::make_unique<tide::Invoker>(ivo, *store, clock);
  forward.invoker = h.invoker.get();
  cpo.invoker = h.invoker.get();
  h.cp = std::make_unique<tide::ControlPlane>(cpo, *store, clock, metrics, h.gateway.get());
  forward.cp = h.cp.get();
  store->SetChangeListener([cp = h.cp.get()] { cp->Kick(); });

  if (!cfg.manifests.empty()) {
    std::vector<tide::ManifestFile> files;
    st = tide::ReadManifestPath(cfg.manifests, &files);
    std::vector<tide::ApplyResult> results;
    std::vector<tide::FieldError> errors;
    if (st.ok()) st = tide::ApplyFiles(*store, files, false, &results, &errors);
    if (!st.ok()) {
      std::cerr << "tided: --manifests " << cfg.manifests << ": " << st.message() << "\n";
      for (const auto& e : errors) std::cerr << "  " << tide::FormatFieldError(e) << "\n";
      return 1;
    }
    for (const auto& r : results)
      spdlog::info("manifests: {} {} {}", tide::KindName(r.kind), r.name, r.action);
  }

  h.cp->Start();
  h.invoker->Start();
  st = h.gateway->Start();
  if (!st.ok()) {
    std::cerr << "tided: gateway: " << st.message() << "\n";
    return 1;
  }
  tide::ApiServerOptions apo = cfg.api;
  apo.listen = cfg.api_listen;
  apo.tls_cert_file = cfg.tls_cert;
  apo.tls_key_file = cfg.tls_key;
  apo.agent_ca_file = cfg.ca_file;
  // A wildcard host stays as it is: tidectl replaces it with the host it reached the API on.
  apo.gateway_url = "http://" + tide::FormatHostPort({gateway_addr.host, h.gateway->port()});
  apo.self_name = backend->name();
  apo.leader = [b = backend.get()] { return b->Leader(); };
  tide::ApiServer api(apo, *store, *h.cp, *auth, metrics);
  forward.freezer.SetRemote(
      {[cp = h.cp.get()](const std::string& id) { return cp->AgentUrlOf(id); },
       [&api](const std::string& url) { return api.AgentApiToken(url); }, cfg.ca_file});
  st = api.Start();
  if (!st.ok()) {
    std::cerr << "tided: " << st.message() << "\n";
    return 1;
  }
  spdlog::info("tided: API on {} (port {}), gateway on {} (port {}), data in {}", cfg.api_listen,
               api.port(), cfg.gateway_listen, h.gateway->port(), cfg.data_dir);

  std::unique_ptr<tide::Agent> agent;
  if (!cfg.no_local_agent) {
    tide::AgentOptions ao;
    ao.server = tide::LocalUrl(api_addr, api.port());
    if (!cfg.tls_cert.empty()) {  // trusts exactly tided's own certificate, whatever its names
      ao.server.replace(0, ao.server.find("://"), "https");
      ao.ca_file = cfg.tls_cert;
      ao.pin_server_cert = true;
    }
    ao.token = auth->local_agent_token();
    // Its calls go straight to the API's handlers (daemon/server/local_agent_link.h): no socket
    // and no front-door hop on a cold start's assignment and report. Authorized as over HTTP.
    ao.link = api.LocalAgentLinks();
    ao.name = local_node;
    ao.data_dir = cfg.data_dir + "/agent";
    ao.listen = "127.0.0.1:0";
    ao.advertise = "127.0.0.1";
    ao.default_user = cfg.default_user;
    ao.allow_root = cfg.allow_root;
    ao.cgroup_pool = cfg.cgroup_pool;
    if (std::sscanf(cfg.agent_port_range.c_str(), "%d-%d", &ao.port_lo, &ao.port_hi) != 2) {
      std::cerr << "tided: --agent-port-range: expected LO-HI\n";
      return 2;
    }
    agent = std::make_unique<tide::Agent>(ao, clock);
    st = agent->Start();
    if (!st.ok()) {
      std::cerr << "tided: local agent: " << st.message() << "\n";
      return 1;
    }
    forward.freezer.SetLocal(local_node, agent.get());
  }

  // systemd (api/service_notify.h): ready now; the watchdog pings only while the control
  // plane's lock can be taken, so a deadlocked tided is restarted.
  tide::ServiceNotify notify;
  notify.Ready("API on " + cfg.api_listen + ", gateway on " + cfg.gateway_listen);
  int sig = tide::WaitForStopSignal(set, notify, [&] { return h.cp->StatusRevision() >= 0; });
  notify.Stopping("signal " + std::to_string(sig) + ", shutting down");
  spdlog::info("tided: signal {}, shutting down (instances keep running)", sig);
  if (agent) agent->Stop();
  api.Stop();
  h.invoker->Stop();
  h.gateway->Stop();
  forward.freezer.SetLocal("", nullptr);  // no thaw reaches the agent after this
  h.cp->Stop();
  backend->Stop();  // on etcd: hands leadership over at once
  return 0;
}
