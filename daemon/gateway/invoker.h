// Invoker: delivers asynchronous invocations (POST /async-function/{name}/...) durably.
// Enqueue stores the invocation (state Queued) in the Store before the gateway answers 202, so
// an accepted invocation survives a tided crash; Start() resumes every Queued or Running one.
// Workers send each invocation through the gateway's synchronous route (/function/{name}/...,
// so cold starts, queueing and balancing apply) and record the answer:
//   2xx                          -> Succeeded (status, headers and body kept)
//   5xx, 408, 429, no answer     -> retried after 1 s, 2 s, 4 s ...; after max_attempts: DeadLetter
//   other 4xx                    -> DeadLetter at once (the request itself is wrong)
// GET /v1/invocations/{id} shows one; GET /v1/workloads/{name}/dead-letters lists DeadLetter ones.
// Thread-safe. The store and clock must outlive the Invoker.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
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
  void Deliver(const std::string& id);

  InvokerOptions opts_;
  ObjectStore& store_;
  Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<int64_t, std::string> due_;  // steady ms -> invocation id
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tide
