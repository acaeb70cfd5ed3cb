// ApiWaits: the API routes that wait for a change, served in the front door's event loop
// (daemon/server/front_door.h, FrontDoorLane::serve) instead of on a worker thread each:
//  - GET /v1/agent/assignments?node=N&after=V[&waitMs=W][&specs=shared][&delta=true]
//    (the agents' long-poll; with delta=true only what changed since V when V is remembered,
//    api/agent_delta.h);
//  - GET /v1/workloads/NAME?waitMs=W with If-None-Match (client watches).
// A waiting request is a timer in a WaitList (daemon/server/wait_list.h), woken by the control
// plane's change listener; what it reads from the control plane and the store (which take
// locks) is read on a small pool, never on the front door's thread. Followed logs are relayed
// from the agent by the front door too (daemon/server/api_logs.h).
// The store, control plane, auth and metrics must outlive it.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/agent_delta.h"
#include "daemon/control/control_plane.h"
#include "daemon/metrics.h"
#include "daemon/server/auth.h"
#include "daemon/server/front_door.h"
#include "daemon/server/node_identity.h"
#include "daemon/server/off_pool.h"
#include "daemon/server/wait_list.h"
#include "daemon/store/object_store.h"

namespace tide {

// A workload as GET /v1/workloads[/NAME] shows it (object, status, generation, creation time).
nlohmann::json WorkloadJson(ControlPlane& cp, const StoredObject& o);

class ApiWaits {
 public:
  // `deny` records a refused agent call (the NodeAccessDenied event, rate-limited by the
  // caller); it may block briefly (it runs on the pool).
  using DenyHook = std::function<void(const Principal&, NodeAction, const std::string& node,
                                      const std::string& message)>;
  ApiWaits(ObjectStore& store, ControlPlane& cp, Auth& auth, Metrics& metrics, DenyHook deny,
           int pool_threads = 2);
  ~ApiWaits();

  boost::asio::awaitable<FrontDoorAnswer> Assignments(FrontDoorCall call);
  // The same long-poll for tided's in-process agent (daemon/server/local_agent_link.h), waited
  // for on the calling thread: the check that sees its node's version move builds the answer
  // and wakes that thread directly (one thread hand-off from the placement to the agent, where
  // the front door adds its event loop and a socket). Authorized as Assignments is. Returns
  // early, with status 0, once AbortNow() was called after `aborted` became true.
  FrontDoorAnswer AssignmentsNow(const FrontDoorCall& call, const std::atomic<bool>& aborted);
  // Wakes every AssignmentsNow waiting, to look at its `aborted`.
  void AbortNow();
  boost::asio::awaitable<FrontDoorAnswer> Watch(FrontDoorCall call);
  // Finishes what runs on the pool (no new work starts); before the front door is destroyed.
  void StopPool();
  // Something may have changed (the control plane's change listener). Any thread: one check at
  // a time (notifications during it make it run once more, on the pool) wakes only the
  // long-polls whose node's version moved and, when the status or store revision moved, the
  // watches. The check runs on the notifying thread (the reconcile pass that placed an
  // instance), and for up to kInlineAnswers long-polls whose node's version moved it builds the
  // answer there too: the waiting poll only writes it, with no hop through the pool (a cold
  // start's assignment reaches its agent with one thread hand-off, not seven). A storm of
  // changes (1,000 heartbeats a second) is one check at a time, not a wake-up of every waiter
  // per change.
  void Notify();
  size_t waiting() const { return agents_.size() + watches_.size(); }
  static constexpr size_t kInlineAnswers = 4;

 private:
  // A waiting long-poll, as a check can answer it: what it asked and, once built, its body.
  struct Poll {
    int64_t after = -1;
    bool delta = false, shared = false;
    bool now = false;       // an AssignmentsNow: woken through now_cv_, not the WaitList
    bool answered = false;  // polls_mu_
    bool moved = false;     // polls_mu_: an AssignmentsNow's node's version moved
    std::string body;       // polls_mu_, set with answered
  };
  // What an assignments call asks (its target's query), checked.
  struct PollQuery {
    std::string node;
    int64_t after = -1, wait_ms = 25000;
    bool delta = false, shared = false;
  };
  static std::optional<FrontDoorAnswer> ParsePoll(const FrontDoorCall& call, PollQuery* q);
  // 403 or 503 when this call may not have the node's assignments here; may block briefly.
  std::optional<FrontDoorAnswer> RefusePoll(const FrontDoorCall& call, const std::string& node);
  void CountGet(const FrontDoorCall& call, int status);  // tide_api_requests_total
  // One check; `on_notifier`: on the notifying thread (at most kInlineAnswers bodies built,
  // what remains dirty goes on to the pool) rather than the pool.
  void Check(bool on_notifier);
  // The assignment answer for `node` after version `after`; "" when the node is unknown.
  std::string AnswerBody(const std::string& node, int64_t after, int64_t version, bool delta,
                         bool shared);
  std::mutex polls_mu_;
  std::multimap<std::string, std::shared_ptr<Poll>> polls_;  // polls_mu_: by node
  std::condition_variable now_cv_;                           // polls_mu_: AssignmentsNow waits
  std::map<std::string, int> now_nodes_;  // polls_mu_: AssignmentsNow waiters per node
  std::unique_ptr<OffPool> pool_;
  std::atomic<bool> checking_{false}, dirty_{false};
  std::map<std::string, int64_t> seen_versions_;  // Check only: per waiting node
  int64_t seen_status_ = -1, seen_store_ = -1;    // Check only
  WaitList agents_, watches_;
  ObjectStore& store_;
  ControlPlane& cp_;
  Auth& auth_;
  Metrics& metrics_;
  DenyHook deny_;
  struct CachedRead {
    int64_t status_rev = -1, store_rev = -1;
    std::string body, etag;
  };
  std::mutex cache_mu_;
  std::map<std::string, CachedRead> cache_;  // cache_mu_: a watched workload's last answer
  std::mutex history_mu_;
  DeltaHistory history_;  // history_mu_
};

// Value of query parameter `key` in `target` (path?query), percent-decoded; "" when absent.
std::string TargetParam(const std::string& target, const std::string& key);
bool TargetHasParam(const std::string& target, const std::string& key);

}  // namespace tide
