// tide-agent: the node agent binary (flags: docs/operations.md). Thin: parses flags, runs
// tide::Agent until SIGINT/SIGTERM. Instances keep running after the agent exits; the next start
// re-adopts them.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <optional>

#include "agent/agent.h"
#include "agent/exec_stub.h"
#include "api/address.h"
#include "api/openssl_init.h"
#include "api/quantity.h"
#include "api/service_notify.h"
#include "api/tls.h"
#include "api/user_spec.h"

// OpenSSL's config, error strings and name tables are loaded only when the command line asks for
// TLS: about 1.7 MiB of resident pages otherwise (api/openssl_init.h).
TIDE_OPENSSL_INIT_ON_DEMAND();

namespace {

bool ParseLabels(const std::string& s, tide::StringMap* out, std::string* err) {
  size_t start = 0;
  while (start < s.size()) {
    size_t comma = s.find(',', start);
    std::string kv =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      *err = "--labels: expected k=v[,k2=v2], got '" + kv + "'";
      return false;
    }
    (*out)[kv.substr(0, eq)] = kv.substr(eq + 1);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc gives each thread that allocates its own arena (up to 8 per core), each a few hundred
  // KiB of half-empty heap once touched. The agent allocates little and rarely: one arena.
  tide::MaybeRunExecStub(argc, argv);  // an exec stub (agent/exec_stub.h): never returns
  ::mallopt(M_ARENA_MAX, 1);
  // Blocks of 128 KiB and more (a JSON document of 1,000 instances, a report's body) are mapped
  // on their own and given back when freed. glibc would raise this bound to the largest block
  // freed so far, and a burst's documents then stay in the heap as free pages until a trim: the
  // RSS read at 1,000 instances Ready was several MiB above what is held (docs/benchmarks.md,
  // idle_bench).
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  ::umask(077);  // instance records and logs are the agent's alone; workloads get 022 back
  CLI::App app{"tide-agent: Tide node agent"};
  tide::AgentOptions o;
  std::string token_file, memory, labels, port_range, cpu, api_token_file;
  std::optional<std::string> default_user;
  app.add_option("--server", o.server, "tided API URL, or a comma list of every member's")
      ->required();
  app.add_option("--name", o.name, "node name (default: host name)");
  app.add_option("--token-file", token_file, "file holding the agent token");
  app.add_option("--listen", o.listen, "agent API HOST:PORT (logs, health, metrics)")
      ->default_val("127.0.0.1:7401");
  app.add_option("--advertise", o.advertise, "address the gateway uses to reach instances");
  app.add_option("--data-dir", o.data_dir, "instance records and logs")
      ->default_val("./tide-agent-data");
  app.add_option("--cpu", cpu, "cpu capacity (cores; default: all)");
  app.add_option("--memory", memory, "memory capacity (bytes, 256Mi, 2Gi; default: physical)");
  app.add_option("--labels", labels, "node labels k=v,k2=v2");
  app.add_option("--port-range", port_range, "ports handed to instances as $PORT")
      ->default_val("20000-29999");
  app.add_option("--default-user", default_user,
                 "user for workloads without spec.user: NAME, UID or UID:GID (default: nobody "
                 "when the agent runs as root, else the agent's own user)");
  app.add_flag("--allow-root", o.allow_root, "allow workloads to run as root (uid 0)");
  o.cgroup_pool = 4;
  app.add_option("--cgroup-pool", o.cgroup_pool,
                 "processes kept ready in cgroups of their own, so cold starts skip the join")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  app.add_option("--api-token-file", api_token_file,
                 "file holding the token the agent API requires (default: a random one, sent "
                 "to tided when the agent registers)");
  app.add_option("--ca-file", o.ca_file,
                 "CA (PEM) that signed tided's certificate, for an https:// --server");
  app.add_option("--tls-cert", o.tls_cert_file, "agent API over https: certificate chain (PEM)");
  app.add_option("--tls-key", o.tls_key_file, "agent API over https: key of --tls-cert (PEM)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return e.get_exit_code() == 0 ? rc : 2;
  }
  std::string err;
  if (!cpu.empty() && !tide::ParseCpu(cpu, &o.cpu, &err)) {
    std::cerr << "tide-agent: --cpu: " << err << "\n";
    return 2;
  }
  if (!memory.empty() && !tide::ParseMemory(memory, &o.memory_bytes, &err)) {
    std::cerr << "tide-agent: --memory: " << err << "\n";
    return 2;
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    std::cerr << "tide-agent: --tls-cert and --tls-key go together\n";
    return 2;
  }
  for (const tide::Status& s :
       {o.tls_cert_file.empty() ? tide::Status::Ok()
                                : tide::CheckServerTlsFiles(o.tls_cert_file, o.tls_key_file),
        o.ca_file.empty() ? tide::Status::Ok() : tide::CheckCaFile(o.ca_file)}) {
    if (!s.ok()) {
      std::cerr << "tide-agent: TLS: " << s.message() << "\n";
      return 2;
    }
  }
  tide::HostPort listen;
  if (auto st = tide::ParseHostPort(o.listen, tide::PortUse::kListen, &listen); !st.ok()) {
    std::cerr << "tide-agent: --listen: " << st.message() << "\n";
    return 2;
  }
  if (!labels.empty() && !ParseLabels(labels, &o.labels, &err)) {
    std::cerr << "tide-agent: " << err << "\n";
    return 2;
  }
  if (!port_range.empty()) {
    if (std::sscanf(port_range.c_str(), "%d-%d", &o.port_lo, &o.port_hi) != 2 || o.port_lo < 1 ||
        o.port_hi > 65535 || o.port_lo > o.port_hi) {
      std::cerr << "tide-agent: --port-range: expected LO-HI within 1-65535, got '" << port_range
                << "'\n";
      return 2;
    }
  }
  if (default_user) {
    o.default_user = *default_user;
    tide::UserSpec parsed;
    if (!o.default_user.empty() && !tide::ParseUserSpec(o.default_user, &parsed, &err)) {
      std::cerr << "tide-agent: --default-user: " << err << "\n";
      return 2;
    }
  } else if (::geteuid() == 0) {
    o.default_user = "nobody";
  }
  if (!api_token_file.empty()) {
    std::ifstream in(api_token_file);
    std::getline(in, o.api_token);
    while (!o.api_token.empty() && isspace(static_cast<unsigned char>(o.api_token.back())))
      o.api_token.pop_back();
    if (!in.good() && o.api_token.empty()) {
      std::cerr << "tide-agent: --api-token-file " << api_token_file
                << ": cannot read a token from it\n";
      return 2;
    }
  }
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) {
      std::cerr << "tide-agent: cannot read --token-file " << token_file << "\n";
      return 2;
    }
    std::getline(in, o.token);
    while (!o.token.empty() && isspace(static_cast<unsigned char>(o.token.back())))
      o.token.pop_back();
  } else if (const char* t = std::getenv("TIDE_TOKEN")) {
    o.token = t;
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // threads inherit: only sigwait sees them

  tide::Agent agent(o);
  tide::Status st = agent.Start();
  if (!st.ok()) {
    std::cerr << "tide-agent: " << st.message() << "\n";
    return 1;
  }
  tide::ServiceNotify notify;  // systemd (api/service_notify.h)
  notify.Ready("serving on " + o.listen + ", server " + o.server);
  int sig = tide::WaitForStopSignal(set, notify);
  notify.Stopping("signal " + std::to_string(sig) + ", stopping");
  spdlog::info("tide-agent: signal {}, stopping (instances keep running)", sig);
  agent.Stop();
  return 0;
}
