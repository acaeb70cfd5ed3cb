// Agent: the node agent runtime, run by `tide-agent` and in-process by `tided` (local agent).
// It registers with tided (with the instances it already runs, so a restarted tided re-adopts
// them), long-polls its assignment set, drives the Supervisor, reports status at once on every
// change and as a heartbeat every second, and serves its own API on `listen`:
//   GET /healthz, GET /metrics, GET /v1/instances/{id}/logs?tail=N&follow=true,
//   POST /v1/instances/{id}/freeze and /thaw (the frozen tier, agent/freezer.h)
// Every route but /healthz and /metrics needs `Authorization: Bearer <api_token>` (401
// otherwise); tided
// learns the token from the registration and presents it when it proxies logs.
// Several tided members (docs/ha.md): `server` may be a comma list of member URLs. The agent
// registers with and reports to every member (one reporter thread each, so a silent member
// delays no other), which gives every member the observed state: each member's gateway routes to
// this node's ready instances and a new leader adopts them instead of starting them again. It
// takes its assignments from one member, the leader: a member that does not lead answers 503
// NotLeader, and the agent moves to the next member on that, on no answer, or on a 404; the set
// it runs stays until a member answers (a switch asks for the complete set).
// Threads: assignments (long-poll), supervisor loop, a reporter per member, HTTP server. Stop()
// joins them and leaves every instance running (they are detached and re-adopted on the next
// start).
//
// Credentials (docs/api.md "Node identity", docs/security.md): `token` is either bound to this node
// or a join token. With a join token, the register answer carries a credential bound to the node;
// the agent keeps it in DATA_DIR/node-credential.json (mode 0600, the data dir 0700, written
// atomically) and sends it from then on, also after restarts (it is read at Start when it names
// this node). When tided no longer knows a stored credential (401: its store was lost), the
// agent falls back to `token` once to join again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/agent_link.h"
#include "api/clock.h"
#include "api/model.h"
#include "api/status.h"

namespace tide {

class Supervisor;
class ProcessLauncher;
class Prober;
class LogFiles;
class InstanceFreezer;

// The node name an agent uses when none is given: the host name.
std::string DefaultNodeName();

struct AgentOptions {
  std::string server = "http://127.0.0.1:7400";  // or a comma list of members
  std::string token;
  std::string name;                     // default: host name
  std::string listen = "127.0.0.1:0";   // agent API
  std::string advertise = "127.0.0.1";  // host the gateway uses to reach instances
  std::string data_dir = "./tide-agent-data";
  double cpu = 0;            // 0: number of cores
  int64_t memory_bytes = 0;  // 0: physical memory
  StringMap labels;
  int port_lo = 20000, port_hi = 29999;
  // Who instances run as (agent/run_as.h): spec.user, else default_user ("" = the agent's own
  // user); uid 0 only when allow_root.
  std::string default_user;
  bool allow_root = false;
  // Exec stubs kept ready in cgroups of their own, so cold starts skip the cgroup join
  // (agent/cgroup_pool.h). Needs a main() that calls MaybeRunExecStub: 0 in tests.
  size_t cgroup_pool = 0;
  // Bearer token the agent API requires (logs). "" = a random one made at Start();
  // either way it is sent to tided inside the registration, never logged.
  std::string api_token;
  // TLS (api/tls.h): the CA that signed tided's certificate, for an https:// server ("" = the
  // system's CAs); pin_server_cert: ca_file is tided's own certificate (the in-process agent).
  std::string ca_file;
  bool pin_server_cert = false;
  // Both set: the agent API speaks https only, with this certificate chain and key (PEM).
  std::string tls_cert_file, tls_key_file;
  // How the agent reaches its tided members (api/agent_link.h). Unset: HTTP(S) to `server`.
  // tided's in-process agent gets the API's own handlers (daemon/server/local_agent_link.h).
  AgentLinkFactory link;
};

class Agent {
 public:
  explicit Agent(AgentOptions opts, Clock& clock = SystemClock::Get());
  ~Agent();

  // Restores instances from the data dir, starts the agent API and the threads. Connecting to
  // tided is retried in the background, so Start succeeds while tided is still down.
  Status Start();
  void Stop();
  int api_port() const { return api_port_; }
  // The frozen tier (agent/freezer.h), called by tided's gateway: directly for the in-process
  // agent, through the agent API for remote ones. Freeze: NotFound for an unknown instance,
  // Conflict for one that is not Ready. Thaw of a frozen instance takes no agent lock (only
  // the freezer's): NotFound when the instance's process is gone; of one not frozen, Ok when
  // this node runs it, else NotFound.
  Status Freeze(const std::string& id);
  Status Thaw(const std::string& id);
  const AgentOptions& options() const { return opts_; }

  // How long tided may hold the assignments long-poll when nothing changes: with one tided,
  // long (an idle node then costs tided a request per wait); with several members, short, so
  // that a member that stops leading is left within it. Stop() aborts a poll that waits.
  static constexpr int64_t kLongPollWaitMs = 20000;
  static constexpr int64_t kShortPollWaitMs = 2000;
  // How long the assignments loop waits for its one member's registration before looking again:
  // Register and Stop wake it at once, so this only bounds a wait whose wake-up was missed.
  // (It used to look every 50 ms, and the first cold start after a start of tided waited up to
  // that long for the first poll: 43 ms in coldstart_bench's warm-up round.)
  static constexpr int64_t kRegisterWaitMs = 1000;

 private:
  // One tided member: its URL and whether it knows this node now.
  struct Member {
    std::string url;
    std::atomic<bool> registered{false};
    std::thread reporter;
  };
  void AssignmentsLoop();
  void SuperviseLoop();
  void ReportLoop(Member& m);
  bool Register(Member& m);
  void Unregistered(Member& m);  // it forgot this node: its reporter registers again at once
  // The token calls send now, and a number that changes whenever it does.
  std::string CurrentToken(uint64_t* generation = nullptr);
  void SetToken(const std::string& token);
  Status LoadCredential();  // DATA_DIR/node-credential.json, when it names this node
  Status SaveCredential(const std::string& credential);
  NodeInfo Info() const;
  void ServeApi();
  std::unique_ptr<AgentLink> Link(const std::string& url, const std::string& token,
                                  double timeout_seconds) const;

  AgentOptions opts_;
  Clock& clock_;
  std::unique_ptr<ProcessLauncher> launcher_;
  std::unique_ptr<Prober> prober_;
  std::unique_ptr<LogFiles> logs_;
  std::unique_ptr<InstanceFreezer> freezer_;
  std::unique_ptr<Supervisor> supervisor_;

  std::mutex mu_;  // guards supervisor_ and the flags below
  std::condition_variable supervise_cv_, report_cv_;
  std::condition_variable registered_cv_;  // with mu_: a member registered (Register)
  bool wake_supervisor_ = false;
  uint64_t report_gen_ = 0;  // bumped on every change to report at once
  std::mutex token_mu_;
  std::string token_;              // guarded by token_mu_: the node credential, else opts_.token
  bool using_credential_ = false;  // guarded by token_mu_
  uint64_t token_gen_ = 0;         // guarded by token_mu_
  std::vector<std::unique_ptr<Member>> members_;  // set in Start, from opts_.server
  std::atomic<uint64_t> freeze_gen_{0};           // bumped when an instance froze or thawed: report
  std::atomic<bool> stopping_{false};

  struct Http;
  std::unique_ptr<Http> http_;
  int api_port_ = 0;
  std::thread assign_thread_, supervise_thread_, http_thread_;
  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  AgentLink* poll_link_ = nullptr;  // poll_mu_; the assignments thread's link (Stop aborts it)
  bool poll_done_ = false;          // poll_mu_; the assignments thread has ended
};

}  // namespace tide
