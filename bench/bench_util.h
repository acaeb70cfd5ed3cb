// Shared helpers of the benchmarks under bench/: timing, percentiles, RSS, plain process
// spawning (the "bare" reference side), raw loopback TCP/HTTP probes, and the PASS/MISS summary
// every benchmark ends with. Benchmarks are programs, not tests: they print figures and exit
// 0 when every target passed, 1 when one was missed, 2 when the setup failed.
//
// Thread-safety: the free functions are thread-safe; a Summary belongs to one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tide::bench {

using SteadyClock = std::chrono::steady_clock;

// Paths of the benchmark workloads (set by CMake).
std::string TcpSinkBin();
std::string TinyHttpBin();

// Milliseconds from t0 to now (or to t1).
double MsSince(SteadyClock::time_point t0);
double MsBetween(SteadyClock::time_point t0, SteadyClock::time_point t1);

// The p-th percentile (0..100, nearest rank) of v; 0 for an empty v.
double Percentile(std::vector<double> v, double p);

// VmRSS of pid in KiB from /proc/PID/status; -1 when unreadable.
long RssKib(pid_t pid);
// A numeric field of /proc/PID/status ("Threads", "VmHWM", ...); -1 when unreadable.
long StatusField(pid_t pid, const std::string& field);
// CPU time (user + system) pid has used so far, in seconds; -1 when unreadable.
double CpuSeconds(pid_t pid);
// CPU seconds of pid plus those of its live direct children (e.g. nginx master + workers).
double TreeCpuSeconds(pid_t pid);

// posix_spawn argv with this process's environment plus extra_env, stdin from /dev/null,
// stdout+stderr to log_path ("" = /dev/null), in its own process group. -1 on failure.
pid_t SpawnPlain(const std::vector<std::string>& argv,
                 const std::map<std::string, std::string>& extra_env,
                 const std::string& log_path = "");
// SIGKILL to the process group of pid, then reap it.
void KillAndReap(pid_t pid);
// Waits for pid to exit (at most timeout_ms); true when it was reaped.
bool WaitExit(pid_t pid, int timeout_ms);

// True when a TCP connect to 127.0.0.1:port succeeds (the connection is closed at once).
bool CanConnect(int port);
// One HTTP/1.1 request with "Connection: close" over a fresh connection to 127.0.0.1:port,
// reading the answer to its end. When retry_connect, a refused connect is retried every
// 100 us until deadline_ms. Returns the status code, 0 on any failure.
int RawHttpGet(int port, const std::string& path, bool retry_connect, int deadline_ms,
               std::map<std::string, std::string>* headers = nullptr);

// A free TCP port on 127.0.0.1 (bound then released).
int FreePort();
// The first of count consecutive ports all free on 127.0.0.1, searched from a pseudo-random
// start in [lo, hi); 0 when none was found. The default range is below Linux's ephemeral ports
// (32768-60999) and the test harness's agent ranges (30000-49999), so the many client
// connections of a benchmark cannot take a port a workload is about to bind.
int FreePortRange(int count, int lo = 10000, int hi = 20000);

// What a benchmark gives its workloads. The default is what a user writes (every manifest in
// manifests/ sets one): a memory limit, and the default readiness probe (TCP on $PORT, no
// `readiness` block). With no limit the agent does no cgroup work at all, so "none" is only for
// seeing what the limit costs, never the run a verdict is made on.
struct WorkloadConfig {
  std::string memory = "64Mi";  // a quantity, or "" for no limit
  // The manifest's `spec` lines for it: "  resources: {memory: 64Mi}\n", or "" for no limit.
  std::string SpecLines() const;
  // "realistic: memory limit 64Mi, default readiness probe (TCP)" or "no-frills: NO memory
  // limit, default readiness probe (TCP)": printed with every figure.
  std::string Describe() const;
};
// When argv[*i] is `--memory Q|none`, reads it into *c (advancing *i) and returns true; sets
// *bad when the value is missing or is not a plain quantity ([0-9]+ with Ki/Mi/Gi, or "none").
bool ParseMemoryFlag(int argc, char** argv, int* i, WorkloadConfig* c, bool* bad);
// The limitEnforcer (cgroup2, cgroup1, rlimit, none) the agent reported for the instances of
// `items` (a GET /v1/instances answer's items), "" when none reported one, "mixed" when they
// differ.
std::string EnforcerOf(const nlohmann::json& items);
// True when a GET /v1/nodes answer lists a node in state Ready (an agent has registered).
bool AnyNodeReady(const nlohmann::json& nodes);

// /proc/loadavg's first three figures ("1.20 0.80 0.50"): printed at the start and the end of
// every benchmark, since the machine it runs on may be shared.
std::string LoadAverage();

// The PASS/MISS table printed at the end of every benchmark.
class Summary {
 public:
  explicit Summary(std::string title) : title_(std::move(title)) {}
  // Records `name = value unit` against the target `value <= limit` (at_most) or `>= limit`.
  void AtMost(const std::string& name, double value, double limit, const std::string& unit);
  void AtLeast(const std::string& name, double value, double limit, const std::string& unit);
  // A figure printed without a target.
  void Info(const std::string& name, double value, const std::string& unit);
  // Prints the table; returns the exit code (0 all passed, 1 something missed).
  int Print() const;

 private:
  struct Row {
    std::string name, unit, verdict;
    double value, limit;
    const char* op;
  };
  std::string title_;
  std::vector<Row> rows_;
};

}  // namespace tide::bench
