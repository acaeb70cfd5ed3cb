// Invoker: delivers asynchronous invocations (POST /async-function/{name}/...) durably.
// Enqueue stores the invocation (state Queued) in the Store before the gateway answers 202, so
// an accepted invocation survives a tided crash; Start() resumes every Queued or Running one.
// Workers send each invocation through the gateway's synchronous route (/function/{name}/...,
// so cold starts, queueing and balancing apply) and record the answer:
//   2xx                          -> Succeeded (status, headers and body kept)
//   5xx, 408, 429, no answer     -> retried after 1 s, 2 s, 4 s ...; after max_attempts: DeadLetter
//   other 4xx                    -> DeadLetter at once (the request itself is wrong)
// GET /v1/invocations/{id} shows one; GET /v1/workloads/{name}/dead-letters lists DeadLetter ones.
//
// Several members (etcd, docs/ha.md): any member accepts (Enqueue stores it); only the leader
// (`leads`) delivers. Every scan_period_ms the leader lists what is pending in the store
// (ObjectStore::ListPendingInvocations: what any member accepted, what a former leader left
// Queued or Running) and schedules what it does not hold yet; a member that stops leading drops
// its schedule. Before each attempt the leader claims the invocation (Running, attempts + 1)
// with ObjectStore::PutInvocationAsLeader, fenced on etcd: a deposed leader's claim is refused
// and it does not deliver. An attempt in flight when its leader is deposed may be made once more
// by the next leader (at least once, as after a crash); none acknowledged is lost.
// Thread-safe. The store and clock must outlive the Invoker.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/clock.h"
#include "api/status.h"
#include "daemon/gateway/gateway.h"
#include "daemon/store/object_store.h"

namespace tide {

struct InvokerOptions {
  std::string gateway_url;  // e.g. http://127.0.0.1:7480
  int workers = 4;
  int max_attempts = 3;
  int64_t first_retry_ms = 1000;
  double timeout_seconds = 330;  // per attempt, cold start included
  // Whether this member delivers (etcd: whether it leads). Unset: always, no scans (one tided).
  std::function<bool()> leads;
  int64_t scan_period_ms = 500;
};

class Invoker {
 public:
  Invoker(InvokerOptions opts, ObjectStore& store, Clock& clock);
  ~Invoker();
  void Start();  // resumes stored Queued/Running invocations, starts the workers
  void Stop();
  Status Enqueue(const std::string& workload, AsyncInvocation inv, std::string* id);

  // The API view of a stored invocation (request body not included).
  static nlohmann::json ToJson(const Invocation& inv);

 private:
  void Work();
  void Scan();  // the leader's loop: picks up pending invocations (leads set)
  void Deliver(const std::string& id);
  void DeliverOnce(const std::string& id, bool* again);
  bool Leads() const { return !opts_.leads || opts_.leads(); }

  InvokerOptions opts_;
  ObjectStore& store_;
  Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;               // workers
  std::condition_variable scan_cv_;          // Scan (stopping)
  std::multimap<int64_t, std::string> due_;  // steady ms -> invocation id
  std::set<std::string> held_;               // ids in due_ or being delivered
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tide
