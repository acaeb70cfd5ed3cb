// Extra helpers for the fault-tolerance and rollout integration tests (tests/fault_test.cc,
// tests/rollout_test.cc), on top of tests/harness.h: manifests of test workloads, snapshots of
// instances by id, events, /proc start times, and a bounded multi-threaded HTTP load loop that
// counts every failed request. Everything waits on conditions with deadlines, never on sleeps.
// Thread-safety: free functions are safe from any thread; a LoadLoop is driven by one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/harness.h"

namespace tide::testing {

// A Service (or Function, with kind) running tide-testapp on $PORT. spec_extra is appended
// verbatim under spec: (two-space indented lines); app_args are extra argv entries, each already
// quoted, e.g. `, "--exit-code", "3"`.
std::string TestappManifest(const std::string& name, int replicas,
                            const std::string& spec_extra = "", const std::string& app_args = "",
                            const std::string& kind = "Service");

// Writes a Python workload to dir/ticker.py that listens on $PORT (accepting connections, so
// TCP probes pass) and prints "tick N" to stdout every 50 ms; returns the manifest of a Service
// running it with /usr/bin/python3. Used where a test needs log output that keeps coming.
std::string TickerManifest(const std::string& dir, const std::string& name, int replicas);

// id -> pid of the given instances (items of GET /v1/instances) whose state is `state`
// ("" = any state).
std::map<std::string, int> PidsById(const json& instances, const std::string& state = "Ready");

// Items of GET /v1/events?workload=NAME (oldest first); "" = every event.
json Events(const Tided& tided, const std::string& workload = "");
// How many of those events have this reason.
int CountEvents(const Tided& tided, const std::string& workload, const std::string& reason);

// The leader every member of `ms` listed in `live` names in GET /v1/leader (several tided on
// etcd, docs/ha.md); "" until they all answer and agree on one.
std::string AgreedLeader(const std::vector<std::unique_ptr<Tided>>& ms,
                         const std::vector<size_t>& live);

// The state of a node in GET /v1/nodes ("" when not listed).
std::string NodeStateOf(const Tided& tided, const std::string& node);

// Start time (clock ticks since boot, /proc/PID/stat field 22) of a live pid; 0 when gone.
uint64_t ProcStartTime(int pid);

// How the kernel sees pid (the frozen tier, agent/freezer.h): "stopped" (State T: the SIGSTOP
// fallback), "frozen" (its cgroup v1 freezer.state is FROZEN, or its v2 cgroup.events says
// frozen 1), else "running".
std::string FreezeState(int pid);
// Thaws pid whichever way it was frozen (a v1-frozen process cannot die until thawed): for
// test teardown.
void ThawForTeardown(int pid);

// N client threads each sending at most max_per_client GET requests to url, one after the
// other, until Stop(). Every answer other than 200 (including no answer) is a failure and is
// kept (status + body) for the test's message.
class LoadLoop {
 public:
  LoadLoop(std::string url, int clients, int max_per_client, int timeout_seconds = 30);
  ~LoadLoop();  // Stop()
  LoadLoop(const LoadLoop&) = delete;
  LoadLoop& operator=(const LoadLoop&) = delete;

  void Stop();  // joins the clients (each finishes its request in flight)
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  // Waits until at least n more requests than now have succeeded (false on timeout).
  bool WaitMoreOk(int n, std::chrono::milliseconds timeout);
  std::string FailureSummary() const;                         // up to 10 failures, one per line
  int64_t max_latency_ms() const { return max_latency_ms_; }  // slowest answer (any status)

 private:
  std::string url_;
  int timeout_seconds_;
  std::atomic<int> ok_{0}, failed_{0};
  std::atomic<int64_t> max_latency_ms_{0};
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

}  // namespace tide::testing
