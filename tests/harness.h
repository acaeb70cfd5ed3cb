// Test harness for integration and fault tests: starts real tided / tide-agent / tidectl
// processes on loopback, talks HTTP to them, and waits on conditions with deadlines (never
// fixed sleeps). Every process started here is killed (SIGKILL to its process group) when its
// Proc object dies, so a failing test leaves nothing behind.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tide::testing {

using nlohmann::json;

// Paths of the binaries under test (set by CMake).
std::string TidedBin();
std::string AgentBin();
std::string TidectlBin();
std::string TestappBin();

// A fresh temporary directory, removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();  // also kills instances logging under it (KillProcessesLoggingUnder)
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A free TCP port on 127.0.0.1, from a block of this process's own in 30000-32699 (below the
// kernel's ephemeral range, apart from ReservePortBlock's), so no client socket of a parallel
// test takes it first.
int FreePort();
// First port of a block of kPortBlock ports in 20000-29999 (below the kernel's ephemeral range)
// that no other live test process holds (a lock file per block, held until this process exits).
// Instances of parallel tests must never share ports: an instance that binds late would let a
// readiness probe succeed against another test's process.
constexpr int kPortBlock = 200;
int ReservePortBlock();
// Prints the last lines of every instance log (*.log under a "logs" directory) below dir to
// stderr: what a failing test's workloads said.
void PrintInstanceLogTails(const std::string& dir, int lines = 15);

// Polls pred every few milliseconds until it is true or timeout passes; returns its last value.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// A child process in its own process group, stdout+stderr to a log file.
class Proc {
 public:
  Proc(std::vector<std::string> argv, std::string log_path,
       std::map<std::string, std::string> extra_env = {});
  ~Proc();  // SIGKILL to the group, then reap
  int pid() const { return pid_; }
  bool Alive();
  void Kill9();  // SIGKILL to the process only (its children keep running)
  int Terminate(int sig = 15, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::string Log() const;

 private:
  int pid_ = -1;
  bool reaped_ = false;
  std::string log_path_;
};

struct HttpResult {
  int status = 0;  // 0: unreachable
  std::string body;
  std::map<std::string, std::string> headers;
  json Json() const;
};

// The CA (PEM) Http() trusts for https:// URLs (TLS tests); "" = the system's.
void SetHttpsCaFile(const std::string& path);

HttpResult Http(const std::string& method, const std::string& url, const std::string& body = "",
                const std::string& token = "", const std::string& content_type = "application/json",
                int timeout_seconds = 30,
                const std::map<std::string, std::string>& extra_headers = {});

// A running tided with its own data dir and ports.
class Tided {
 public:
  struct Options {
    bool local_agent = false;
    std::string node_grace = "10s";
    std::vector<std::string> extra_args;
    std::string extra_tokens;  // more `  - {name, token, role[, node]}` lines for tokens.yaml
    bool https = false;        // extra_args carry --tls-cert/--tls-key: api() is https://
  };
  explicit Tided(const std::string& dir, Options opts);
  Tided(const std::string& dir) : Tided(dir, Options{}) {}
  // Starts (again, after Kill9) on the same ports and data dir; waits for /healthz.
  void Start();
  void Kill9();
  std::string api() const;      // http[s]://127.0.0.1:PORT
  std::string gateway() const;  // http://127.0.0.1:PORT
  const std::string& token() const { return token_; }
  static std::string ReadToken();  // the role read token of tokens.yaml
  static std::string JoinToken();  // the role agent token without a node (AgentProc's)
  const std::string& data_dir() const { return data_dir_; }
  Proc* proc() { return proc_.get(); }
  HttpResult Get(const std::string& path) const;
  HttpResult Post(const std::string& path, const std::string& body,
                  const std::string& ctype = "application/yaml") const;
  HttpResult Put(const std::string& path, const std::string& body) const;
  HttpResult Delete(const std::string& path) const;
  // Items of GET /v1/instances?workload=NAME.
  json Instances(const std::string& workload) const;
  int ReadyCount(const std::string& workload) const;

 private:
  std::string dir_, data_dir_, token_;
  Options opts_;
  int api_port_, gw_port_;
  int agent_port_lo_;  // the local agent's instance ports: a ReservePortBlock()
  std::unique_ptr<Proc> proc_;
};

// A running tide-agent connected to a Tided.
class AgentProc {
 public:
  AgentProc(const std::string& dir, const Tided& tided, const std::string& name, int port_lo,
            int port_hi, const std::string& extra = "");
  void Start();
  void Kill9();
  Proc* proc() { return proc_.get(); }
  const std::string& name() const { return name_; }
  std::string api_url() const { return "http://127.0.0.1:" + std::to_string(api_port_); }

 private:
  std::string dir_, name_, server_, token_file_, extra_;
  int port_lo_, port_hi_, api_port_;
  std::unique_ptr<Proc> proc_;
};

// Runs tidectl to completion; returns exit code, stdout and stderr.
struct CmdResult {
  int code = -1;
  std::string out, err;
};
CmdResult RunTidectl(const std::vector<std::string>& args, const std::string& server,
                     const std::string& token, const std::string& stdin_text = "");

// True when a process with this pid exists (not a zombie).
bool PidAlive(int pid);
// Every pid whose /proc/PID/environ has TIDE_WORKLOAD=workload (instances and their children)
// and whose stdout goes under the directory of a Tided or AgentProc this test process made
// (tests running in parallel use the same workload names).
std::vector<int> PidsOfWorkload(const std::string& workload);

// SIGKILLs every process whose stdout is a file under dir: the instances a test's agents
// started (they are detached from the agents on purpose, so nothing else stops them).
void KillProcessesLoggingUnder(const std::string& dir);

// Writes text to path.
void WriteFile(const std::string& path, const std::string& text);

}  // namespace tide::testing
