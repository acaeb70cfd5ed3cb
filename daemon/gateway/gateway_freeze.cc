// RouteTable's frozen tier: which endpoints to freeze (freeze_policy.h), the freeze and thaw
// calls to the backend, in the order the table decided them, and the thaw metrics.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "daemon/gateway/freeze_policy.h"
#include "daemon/gateway/gateway_state.h"
#include "daemon/gateway/gateway_state_internal.h"
#include "daemon/metrics.h"

namespace tide::gw {

std::vector<std::shared_ptr<EndpointState>> RouteTable::TakeDueFreezes(int64_t* next_ms) {
  std::vector<std::shared_ptr<EndpointState>> out;
  *next_ms = -1;
  std::lock_guard lock(mu_);
  const int64_t now = clock_.NowMs();
  for (auto& [name, wl] : workloads_) {
    if (wl->freeze_after_ms <= 0 || wl->ready.empty()) continue;
    std::vector<FreezeCandidate> cands;
    cands.reserve(wl->ready.size());
    for (const auto& e : wl->ready)
      cands.push_back({e->ep.instance_id, e->inflight, e->idle_since_ms, e->frozen});
    FreezePlan plan = PlanFreezes(cands, wl->freeze_after_ms, now);
    for (const auto& id : plan.freeze) {
      auto it = std::find_if(wl->ready.begin(), wl->ready.end(),
                             [&](const auto& e) { return e->ep.instance_id == id; });
      (*it)->frozen = true;
      out.push_back(*it);
    }
    if (plan.next_ms >= 0 && (*next_ms < 0 || plan.next_ms < *next_ms)) *next_ms = plan.next_ms;
  }
  return out;
}

void RouteTable::ApplyFreeze(const std::shared_ptr<EndpointState>& ep) {
  std::lock_guard io(ep->io_mu);
  {
    std::lock_guard lock(mu_);
    // A request picked it between the decision and now: it stays warm.
    if (!ep->frozen || ep->inflight > 0 || !ep->ready || ep->applied) return;
  }
  Status st = backend_.Freeze(ep->ep, true);
  if (st.ok()) {
    ep->applied = true;
    return;
  }
  spdlog::warn("gateway: cannot freeze instance {}: {}", ep->ep.instance_id, st.message());
  std::lock_guard lock(mu_);
  ep->frozen = false;  // warm again; tried once more after another idle period
  ep->idle_since_ms = clock_.NowMs();
}

bool RouteTable::Thaw(Lease* lease) {
  if (!*lease || !lease->thaw) return true;
  lease->thaw = false;
  const std::shared_ptr<EndpointState> ep = lease->ep;
  Status st;
  double seconds = -1;
  {
    std::lock_guard io(ep->io_mu);
    if (!ep->applied) return true;  // the freeze never reached the agent: it is warm
    // A duration for the metric only (sub-millisecond), not a decision: read directly.
    const auto t0 = std::chrono::steady_clock::now();
    st = backend_.Freeze(ep->ep, false);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Gone or thawed, it is not frozen any more; another error leaves it to the request
    // (the agent may be unreachable while the instance is fine).
    if (st.ok() || st.code() == Status::Code::kNotFound) ep->applied = false;
  }
  if (st.ok()) {
    lease->thawed = true;
    prometheus::Counter* thaws = lease->wl->m.thaws;
    prometheus::Histogram* hist = lease->wl->m.thaw_duration;
    if (thaws) thaws->Increment();
    if (hist) hist->Observe(seconds);
    return true;
  }
  if (st.code() != Status::Code::kNotFound) {
    spdlog::warn("gateway: cannot thaw instance {}: {}", ep->ep.instance_id, st.message());
    return true;
  }
  // Its process is gone: out of the ready set until the control plane lists it again (the
  // agent restarts it), and the request is admitted again by the caller.
  spdlog::info("gateway: instance {} ended while frozen; sending the request elsewhere",
               ep->ep.instance_id);
  {
    std::lock_guard lock(mu_);
    auto& ready = lease->wl->ready;
    auto pos = std::find(ready.begin(), ready.end(), ep);
    if (pos != ready.end()) {
      ready.erase(pos);
      ep->ready = false;
    }
  }
  Release(lease);
  return false;
}

}  // namespace tide::gw
