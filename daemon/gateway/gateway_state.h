// RouteTable: the gateway's shared routing state, free of any I/O: per workload the ready
// endpoints with their in-flight counts, the bounded FIFO queue of waiting requests, request
// counters, metric handles and the load signal to the backend.
//
// Acquire() grants the least-loaded ready endpoint with room (in-flight < concurrency, 0 = no
// limit) or queues the request; Release() frees the slot and hands it to the oldest waiter, and
// so does an Acquire() that raises the workload's concurrency.
// SetEndpoints() replaces the ready set and wakes waiters; endpoints that leave the set drain.
//
// Thread-safety: every method is thread-safe (one mutex, held only for bookkeeping, never across
// I/O or a backend call). Waiter::wake and GatewayBackend::OnLoad run with no lock held, on the
// thread that caused the change. OnLoad calls for one workload are serialised and coalesced so the
// last call always reports the latest counts.
//
// Load signal rate: a change of a workload's queued count is delivered at once (activation); a
// change of only its in-flight count at most every kLoadIntervalMs, the rest deferred to a flush
// that the owner schedules through `schedule_flush` (see SetFlushScheduler) and runs with
// FlushLoads(). Without a scheduler every change is delivered at once.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/gateway/gateway.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace tide::gw {

struct EndpointState {
  Endpoint ep;
  std::string pool_key;  // "instance|host:port": names its idle upstream connections
  int inflight = 0;      // guarded by RouteTable's mutex
  bool ready = true;     // false once it left the ready set (draining)
  // Passive health: while now < ejected_until_ms (Clock steady ms) the endpoint gets no new
  // requests, unless every ready endpoint of its workload is ejected (then ejection is ignored:
  // the control plane still calls them ready, and a quick 502 beats a wait for nothing).
  int64_t ejected_until_ms = 0;
  // The frozen tier (daemon/gateway/freeze_policy.h), guarded by RouteTable's mutex: `frozen`
  // takes it out of balancing until a request finds no warm endpoint with room, picks it and
  // thaws it (Lease::thaw). idle_since_ms (steady): when its last request ended.
  bool frozen = false;
  int64_t idle_since_ms = 0;
  // Held across the freeze and thaw calls to the backend (never with the table's mutex), so
  // they reach the agent in the order the table decided them. `applied`: the backend froze it.
  std::mutex io_mu;
  bool applied = false;  // guarded by io_mu
};

struct WorkloadState;

// One granted slot on one endpoint; give it back with RouteTable::Release exactly once.
struct Lease {
  std::shared_ptr<WorkloadState> wl;
  std::shared_ptr<EndpointState> ep;
  bool thaw = false;    // the endpoint was frozen when picked: RouteTable::Thaw before use
  bool thawed = false;  // it was thawed for this request (X-Tide-Warm-Start: thawed)
  explicit operator bool() const { return ep != nullptr; }
};

// A request waiting in a workload's queue. `wake` is called once (no lock held, any thread) when
// the outcome is decided by someone other than the waiter itself.
struct Waiter {
  enum class Outcome { kPending, kGranted, kRemoved };
  Outcome outcome = Outcome::kPending;  // guarded by RouteTable's mutex
  Lease lease;                          // set when granted
  bool cold = false;                    // queued at zero ready endpoints
  int64_t arrival_ms = 0;
  std::function<void()> wake;
};

class RouteTable {
 public:
  static constexpr int64_t kLoadIntervalMs = 50;

  RouteTable(GatewayBackend& backend, Clock& clock, Metrics* metrics);
  ~RouteTable();

  // `schedule` is called (no lock held) when a load signal was deferred and no flush is pending;
  // it must arrange one FlushLoads() call about kLoadIntervalMs later. Set before any traffic.
  void SetFlushScheduler(std::function<void()> schedule) { schedule_flush_ = std::move(schedule); }
  // Delivers every deferred load signal.
  void FlushLoads();

  enum class Admit { kGranted, kQueued, kQueueFull };
  using WaiterFactory = std::function<std::shared_ptr<Waiter>()>;
  // Grants a slot (into *lease), or, if the queue has room, queues a waiter made by
  // `make_waiter` (called under the lock, only when needed; its `wake` must be set) and returns
  // it in *queued. A granted endpoint that was frozen is thawed before Acquire returns (Thaw);
  // a waiter granted one later must call Thaw itself.
  Admit Acquire(const std::string& workload, const RouteInfo& route, size_t max_queue,
                int64_t arrival_ms, const WaiterFactory& make_waiter, Lease* lease,
                std::shared_ptr<Waiter>* queued);
  // A slot now on another endpoint than `failed`'s that is not ejected, or an empty lease (never
  // queues, never picks an ejected endpoint).
  Lease TryAcquireOther(const Lease& failed);
  // Passive health: takes the lease's endpoint out of balancing for kEjectMs (a connection to it
  // was refused or reset before any byte of a request was sent). Ends early when a
  // SetEndpoints lists the endpoint again after a set without it. Counted in
  // tide_gateway_endpoint_ejections_total.
  void Eject(const Lease& failed);
  static constexpr int64_t kEjectMs = 10000;
  // Called by a waiter whose deadline passed. Returns true if it was still queued (now removed);
  // false if an outcome was decided meanwhile (read waiter->outcome).
  bool CancelWaiter(const std::string& workload, const std::shared_ptr<Waiter>& waiter);
  // Gives a slot back; wakes the oldest waiter that fits. With code > 0 it also counts the
  // response (as CountResponse, in the same critical section).
  void Release(Lease* lease, int code = 0, double seconds = 0);

  // Returns the instance ids that left the ready set (for connection pool purging).
  std::vector<std::string> SetEndpoints(const std::string& workload, std::vector<Endpoint> ready);
  // Returns the instance ids that were dropped (for connection pool purging).
  std::vector<std::string> RemoveWorkload(const std::string& workload);
  // Shutdown: forgets every queued waiter without waking it.
  void DropAllWaiters();
  int InFlight(const std::string& instance_id) const;

  // The frozen tier (gateway_freeze.cc). A request that finds no warm endpoint with room takes a
  // frozen one, in arrival order (under the table's lock), and thaws it with Thaw before sending:
  // true when the lease can be used (*lease->thawed says whether a thaw happened); false when
  // the backend says the instance is gone: the endpoint leaves the ready set, the lease is
  // released, and the caller admits the request again (another endpoint, or a cold start).
  bool Thaw(Lease* lease);
  // Marks the endpoints due for freezing frozen (freeze_policy.h) and returns them; *next_ms is
  // when to look again (steady ms, -1: not until a wake).
  std::vector<std::shared_ptr<EndpointState>> TakeDueFreezes(int64_t* next_ms);
  // Asks the backend to freeze `ep`, unless a request took it meanwhile.
  void ApplyFreeze(const std::shared_ptr<EndpointState>& ep);
  // Called (no lock held) when an endpoint may come due for freezing at `due_ms` (steady).
  void SetFreezeWake(std::function<void(int64_t)> wake) { freeze_wake_ = std::move(wake); }
  Gateway::WorkloadLoad Load(const std::string& workload) const;

  // Metrics. `workload` "" is used for requests that matched no workload.
  void CountResponse(const std::string& workload, int code, double seconds);
  // Cold-start phase `phase` ("queued", "spawned", "ready", "first_byte") of the workload's
  // current cold-start episode reached at `at_ms` (steady scale); ignored outside an episode and
  // for a phase already observed in it. Every episode observes each phase once, in order
  // (queued <= spawned <= ready <= first_byte): a stamp earlier than the phase before it takes
  // that phase's stamp, and a phase still missing when a later one comes (a first report that
  // already said Ready, say) is observed with the later one's stamp. first_byte ends the episode.
  void NoteInstancePhase(const std::string& workload, const std::string& phase, int64_t at_ms);
  // First response byte of a cold request (arrival on the Clock's steady scale).
  void NoteColdFirstByte(const std::string& workload, int64_t arrival_ms);

 private:
  struct Wakeups;
  Admit AcquireOnce(const std::string& workload, const RouteInfo& route, size_t max_queue,
                    int64_t arrival_ms, const WaiterFactory& make_waiter, Lease* lease,
                    std::shared_ptr<Waiter>* queued);
  std::shared_ptr<WorkloadState> GetLocked(const std::string& workload);
  // Picks and charges the least-loaded endpoint with room, or returns an empty lease.
  // Ejected endpoints are skipped; with `panic` they are used when every ready one is ejected.
  Lease PickLocked(const std::shared_ptr<WorkloadState>& wl, const EndpointState* exclude,
                   bool panic = true);
  void DispatchLocked(const std::shared_ptr<WorkloadState>& wl, Wakeups* out);
  void LoadChangedLocked(const std::shared_ptr<WorkloadState>& wl, Wakeups* out);
  void Deliver(Wakeups* w);
  void DeliverLoad(const std::shared_ptr<WorkloadState>& wl);
  void DropInstanceLocked(const std::shared_ptr<EndpointState>& ep);
  prometheus::Counter* CodeCounterLocked(WorkloadState& wl, int code);

  GatewayBackend& backend_;
  Clock& clock_;
  Metrics* metrics_;
  std::function<void()> schedule_flush_;
  std::function<void(int64_t)> freeze_wake_;
  mutable std::mutex mu_;
  bool flush_pending_ = false;  // a FlushLoads() is scheduled
  std::unordered_map<std::string, std::shared_ptr<WorkloadState>> workloads_;
  // Every endpoint that is ready or still has requests in flight, by instance id.
  std::unordered_map<std::string, std::shared_ptr<EndpointState>> instances_;
};

}  // namespace tide::gw
