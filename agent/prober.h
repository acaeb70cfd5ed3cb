// Prober: runs readiness and liveness probes without ever blocking its caller.
//
// Submit/poll: Submit starts one probe run and returns a ticket at once; Poll returns the result
// once it is known (then forgets the ticket) and nullopt while it runs; Cancel drops a ticket
// whose result is no longer wanted. The Supervisor's tick submits and polls, so it never waits.
//
// RealProber:
//  - TCP: a non-blocking connect to 127.0.0.1:port, done inside Submit (loopback accepts or
//    refuses at once); a connect still in progress is finished by Poll (poll(2) with no wait)
//    until the probe's timeout.
//  - HTTP: GET http://127.0.0.1:port<path>, success on 2xx/3xx within timeout (cpp-httplib),
//  - exec: argv run directly (posix_spawn, never a shell) with the instance's env and working dir,
//    stdio on /dev/null, in its own process group; exit 0 within timeout is success, otherwise
//    the group is SIGKILLed and reaped.
//  HTTP and exec run on a small pool of worker threads. RealProber is thread-safe; its destructor
//  joins the workers (waiting at most for the probes that are running, each bounded by its
//  timeout).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/clock.h"
#include "api/model.h"

namespace tide {

// What a probe runs against.
struct ProbeTarget {
  std::string instance_id;
  int port = 0;
  StringMap env;            // exec probes: the instance's environment (PATH used to find argv[0])
  std::string working_dir;  // exec probes: "" = agent's cwd
};

struct ProbeResult {
  bool ok = false;
  std::string message;  // why it failed, e.g. "connect: Connection refused"
};

class Prober {
 public:
  using Ticket = uint64_t;  // never 0
  virtual ~Prober() = default;
  virtual Ticket Submit(const Probe& probe, const ProbeTarget& target) = 0;
  virtual std::optional<ProbeResult> Poll(Ticket ticket) = 0;
  virtual void Cancel(Ticket ticket) = 0;
};

class RealProber : public Prober {
 public:
  explicit RealProber(int workers = 4, Clock& clock = SystemClock::Get());
  ~RealProber() override;
  RealProber(const RealProber&) = delete;
  RealProber& operator=(const RealProber&) = delete;

  Ticket Submit(const Probe& probe, const ProbeTarget& target) override;
  std::optional<ProbeResult> Poll(Ticket ticket) override;
  void Cancel(Ticket ticket) override;

  // The probe bodies, blocking; public for tests and tools.
  static ProbeResult RunHttp(int port, const std::string& path, double timeout_seconds);
  static ProbeResult RunExec(const std::vector<std::string>& argv, const ProbeTarget& target,
                             double timeout_seconds);

 private:
  struct PendingConnect {
    int fd;
    int64_t deadline_ms;
  };
  struct Job {
    Ticket ticket;
    std::function<ProbeResult()> run;
  };
  void WorkerLoop();
  void Finish(Ticket ticket, ProbeResult result);  // mu_ held

  Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  Ticket next_ticket_ = 1;
  std::deque<Job> queue_;
  std::set<Ticket> running_;  // submitted to the pool, result not in yet
  std::map<Ticket, ProbeResult> done_;
  std::map<Ticket, PendingConnect> connecting_;
  std::vector<std::thread> workers_;
};

}  // namespace tide
