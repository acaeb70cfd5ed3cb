#include "daemon/gateway/gateway_state.h"

#include <algorithm>
#include <utility>

#include "daemon/gateway/freeze_policy.h"
#include "daemon/gateway/gateway_state_internal.h"
#include "daemon/metrics.h"

namespace tide::gw {

namespace {

void SetGauges(WorkloadState& wl) {
  if (wl.m.inflight) wl.m.inflight->Set(wl.inflight);
  if (wl.m.queued) wl.m.queued->Set(static_cast<double>(wl.queue.size()));
}

}  // namespace

RouteTable::RouteTable(GatewayBackend& backend, Clock& clock, Metrics* metrics)
    : backend_(backend), clock_(clock), metrics_(metrics) {}

RouteTable::~RouteTable() = default;

std::shared_ptr<WorkloadState> RouteTable::GetLocked(const std::string& workload) {
  auto& slot = workloads_[workload];
  if (!slot) {
    slot = std::make_shared<WorkloadState>();
    slot->name = workload;
    if (metrics_) {
      prometheus::Labels l{{"workload", workload}};
      slot->m.inflight = &metrics_->gateway_inflight_requests.Add(l);
      slot->m.queued = &metrics_->gateway_queued_requests.Add(l);
      slot->m.duration =
          &metrics_->gateway_request_duration_seconds.Add(l, Metrics::LatencyBuckets());
      slot->m.cold_starts = &metrics_->cold_starts_total.Add(l);
      slot->m.cold_duration =
          &metrics_->cold_start_duration_seconds.Add(l, Metrics::LatencyBuckets());
      slot->m.thaws = &metrics_->thaws_total.Add(l);
      slot->m.thaw_duration = &metrics_->thaw_duration_seconds.Add(l, Metrics::ThawBuckets());
    }
  }
  return slot;
}

Lease RouteTable::PickLocked(const std::shared_ptr<WorkloadState>& wl, const EndpointState* exclude,
                             bool panic) {
  EndpointState* best = nullptr;
  size_t best_i = 0;
  const int64_t now = clock_.NowMs();
  size_t ejected = 0;
  // One pass picks the least-loaded endpoint under its concurrency among the warm (or the
  // frozen) ones; with skip_ejected it also passes over endpoints ejected by passive health
  // (counted in the warm pass).
  auto scan = [&](bool skip_ejected, bool frozen) {
    for (size_t i = 0; i < wl->ready.size(); ++i) {
      EndpointState* e = wl->ready[i].get();
      if (skip_ejected && e->ejected_until_ms > now) {
        if (!frozen) ++ejected;
        continue;
      }
      if (e == exclude || e->frozen != frozen) continue;
      if (wl->concurrency > 0 && e->inflight >= wl->concurrency) continue;
      if (!best || e->inflight < best->inflight) {
        best = e;
        best_i = i;
      }
    }
  };
  scan(/*skip_ejected=*/true, /*frozen=*/false);
  // A frozen endpoint is thawed only when no warm one has room (the earliest request first).
  if (!best) scan(/*skip_ejected=*/true, /*frozen=*/true);
  // Every endpoint ejected: in panic, trust them again rather than fail the request.
  if (!best && panic && ejected > 0 && ejected == wl->ready.size()) {
    scan(/*skip_ejected=*/false, /*frozen=*/false);
    if (!best) scan(/*skip_ejected=*/false, /*frozen=*/true);
  }
  if (!best) return {};
  const bool thaw = best->frozen;
  best->frozen = false;
  ++best->inflight;
  ++wl->inflight;
  // Rotate ties: move the chosen endpoint to the back so equal loads spread round-robin.
  if (wl->ready.size() > 1 && best_i + 1 < wl->ready.size()) {
    auto chosen = wl->ready[best_i];
    wl->ready.erase(wl->ready.begin() + static_cast<std::ptrdiff_t>(best_i));
    wl->ready.push_back(chosen);
    return Lease{wl, std::move(chosen), thaw};
  }
  return Lease{wl, wl->ready[best_i], thaw};
}

void RouteTable::LoadChangedLocked(const std::shared_ptr<WorkloadState>& wl, Wakeups* out) {
  SetGauges(*wl);
  if (schedule_flush_ && !wl->removed && static_cast<int>(wl->queue.size()) == wl->sent_queued &&
      !wl->load_delivering && clock_.NowMs() - wl->sent_ms < kLoadIntervalMs) {
    // Only the in-flight count moved, and a signal went out moments ago: defer it.
    wl->load_deferred = true;
    if (!flush_pending_) {
      flush_pending_ = true;
      out->schedule_flush = true;
    }
    return;
  }
  wl->load_deferred = false;
  wl->load_dirty = true;
  if (!wl->load_delivering) {
    wl->load_delivering = true;
    out->loads.push_back(wl);
  }
}

void RouteTable::DispatchLocked(const std::shared_ptr<WorkloadState>& wl, Wakeups* out) {
  bool changed = false;
  while (!wl->queue.empty()) {
    Lease l = PickLocked(wl, nullptr);
    if (!l) break;
    auto w = std::move(wl->queue.front());
    wl->queue.pop_front();
    w->outcome = Waiter::Outcome::kGranted;
    w->lease = std::move(l);
    out->waiters.push_back(std::move(w));
    changed = true;
  }
  if (changed) LoadChangedLocked(wl, out);
}

void RouteTable::Deliver(Wakeups* w) {
  for (auto& waiter : w->waiters)
    if (waiter->wake) waiter->wake();
  for (auto& wl : w->loads) DeliverLoad(wl);
  if (w->schedule_flush) schedule_flush_();
  if (w->freeze_due >= 0 && freeze_wake_) freeze_wake_(w->freeze_due);
}

void RouteTable::FlushLoads() {
  Wakeups wk;
  {
    std::lock_guard lock(mu_);
    flush_pending_ = false;
    for (auto& [name, wl] : workloads_) {
      if (!wl->load_deferred) continue;
      wl->load_deferred = false;
      wl->load_dirty = true;
      if (!wl->load_delivering) {
        wl->load_delivering = true;
        wk.loads.push_back(wl);
      }
    }
  }
  Deliver(&wk);
}

// Only one thread delivers a workload's load signal at a time; others mark it dirty. The
// deliverer loops until no change is pending, so the last call carries the latest counts, and a
// backend that calls back into the gateway from OnLoad cannot deadlock.
void RouteTable::DeliverLoad(const std::shared_ptr<WorkloadState>& wl) {
  for (;;) {
    int inflight, queued;
    {
      std::lock_guard lock(mu_);
      if (!wl->load_dirty) {
        wl->load_delivering = false;
        return;
      }
      wl->load_dirty = false;
      inflight = wl->inflight;
      queued = static_cast<int>(wl->queue.size());
      wl->sent_queued = queued;
      wl->sent_ms = clock_.NowMs();
    }
    backend_.OnLoad(wl->name, inflight, queued);
  }
}

RouteTable::Admit RouteTable::Acquire(const std::string& workload, const RouteInfo& route,
                                      size_t max_queue, int64_t arrival_ms,
                                      const WaiterFactory& make_waiter, Lease* lease,
                                      std::shared_ptr<Waiter>* queued) {
  // A frozen endpoint granted is thawed here, with no lock held; one whose process is gone left
  // the ready set in Thaw, and the request is admitted again.
  for (;;) {
    Admit a = AcquireOnce(workload, route, max_queue, arrival_ms, make_waiter, lease, queued);
    if (a != Admit::kGranted || Thaw(lease)) return a;
  }
}

RouteTable::Admit RouteTable::AcquireOnce(const std::string& workload, const RouteInfo& route,
                                          size_t max_queue, int64_t arrival_ms,
                                          const WaiterFactory& make_waiter, Lease* lease,
                                          std::shared_ptr<Waiter>* queued) {
  Wakeups wk;
  Admit result;
  bool cold = false;
  {
    std::lock_guard lock(mu_);
    auto wl = GetLocked(workload);
    wl->freeze_after_ms = FreezeAfterMs(route.freeze_after_seconds);
    if (wl->concurrency != route.concurrency) {
      wl->concurrency = route.concurrency;  // a raised limit: room for those waiting, first
      DispatchLocked(wl, &wk);
    }
    // FIFO: nobody overtakes requests already waiting.
    if (wl->queue.empty()) *lease = PickLocked(wl, nullptr);
    if (*lease) {
      ++wl->requests_total;
      result = Admit::kGranted;
      LoadChangedLocked(wl, &wk);
    } else if (wl->queue.size() >= max_queue) {
      result = Admit::kQueueFull;
    } else {
      ++wl->requests_total;
      auto waiter = make_waiter();
      waiter->arrival_ms = arrival_ms;
      waiter->cold = cold = wl->ready.empty();
      waiter->outcome = Waiter::Outcome::kPending;
      wl->queue.push_back(waiter);
      *queued = std::move(waiter);
      result = Admit::kQueued;
      if (cold) {
        if (wl->m.cold_starts) wl->m.cold_starts->Increment();
        if (wl->cold_episode_ms < 0) {
          wl->cold_episode_ms = arrival_ms;
          wl->phases_noted = 0;
          wl->last_phase_ms = arrival_ms;
        }
      }
      LoadChangedLocked(wl, &wk);
    }
  }
  Deliver(&wk);
  if (cold) NoteInstancePhase(workload, "queued", clock_.NowMs());
  return result;
}

Lease RouteTable::TryAcquireOther(const Lease& failed) {
  Wakeups wk;
  Lease l;
  {
    std::lock_guard lock(mu_);
    if (!failed.wl || failed.wl->removed) return {};
    l = PickLocked(failed.wl, failed.ep.get(), /*panic=*/false);
    if (l) LoadChangedLocked(failed.wl, &wk);
  }
  Deliver(&wk);
  return l;
}

void RouteTable::Eject(const Lease& failed) {
  if (!failed) return;
  prometheus::Counter* counter = nullptr;
  {
    std::lock_guard lock(mu_);
    failed.ep->ejected_until_ms = clock_.NowMs() + kEjectMs;
    if (metrics_ && !failed.wl->removed)
      counter = &metrics_->gateway_endpoint_ejections_total.Add({{"workload", failed.wl->name}});
  }
  if (counter) counter->Increment();
}

bool RouteTable::CancelWaiter(const std::string& workload, const std::shared_ptr<Waiter>& waiter) {
  Wakeups wk;
  bool removed = false;
  {
    std::lock_guard lock(mu_);
    if (waiter->outcome != Waiter::Outcome::kPending) return false;
    auto it = workloads_.find(workload);
    if (it == workloads_.end()) return false;
    auto& q = it->second->queue;
    auto pos = std::find(q.begin(), q.end(), waiter);
    if (pos == q.end()) return false;
    q.erase(pos);
    removed = true;
    waiter->outcome = Waiter::Outcome::kRemoved;
    // A cold start nobody waits for any more ends its episode.
    if (std::none_of(q.begin(), q.end(), [](const auto& w) { return w->cold; }))
      it->second->cold_episode_ms = -1;
    LoadChangedLocked(it->second, &wk);
  }
  Deliver(&wk);
  return removed;
}

void RouteTable::DropInstanceLocked(const std::shared_ptr<EndpointState>& ep) {
  if (ep->ready || ep->inflight > 0) return;
  auto it = instances_.find(ep->ep.instance_id);
  if (it != instances_.end() && it->second == ep) instances_.erase(it);
}

void RouteTable::Release(Lease* lease, int code, double seconds) {
  if (!*lease) return;
  Wakeups wk;
  prometheus::Counter* counter = nullptr;
  prometheus::Histogram* hist = nullptr;
  {
    std::lock_guard lock(mu_);
    auto& wl = lease->wl;
    --lease->ep->inflight;
    --wl->inflight;
    if (lease->ep->inflight == 0 && wl->freeze_after_ms > 0) {
      lease->ep->idle_since_ms = clock_.NowMs();
      wk.freeze_due = lease->ep->idle_since_ms + wl->freeze_after_ms;
    }
    DropInstanceLocked(lease->ep);
    LoadChangedLocked(wl, &wk);
    if (!wl->removed) DispatchLocked(wl, &wk);
    if (code > 0 && metrics_) {
      counter = CodeCounterLocked(*wl, code);
      hist = wl->m.duration;
    }
  }
  lease->ep.reset();
  lease->wl.reset();
  if (counter) counter->Increment();
  if (hist) hist->Observe(seconds);
  Deliver(&wk);
}

prometheus::Counter* RouteTable::CodeCounterLocked(WorkloadState& wl, int code) {
  auto& c = wl.m.by_code[code];
  if (!c)
    c = &metrics_->gateway_requests_total.Add(
        {{"workload", wl.name}, {"code", std::to_string(code)}});
  return c;
}

std::vector<std::string> RouteTable::SetEndpoints(const std::string& workload,
                                                  std::vector<Endpoint> ready) {
  Wakeups wk;
  std::vector<std::string> dropped;
  {
    std::lock_guard lock(mu_);
    auto wl = GetLocked(workload);
    std::vector<std::shared_ptr<EndpointState>> next;
    next.reserve(ready.size());
    for (auto& e : ready) {
      auto it = instances_.find(e.instance_id);
      std::shared_ptr<EndpointState> st;
      if (it != instances_.end() && it->second->ep.host == e.host &&
          it->second->ep.port == e.port) {
        st = it->second;
      } else {
        st = std::make_shared<EndpointState>();
        // Frozen by an earlier tided (the agent says so): thawed by the first request to it.
        st->frozen = st->applied = e.frozen;
        st->idle_since_ms = clock_.NowMs();
        if (wl->freeze_after_ms > 0) wk.freeze_due = st->idle_since_ms + wl->freeze_after_ms;
        st->ep = std::move(e);
        st->pool_key = st->ep.instance_id + "|" + st->ep.host + ":" + std::to_string(st->ep.port);
        instances_[st->ep.instance_id] = st;  // a moved instance: the old state drains alone
      }
      // Listed again after a set without it: the control plane saw it (become) ready again.
      if (!st->ready) st->ejected_until_ms = 0;
      st->ready = true;
      next.push_back(std::move(st));
    }
    for (auto& old : wl->ready) {
      if (std::find(next.begin(), next.end(), old) == next.end()) {
        old->ready = false;
        dropped.push_back(old->ep.instance_id);
        DropInstanceLocked(old);
      }
    }
    wl->ready = std::move(next);
    DispatchLocked(wl, &wk);
  }
  Deliver(&wk);
  return dropped;
}

std::vector<std::string> RouteTable::RemoveWorkload(const std::string& workload) {
  Wakeups wk;
  std::vector<std::string> dropped;
  {
    std::lock_guard lock(mu_);
    auto it = workloads_.find(workload);
    if (it == workloads_.end()) return dropped;
    auto wl = it->second;
    workloads_.erase(it);
    wl->removed = true;
    for (auto& ep : wl->ready) {
      ep->ready = false;
      dropped.push_back(ep->ep.instance_id);
      DropInstanceLocked(ep);
    }
    wl->ready.clear();
    for (auto& w : wl->queue) {
      w->outcome = Waiter::Outcome::kRemoved;
      wk.waiters.push_back(w);
    }
    wl->queue.clear();
    wl->cold_episode_ms = -1;
    LoadChangedLocked(wl, &wk);
  }
  Deliver(&wk);
  return dropped;
}

void RouteTable::DropAllWaiters() {
  std::lock_guard lock(mu_);
  for (auto& [name, wl] : workloads_) wl->queue.clear();
}

int RouteTable::InFlight(const std::string& instance_id) const {
  std::lock_guard lock(mu_);
  auto it = instances_.find(instance_id);
  return it == instances_.end() ? 0 : it->second->inflight;
}

Gateway::WorkloadLoad RouteTable::Load(const std::string& workload) const {
  std::lock_guard lock(mu_);
  Gateway::WorkloadLoad out;
  auto it = workloads_.find(workload);
  if (it == workloads_.end()) return out;
  out.inflight = it->second->inflight;
  out.queued = static_cast<int>(it->second->queue.size());
  out.requests_total = it->second->requests_total;
  return out;
}

void RouteTable::CountResponse(const std::string& workload, int code, double seconds) {
  if (!metrics_) return;
  prometheus::Counter* counter = nullptr;
  prometheus::Histogram* hist = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = workloads_.find(workload);
    if (it != workloads_.end()) {
      counter = CodeCounterLocked(*it->second, code);
      hist = it->second->m.duration;
    }
  }
  if (!counter)  // unknown or removed workload: no series per client-chosen name
    counter =
        &metrics_->gateway_requests_total.Add({{"workload", ""}, {"code", std::to_string(code)}});
  counter->Increment();
  if (hist) hist->Observe(seconds);
}

void RouteTable::NoteInstancePhase(const std::string& workload, const std::string& phase,
                                   int64_t at_ms) {
  if (!metrics_) return;
  static const char* const kPhases[] = {"queued", "spawned", "ready", "first_byte"};
  int index = -1;
  for (int i = 0; i < 4; ++i)
    if (phase == kPhases[i]) index = i;
  if (index < 0) return;
  std::vector<std::pair<prometheus::Histogram*, double>> observe;
  {
    std::lock_guard lock(mu_);
    auto it = workloads_.find(workload);
    if (it == workloads_.end()) return;
    auto& wl = *it->second;
    if (wl.cold_episode_ms < 0 || (wl.phases_noted & (1u << index))) return;
    // In order within an episode: never earlier than the phase before it, and an earlier phase
    // not yet observed is observed now with the same stamp (one of each per cold start).
    const int64_t stamp = std::max(at_ms, wl.last_phase_ms);
    wl.last_phase_ms = stamp;
    const double seconds = std::max<int64_t>(0, stamp - wl.cold_episode_ms) / 1000.0;
    for (int i = 0; i <= index; ++i) {
      if (wl.phases_noted & (1u << i)) continue;
      wl.phases_noted |= 1u << i;
      auto& slot = wl.m.by_phase[kPhases[i]];
      if (!slot)
        slot = &metrics_->cold_start_phase_seconds.Add(
            {{"workload", workload}, {"phase", kPhases[i]}}, Metrics::LatencyBuckets());
      observe.emplace_back(slot, seconds);
    }
    if (index == 3) wl.cold_episode_ms = -1;
  }
  for (const auto& [h, seconds] : observe) h->Observe(seconds);
}

void RouteTable::NoteColdFirstByte(const std::string& workload, int64_t arrival_ms) {
  if (!metrics_) return;
  int64_t now = clock_.NowMs();
  prometheus::Histogram* h = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = workloads_.find(workload);
    if (it != workloads_.end()) h = it->second->m.cold_duration;
  }
  if (h) h->Observe(std::max<int64_t>(0, now - arrival_ms) / 1000.0);
  NoteInstancePhase(workload, "first_byte", now);
}

}  // namespace tide::gw
