#include "agent/agent.h"

#include <httplib.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/agent_metrics.h"
#include "agent/freezer.h"
#include "agent/instance_finder.h"
#include "agent/limits.h"
#include "agent/log_files.h"
#include "agent/prober.h"
#include "agent/process_launcher.h"
#include "agent/supervisor.h"
#include "api/address.h"
#include "api/agent_delta.h"
#include "api/client.h"
#include "api/http_listen.h"
#include "api/json.h"
#include "api/private_dir.h"
#include "api/private_file.h"
#include "api/tls.h"

namespace tide {

struct Agent::Http {
  std::unique_ptr<httplib::Server> server;  // an httplib::SSLServer with --tls-cert
};

namespace {

int64_t PhysicalMemory() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : 0;
}

constexpr const char* kCredentialFile = "node-credential.json";

}  // namespace

std::string DefaultNodeName() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return host[0] ? host : "node";
}

Agent::Agent(AgentOptions opts, Clock& clock) : opts_(std::move(opts)), clock_(clock) {
  if (opts_.name.empty()) opts_.name = DefaultNodeName();
  token_ = opts_.token;
  if (opts_.cpu <= 0) opts_.cpu = static_cast<double>(std::thread::hardware_concurrency());
  if (opts_.memory_bytes <= 0) opts_.memory_bytes = PhysicalMemory();
}

Agent::~Agent() { Stop(); }

NodeInfo Agent::Info() const {
  NodeInfo n;
  n.name = opts_.name;
  n.address = opts_.advertise;
  HostPort listen;
  ParseHostPort(opts_.listen, PortUse::kListen, &listen);  // checked by Start()
  // Reached from tided, which may be on another host: a wildcard becomes the advertised host.
  if (IsWildcardHost(listen.host)) listen.host = opts_.advertise;
  n.agent_url = LocalUrl(listen, api_port_);
  if (!opts_.tls_cert_file.empty()) n.agent_url.replace(0, n.agent_url.find("://"), "https");
  n.capacity.cpu = opts_.cpu;
  n.capacity.memory_bytes = opts_.memory_bytes;
  n.labels = opts_.labels;
  return n;
}

Status Agent::Start() {
  std::vector<std::string> servers;
  if (Status st = ParseServerList(opts_.server, &servers); !st.ok()) {
    return Status::Invalid("--server: " + st.message());
  }
  members_.clear();
  for (auto& url : servers) {
    members_.push_back(std::make_unique<Member>());
    members_.back()->url = url;
  }
  HostPort listen;
  if (Status st = ParseHostPort(opts_.listen, PortUse::kListen, &listen); !st.ok()) {
    return Status::Invalid("--listen: " + st.message());
  }
  // The data dir holds the node credential, the instance records and the logs: 0700, its
  // files 0600 (docs/security.md); an older install's modes are tightened here.
  if (Status ds = MakePrivateDir(opts_.data_dir); !ds.ok()) return ds;
  if (Status cs = LoadCredential(); !cs.ok()) return cs;
  if (opts_.api_token.empty()) {
    unsigned char raw[32];
    if (::getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw)) {
      return Status::Internal("agent: no randomness for the API token");
    }
    static const char* kHex = "0123456789abcdef";
    for (unsigned char b : raw) {
      opts_.api_token += kHex[b >> 4];
      opts_.api_token += kHex[b & 15];
    }
  }
  OsProcessLauncher::Options lo;
  lo.run_as = RunAsPolicy{opts_.default_user, opts_.allow_root};
  lo.cgroup_pool = opts_.cgroup_pool;
  lo.pool_exe = "/proc/self/exe";
  auto launcher = std::make_unique<OsProcessLauncher>(std::move(lo));
  spdlog::info("agent {}: instance task limits (spec.resources.pids) through {}", opts_.name,
               launcher->PidsEnforcement());
  launcher_ = std::move(launcher);
  if (opts_.allow_root && ::geteuid() == 0) {
    spdlog::warn("agent {}: --allow-root: workloads may run as root ({}); give each a spec.user",
                 opts_.name,
                 opts_.default_user.empty() ? "the default: no --default-user"
                                            : "default user " + opts_.default_user);
  }
  prober_ = std::make_unique<RealProber>(4, clock_);
  logs_ = std::make_unique<LogFiles>(opts_.data_dir + "/logs");
  freezer_ = std::make_unique<InstanceFreezer>(DetectFreezerPaths(DetectCgroupLayout()));
  SupervisorOptions so;
  so.freezer = freezer_.get();
  so.node = opts_.name;
  so.data_dir = opts_.data_dir;
  so.port_lo = opts_.port_lo;
  so.port_hi = opts_.port_hi;
  supervisor_ = std::make_unique<Supervisor>(so, clock_, *launcher_, *prober_, *logs_);
  // Saved state that cannot be read is never taken for "no instances": that would start every
  // instance a second time beside the untracked processes. A file that reads but does not decode
  // is moved aside and the instances are found again from /proc (agent/instance_finder.h).
  std::vector<FoundInstance> unrecorded;
  if (!opts_.data_dir.empty()) {
    Status as =
        AdoptUnrecorded(opts_.data_dir, opts_.name, "/proc", opts_.data_dir + "/logs", &unrecorded);
    if (!as.ok() && as.code() != Status::Code::kInvalid) {
      return Status::Internal("agent: looking for running instances not recorded: " + as.message());
    }
    for (const auto& f : unrecorded) {
      spdlog::warn("agent {}: instance {} (pid {}) runs but was not recorded; re-adopting it",
                   opts_.name, f.id, f.pid);
    }
  }
  Status restored = supervisor_->Restore();
  if (restored.code() == Status::Code::kInvalid && !opts_.data_dir.empty()) {
    FoundInstances found;
    std::string moved_to;
    Status rs = RecoverInstanceState(opts_.data_dir, opts_.name, "/proc", clock_.WallMs(), &found,
                                     &moved_to, opts_.data_dir + "/logs");
    if (rs.ok()) {
      spdlog::warn(
          "agent {}: {}; moved it to {} and found {} running instance(s) of this node "
          "in /proc to re-adopt{}",
          opts_.name, restored.message(), moved_to, found.instances.size(),
          found.duplicates.empty() ? std::string()
                                   : " (" + std::to_string(found.duplicates.size()) +
                                         " duplicate process(es) left alone)");
      for (const auto& f : found.instances) {
        spdlog::info("agent {}: found instance {} (workload {}, pid {}, port {})", opts_.name, f.id,
                     f.workload, f.pid, f.port);
      }
      restored = supervisor_->Restore();
    } else {
      restored = Status::Internal(restored.message() +
                                  "; finding the instances again failed: " + rs.message());
    }
  }
  if (!restored.ok()) {
    return Status::Internal("agent: cannot restore instances: " + restored.message() +
                            " (move the file aside to start without them)");
  }

  // Nothing stays frozen across an agent restart: the frozen set is not saved, so what a
  // previous agent froze is thawed here (the gateway freezes it again when it is idle).
  {
    std::vector<InstanceFreezer::Leftover> own;
    for (const auto& st : supervisor_->Statuses()) own.push_back({st.id, st.pid});
    if (int n = freezer_->ThawLeftovers(own); n > 0)
      spdlog::info("agent {}: thawed {} instance(s) a previous agent left frozen", opts_.name, n);
  }

  http_ = std::make_unique<Http>();
  if (!opts_.tls_cert_file.empty() || !opts_.tls_key_file.empty()) {
    if (Status st = CheckServerTlsFiles(opts_.tls_cert_file, opts_.tls_key_file); !st.ok())
      return Status::Invalid("agent API TLS (--tls-cert, --tls-key): " + st.message());
    http_->server = std::make_unique<httplib::SSLServer>([this](SSL_CTX& ctx) {
      return ConfigureServerTls(&ctx, opts_.tls_cert_file, opts_.tls_key_file).ok();
    });
  } else {
    http_->server = std::make_unique<httplib::Server>();
  }
  ServeApi();
  const std::string& host = listen.host;
  api_port_ = BindHttpServer(*http_->server, host, listen.port);
  if (api_port_ <= 0) return Status::Unavailable("agent: cannot listen on " + opts_.listen);
  http_thread_ = std::thread([this] { http_->server->listen_after_bind(); });
  // A process that ends wakes the supervisor at once (its Tick reaps it and applies the policy).
  launcher_->SetExitListener([this] {
    {
      std::lock_guard<std::mutex> lk(mu_);
      wake_supervisor_ = true;
    }
    supervise_cv_.notify_all();
  });
  supervise_thread_ = std::thread([this] { SuperviseLoop(); });
  for (auto& m : members_) m->reporter = std::thread([this, mp = m.get()] { ReportLoop(*mp); });
  assign_thread_ = std::thread([this] {
    AssignmentsLoop();
    std::lock_guard<std::mutex> lk(poll_mu_);
    poll_done_ = true;
    poll_cv_.notify_all();
  });
  spdlog::info("agent {}: serving on {}:{}, server {}", opts_.name, host, api_port_, opts_.server);
  return Status::Ok();
}

void Agent::Stop() {
  if (stopping_.exchange(true)) return;
  if (launcher_) launcher_->SetExitListener(nullptr);  // no call into this Agent after here
  supervise_cv_.notify_all();
  report_cv_.notify_all();
  {
    std::lock_guard<std::mutex> lk(mu_);  // a registration wait has seen stopping_, or sleeps
  }
  registered_cv_.notify_all();
  if (http_) http_->server->stop();
  // The assignments long-poll may wait kLongPollWaitMs for tided: end it now. Again until the
  // thread is done, as an abort just before its request starts ends nothing.
  if (assign_thread_.joinable()) {
    std::unique_lock<std::mutex> lk(poll_mu_);
    while (!poll_done_) {
      if (poll_link_ != nullptr) poll_link_->Abort();
      poll_cv_.wait_for(lk, std::chrono::milliseconds(20), [this] { return poll_done_; });
    }
  }
  for (auto* t : {&assign_thread_, &supervise_thread_, &http_thread_}) {
    if (t->joinable()) t->join();
  }
  for (auto& m : members_) {
    if (m->reporter.joinable()) m->reporter.join();
  }
}

std::string Agent::CurrentToken(uint64_t* generation) {
  std::lock_guard<std::mutex> lk(token_mu_);
  if (generation != nullptr) *generation = token_gen_;
  return token_;
}

void Agent::SetToken(const std::string& token) {
  std::lock_guard<std::mutex> lk(token_mu_);
  token_ = token;
  ++token_gen_;
}

Status Agent::LoadCredential() {
  const std::string path = opts_.data_dir + "/" + kCredentialFile;
  std::ifstream in(path);
  if (!in) return Status::Ok();  // none yet: the configured token is used
  std::stringstream ss;
  ss << in.rdbuf();
  std::string node, credential;
  try {
    json j = json::parse(ss.str());
    node = j.at("node").get<std::string>();
    credential = j.at("credential").get<std::string>();
  } catch (const std::exception& e) {
    return Status::Invalid(path + " is not a node credential (" + e.what() +
                           "); remove it to join again with the configured token");
  }
  if (node != opts_.name) {
    spdlog::warn("agent {}: {} holds the credential of node {}, not this one: not used", opts_.name,
                 path, node);
    return Status::Ok();
  }
  ::chmod(path.c_str(), 0600);  // tighten permissions left loose by hand
  std::lock_guard<std::mutex> lk(token_mu_);
  token_ = credential;
  using_credential_ = true;
  ++token_gen_;
  return Status::Ok();
}

Status Agent::SaveCredential(const std::string& credential) {
  Status st =
      WritePrivateFile(opts_.data_dir + "/" + kCredentialFile,
                       json{{"node", opts_.name}, {"credential", credential}}.dump() + "\n");
  if (!st.ok()) return st;
  std::lock_guard<std::mutex> lk(token_mu_);
  token_ = credential;
  using_credential_ = true;
  ++token_gen_;
  return Status::Ok();
}

std::unique_ptr<AgentLink> Agent::Link(const std::string& url, const std::string& token,
                                       double timeout_seconds) const {
  AgentLinkConfig c{url, token, timeout_seconds, opts_.ca_file, opts_.pin_server_cert};
  return opts_.link ? opts_.link(c) : std::make_unique<HttpAgentLink>(c);
}

void Agent::Unregistered(Member& m) {
  m.registered = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++report_gen_;
  }
  report_cv_.notify_all();
}

bool Agent::Register(Member& m) {
  json body;
  body["node"] = Info();
  body["apiToken"] = opts_.api_token;  // tided presents it when it proxies logs
  {
    std::lock_guard<std::mutex> lk(mu_);
    body["instances"] = supervisor_->Statuses();
  }
  Response r;
  Status st = Link(m.url, CurrentToken(), 5)->Send("POST", "/v1/agent/register", body.dump(), &r);
  if (!st.ok()) {
    spdlog::warn("agent {}: register with {} failed: {}", opts_.name, m.url, st.message());
    bool fall_back = false;
    if (r.reached && r.status == 401) {  // tided does not know our credential (store lost)
      std::lock_guard<std::mutex> lk(token_mu_);
      fall_back = using_credential_ && !opts_.token.empty() && token_ != opts_.token;
      if (fall_back) {
        token_ = opts_.token;
        using_credential_ = false;
        ++token_gen_;
      }
    }
    if (fall_back) spdlog::warn("agent {}: trying to join again with --token-file", opts_.name);
    return false;
  }
  std::string credential;
  try {
    credential = json::parse(r.body).value("credential", "");
  } catch (const std::exception&) {
  }
  if (!credential.empty()) {
    // Joined: from now on only this credential acts as this node.
    st = SaveCredential(credential);
    if (!st.ok()) {
      spdlog::error("agent {}: keeping the node credential failed: {}", opts_.name, st.message());
      SetToken(credential);  // still usable until this agent stops
    }
    spdlog::info("agent {}: joined; node credential kept in {}/{}", opts_.name, opts_.data_dir,
                 kCredentialFile);
  }
  {
    std::lock_guard<std::mutex> lk(mu_);  // the assignments loop waits for this under mu_
    m.registered = true;
  }
  registered_cv_.notify_all();
  spdlog::info("agent {}: registered with {}", opts_.name, m.url);
  return true;
}

void Agent::AssignmentsLoop() {
  uint64_t token_gen = 0;
  std::unique_ptr<AgentLink> link;
  // The link Stop() may abort (its long-poll) is the one in use.
  auto use_link = [&](std::unique_ptr<AgentLink> next) {
    std::lock_guard<std::mutex> lk(poll_mu_);
    link = std::move(next);
    poll_link_ = link.get();
  };
  size_t cur = 0;  // the member asked: the leader once found
  int64_t version = -1;
  std::vector<InstanceAssignment> desired;  // the full set at `version`
  int64_t backoff_ms = 100;
  size_t misses = 0;  // members in a row that gave no assignments
  auto pause = [&](int64_t ms) {
    std::unique_lock<std::mutex> lk(mu_);
    supervise_cv_.wait_for(lk, std::chrono::milliseconds(ms), [this] { return stopping_.load(); });
  };
  // This member gave nothing: ask the next one (from the complete set), pausing once per round.
  auto next_member = [&] {
    cur = (cur + 1) % members_.size();
    use_link(nullptr);
    version = -1;
    if (++misses % members_.size() == 0) {
      pause(backoff_ms);
      backoff_ms = std::min<int64_t>(backoff_ms * 2, 250);
    }
  };
  while (!stopping_) {
    Member& m = *members_[cur];
    if (!m.registered) {  // its reporter registers; meanwhile another member may lead
      if (members_.size() == 1) {
        // The first poll goes out the moment the reporter has registered (Register wakes this
        // wait): a workload applied as the agent starts is not held for a pause.
        std::unique_lock<std::mutex> lk(mu_);
        registered_cv_.wait_for(lk, std::chrono::milliseconds(kRegisterWaitMs),
                                [&] { return stopping_.load() || m.registered.load(); });
        continue;
      }
      next_member();
      continue;
    }
    Response r;
    // With one tided the poll waits long (an idle node costs tided one request per wait, and
    // Stop() aborts it); with several, briefly, so that a member that stops leading while the
    // agent waits on it is left within the wait. The answer comes the moment a change lands.
    const int64_t wait_ms = members_.size() == 1 ? kLongPollWaitMs : kShortPollWaitMs;
    if (uint64_t g = 0; !link || (CurrentToken(&g), g != token_gen)) {
      use_link(Link(m.url, CurrentToken(&token_gen), 10 + wait_ms / 1000.0));
    }
    // delta=true: only what changed since `version` (api/agent_delta.h), or the full set when
    // tided does not remember what it sent then (its restart, a gap).
    Status st = link->Send("GET",
                           "/v1/agent/assignments?node=" + UrlEncode(opts_.name) +
                               "&after=" + std::to_string(version) +
                               "&waitMs=" + std::to_string(wait_ms) + "&specs=shared&delta=true",
                           "", &r);
    if (stopping_) break;
    if (!st.ok()) {
      if (r.reached && r.status == 404) {
        Unregistered(m);  // tided restarted and forgot us: register again
        version = -1;
        if (members_.size() > 1) next_member();
        continue;
      }
      spdlog::debug("agent {}: assignments from {}: {}", opts_.name, m.url, st.message());
      if (!r.reached && members_.size() == 1) Unregistered(m);
      next_member();
      continue;
    }
    misses = 0;
    backoff_ms = 100;
    AssignmentDelta delta;
    Status dst = DecodeAssignmentAnswer(json::parse(r.body, nullptr, false), &delta);
    if (!dst.ok()) {
      spdlog::warn("agent {}: unreadable assignments: {}", opts_.name, dst.message());
      version = -1;  // ask for the full set
      pause(backoff_ms);
      continue;
    }
    if (delta.version == version && (delta.full || delta.upserts.empty())) continue;
    if (Status ast = ApplyAssignmentDelta(delta, &desired, &version); !ast.ok()) {
      spdlog::info("agent {}: {}; asking for the full set", opts_.name, ast.message());
      version = -1;
      continue;
    }
    bool changed = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      supervisor_->SetDesired(desired);
      // New instances are launched (and probed once) from this thread, without waiting for
      // the supervise thread to be scheduled: one thread hand-off less on a cold start.
      changed = supervisor_->Tick();
      if (changed) ++report_gen_;
      wake_supervisor_ = true;
    }
    if (changed) report_cv_.notify_all();
    supervise_cv_.notify_all();
  }
}

void Agent::SuperviseLoop() {
  // The fast probes below wait 100 us at a time; the kernel's default timer slack (50 us) would
  // add half of that again to each wait. This thread only.
  ::prctl(PR_SET_TIMERSLACK, 5000UL, 0, 0, 0);
  std::unique_lock<std::mutex> lk(mu_);
  int64_t next_trim_ms = 0;
  bool untrimmed = true;  // work done since the last trim
  while (!stopping_) {
    const auto tick_start = std::chrono::steady_clock::now();
    bool changed = supervisor_->Tick();
    untrimmed = untrimmed || changed || !supervisor_->Idle();
    // A burst (200 launches, their JSON) leaves free heap pages behind; give them back to the
    // OS once a second so the agent's RSS follows what it holds, not its peak. An idle agent
    // has nothing to give back and is not woken for it. Never while a fresh start is looked
    // for (FastProbing): a trim walks the heap, and the next probe would wait for it.
    if (const int64_t now = clock_.NowMs();
        untrimmed && now >= next_trim_ms && !supervisor_->FastProbing()) {
      ::malloc_trim(0);
      next_trim_ms = now + 1000;
      untrimmed = false;
    }
    if (changed) {
      ++report_gen_;
      report_cv_.notify_all();
    }
    int64_t delay = supervisor_->NextTickDelayMs();
    if (delay <= Supervisor::kStartupProbeIntervalMs && supervisor_->DueFastProbes()) {
      // A process that just started: its listening socket is looked for every 100 us from the
      // start of the last look (its probe is due at the next Tick), as a bare client retrying
      // its connect would, not at the supervisor's millisecond ticks.
      supervise_cv_.wait_until(
          lk, tick_start + std::chrono::microseconds(Supervisor::kFastProbeIntervalUs),
          [this] { return wake_supervisor_ || stopping_.load(); });
      wake_supervisor_ = false;
      continue;
    }
    if (untrimmed) delay = std::min(delay, std::max<int64_t>(0, next_trim_ms - clock_.NowMs()));
    delay = std::clamp<int64_t>(delay, 1, Supervisor::kIdleTickDelayMs);
    supervise_cv_.wait_for(lk, std::chrono::milliseconds(delay),
                           [this] { return wake_supervisor_ || stopping_.load(); });
    wake_supervisor_ = false;
  }
}

void Agent::ReportLoop(Member& m) {
  uint64_t token_gen = 0;
  std::unique_ptr<AgentLink> link;
  // Only what changed since the report this member acknowledged (api/agent_delta.h); a complete
  // one after any doubt (no answer, a resync, a new registration).
  ReportDeltaState deltas;
  uint64_t seen_gen = 0, seen_freeze = 0;
  int64_t backoff_ms = 100;
  while (!stopping_) {
    if (!m.registered) {
      const int64_t next_seq = deltas.next_seq;
      deltas = ReportDeltaState();
      deltas.next_seq = next_seq;
      if (!Register(m)) {
        std::unique_lock<std::mutex> lk(mu_);
        report_cv_.wait_for(lk, std::chrono::milliseconds(backoff_ms),
                            [this] { return stopping_.load(); });
        backoff_ms = std::min<int64_t>(backoff_ms * 2, 250);
        continue;
      }
      backoff_ms = 100;
    }
    std::vector<InstanceStatus> now;
    {
      std::unique_lock<std::mutex> lk(mu_);
      report_cv_.wait_for(lk, std::chrono::seconds(1), [&] {
        return report_gen_ != seen_gen || freeze_gen_.load() != seen_freeze || stopping_.load() ||
               !m.registered.load();
      });
      if (stopping_) return;
      // A cold start is reported once, Ready, when it gets there within the hold: a report
      // saying Starting would go first and the Ready one would wait for its round trip.
      for (const int64_t until = clock_.NowMs() + Supervisor::kReportHoldMs;;) {
        const int64_t hold = std::min(supervisor_->ReportHoldMs(), until - clock_.NowMs());
        if (hold <= 0 || stopping_ || !m.registered) break;
        report_cv_.wait_for(lk, std::chrono::milliseconds(hold));  // woken by every change
      }
      if (stopping_) return;
      seen_gen = report_gen_;
      seen_freeze = freeze_gen_.load();
      now = supervisor_->Statuses();
    }
    for (auto& st : now) st.frozen = freezer_->IsFrozen(st.id);
    if (!m.registered) continue;
    Response r;
    if (uint64_t g = 0; !link || (CurrentToken(&g), g != token_gen)) {
      link = Link(m.url, CurrentToken(&token_gen), 5);
    }
    Status st = link->Send("POST", "/v1/agent/status", NextReport(opts_.name, now, &deltas), &r);
    OnReportAnswer(st.ok() ? r.status : 0, r.body, &deltas);
    if (!st.ok() && r.reached && r.status == 404) m.registered = false;
    // A member that does not answer may have restarted (and forgotten this node) by the time
    // it answers again: register with it then.
    if (!st.ok() && !r.reached && members_.size() > 1) m.registered = false;
  }
}

void Agent::ServeApi() {
  auto& s = *http_->server;
  s.new_task_queue = [] { return new httplib::ThreadPool(4); };
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // Health and metrics stay open, as tided's own are (names and counts, no logs).
    if (req.path == "/healthz" || req.path == "/metrics") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    const std::string auth = req.get_header_value("Authorization");
    const std::string want = "Bearer " + opts_.api_token;
    // Compared in time independent of where the first difference is.
    unsigned char diff = auth.size() == want.size() ? 0 : 1;
    for (size_t i = 0; i < auth.size() && i < want.size(); ++i)
      diff |= static_cast<unsigned char>(auth[i] ^ want[i]);
    if (diff == 0) return httplib::Server::HandlerResponse::Unhandled;
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer");
    res.set_content(
        json{{"error",
              {{"code", "Unauthorized"},
               {"message", auth.empty() ? "the agent API needs Authorization: Bearer TOKEN"
                                        : "invalid token"}}}}
            .dump(),
        "application/json");
    return httplib::Server::HandlerResponse::Handled;
  });
  s.set_tcp_nodelay(true);
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::vector<InstanceStatus> st;
    {
      std::lock_guard<std::mutex> lk(mu_);
      st = supervisor_->Statuses();
    }
    for (auto& i : st) i.frozen = freezer_->IsFrozen(i.id);
    res.set_content(RenderAgentMetrics(opts_.name, st), "text/plain; version=0.0.4");
  });
  s.Post(R"(/v1/instances/([A-Za-z0-9-]+)/(freeze|thaw))",
         [this](const httplib::Request& req, httplib::Response& res) {
           const std::string id = req.matches[1];
           Status st = req.matches[2] == "freeze" ? Freeze(id) : Thaw(id);
           res.status = st.ok()                                ? 200
                        : st.code() == Status::Code::kNotFound ? 404
                        : st.code() == Status::Code::kConflict ? 409
                                                               : 500;
           res.set_content(st.ok() ? json{{"id", id}}.dump()
                                   : json{{"error",
                                           {{"code", res.status == 404   ? "NotFound"
                                                     : res.status == 409 ? "Conflict"
                                                                         : "Internal"},
                                            {"message", st.message()}}}}
                                         .dump(),
                           "application/json");
         });
  s.Get(R"(/v1/instances/([A-Za-z0-9-]+)/logs)", [this](const httplib::Request& req,
                                                        httplib::Response& res) {
    std::string id = req.matches[1];
    int tail = req.has_param("tail") ? std::atoi(req.get_param_value("tail").c_str()) : -1;
    if (req.has_param("follow") && req.get_param_value("follow") == "true") {
      res.set_chunked_content_provider(
          "text/plain", [this, id, tail](size_t, httplib::DataSink& sink) {
            logs_->Follow(
                id, tail,
                [&](const std::string& chunk) { return sink.write(chunk.data(), chunk.size()); },
                [&] { return stopping_.load() || !sink.is_writable(); });
            sink.done();
            return true;
          });
      return;
    }
    std::string out;
    Status st = logs_->Tail(id, tail, &out);
    if (!st.ok()) {
      res.status = 404;
      res.set_content(json{{"error", {{"code", "NotFound"}, {"message", st.message()}}}}.dump(),
                      "application/json");
      return;
    }
    res.set_content(out, "text/plain");
  });
}

Status Agent::Freeze(const std::string& id) {
  Status st;
  {
    // Under the supervisor's lock: a freeze never races the start of a stop (which thaws).
    std::lock_guard<std::mutex> lk(mu_);
    int pid = 0;
    bool found = false, ready = false;
    for (const auto& s : supervisor_->Statuses()) {
      if (s.id != id) continue;
      found = true;
      ready = s.state == InstanceState::kReady;
      pid = s.pid;
    }
    if (!found) return Status::NotFound("no instance " + id + " on node " + opts_.name);
    if (!ready || pid <= 0) return Status::Conflict("instance " + id + " is not Ready: not frozen");
    st = freezer_->Freeze(id, pid);
  }
  if (st.ok()) {
    ++freeze_gen_;
    report_cv_.notify_all();
  }
  return st;
}

Status Agent::Thaw(const std::string& id) {
  if (!freezer_->IsFrozen(id)) {
    // Nothing to thaw (the supervisor's lock is taken only here, never on a real thaw): an
    // instance this node runs is thawed already; any other id is not this node's to touch.
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& s : supervisor_->Statuses()) {
      if (s.id == id) return Status::Ok();
    }
    return Status::NotFound("no instance " + id + " on node " + opts_.name);
  }
  Status st = freezer_->Thaw(id);
  ++freeze_gen_;  // no lock on the thaw path: a report wakes within its second at worst
  report_cv_.notify_all();
  return st;
}

}  // namespace tide
