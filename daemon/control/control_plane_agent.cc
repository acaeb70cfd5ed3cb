// ControlPlane's side of the agent protocol: registration (with re-adoption), status reports
// and the assignments long-poll (docs/api.md "Agent protocol"). Who may act as which node is
// decided before these are called (daemon/server/node_identity.h); here a node only speaks for
// the instances assigned to it. Locking as in control_plane.h: one mutex, mu_.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "daemon/control/control_plane.h"

namespace tide {

Status ControlPlane::RegisterNode(const NodeInfo& info, const std::vector<InstanceStatus>& running,
                                  bool may_adopt) {
  if (info.name.empty()) return Status::Invalid("node name is empty");
  std::vector<GatewayUpdate> updates;
  std::vector<Event> events;
  {
    std::lock_guard<std::mutex> lk(mu_);
    RefreshWorkloadsLocked();
    int64_t now = clock_.NowMs();
    auto [it, inserted] = state_.nodes.try_emplace(info.name);
    NodeEntry& n = it->second;
    NodeState before = n.state;
    n.info = info;
    n.last_heartbeat_ms = now;
    n.last_heartbeat_wall = clock_.WallMs();
    n.state = NodeState::kReady;
    n.report_seq = -1;  // a (re)started agent: its next report must be complete
    beats_.Forbid(info.name);
    ++n.version;
    if (inserted) {
      EmitLocked("Normal", "NodeRegistered", "node/" + info.name, "",
                 "node " + info.name + " registered from " + info.address);
    } else if (before != NodeState::kReady) {
      EmitLocked("Normal", "NodeReady", "node/" + info.name, "", "node re-registered");
    }
    // Adopt what the agent runs and we do not know (tided restarted): the reconciler then
    // trims surplus and rolls outdated generations like any other instance. Only at the node's
    // first registration since tided started: once tided has heard a node, everything it runs
    // was assigned by this tided (a node that was Lost had its instances replaced elsewhere).
    // What is not adopted is not in the node's assignment set, so the agent stops it.
    // A member that does not lead (etcd) mirrors what every node reports (MirroringLocked).
    const bool adopt = may_adopt && (inserted || MirroringLocked(now));
    for (const auto& st : running) {
      if (state_.instances.count(st.id)) {
        ApplyObservedLocked(info.name, st, now);
        continue;
      }
      if (!adopt || !workloads_.count(st.workload)) {
        NoteUnassignedLocked(info.name, st.id,
                             adopt ? "its workload does not exist" : "tided did not assign it");
        continue;
      }
      AdoptLocked(info.name, st, now);
    }
    kicked_ = true;
    ++status_revision_;
    RoutesLocked(&updates);
    events.swap(pending_events_);
  }
  assignments_cv_.notify_all();
  status_cv_.notify_all();
  NotifyListener();
  kick_cv_.notify_one();
  FlushGateway(std::move(updates));
  store_.AppendEvents(std::move(events));
  return Status::Ok();
}

bool ControlPlane::MirroringLocked(int64_t now) const {
  if (!opts_.may_act) return false;  // one tided (SQLite): only what it assigned counts
  return !acting_ || now - started_ms_ < opts_.startup_settle_ms;
}

void ControlPlane::AdoptLocked(const std::string& node, const InstanceStatus& st, int64_t now) {
  const WorkloadRuntime& w = workloads_.at(st.workload);
  InstanceRecord rec;
  rec.id = st.id;
  rec.workload = st.workload;
  rec.kind = w.obj.object.kind;
  rec.generation = st.generation;
  rec.node = node;
  rec.assignment = AssignmentLocked(w.obj.object, st.id, st.generation);
  rec.assigned = true;
  // Their age, not the adoption time: scale-down prefers the newest instances.
  rec.created_ms =
      st.started_at_ms > 0 ? now - std::max<int64_t>(0, clock_.WallMs() - st.started_at_ms) : now;
  rec.observed_seen = true;
  rec.observed = st;
  if (st.state == InstanceState::kReady) {
    rec.ready_since_ms =
        st.ready_at_ms > 0 ? now - std::max<int64_t>(0, clock_.WallMs() - st.ready_at_ms) : now;
  }
  rec.cpu_seconds_reported = st.cpu_seconds_total;
  state_.Add(rec);
  // A follower mirrors every instance the leader starts: no log line for each.
  if (acting_ || !opts_.may_act) {
    EmitLocked("Normal", "Adopted", "instance/" + st.id, st.workload,
               "re-adopted running instance pid " + std::to_string(st.pid) + " on " + node);
  }
}

bool ControlPlane::ApplyObservedLocked(const std::string& node, const InstanceStatus& st,
                                       int64_t now) {
  auto it = state_.instances.find(st.id);
  if (it == state_.instances.end()) return false;
  InstanceRecord& rec = it->second;
  if (rec.node != node) {  // another node's instance: never taken over
    NoteUnassignedLocked(node, st.id, "it is assigned to another node");
    return false;
  }
  InstanceStatus before = rec.observed;
  bool first = !rec.observed_seen;
  const bool changed = first || !SameButSamples(before, st);  // samples wake nobody
  rec.observed_seen = true;
  rec.observed = st;
  if (st.state != InstanceState::kReady) {
    rec.ready_since_ms = 0;
  } else if (first || before.state != InstanceState::kReady || st.restarts > before.restarts) {
    rec.ready_since_ms = now;  // a restart in between reports also starts the count again
  }
  std::string obj = "instance/" + st.id;
  if (st.restarts > before.restarts && !first) {
    metrics_.instance_restarts_total.Add({{"workload", rec.workload}})
        .Increment(st.restarts - before.restarts);
    std::string how = st.last_signal ? "signal " + std::to_string(st.last_signal)
                                     : "exit code " + std::to_string(st.last_exit_code);
    EmitLocked("Warning", st.reason.empty() ? "Restarted" : st.reason, obj, rec.workload,
               "instance restarted (" + how + "), restarts=" + std::to_string(st.restarts));
  }
  // A new process, whatever state this report is the first to show it in (it may say Ready
  // already, or an earlier one Pending): stamped with when the agent started it.
  if (gateway_ && st.started_at_ms > 0 && st.started_at_ms != before.started_at_ms) {
    gateway_->NoteInstancePhase(rec.workload, "spawned",
                                now - std::max<int64_t>(0, clock_.WallMs() - st.started_at_ms));
  }
  if (st.state != before.state || first) {
    if (st.state == InstanceState::kReady) {
      EmitLocked("Normal", "Ready", obj, rec.workload,
                 "ready on " + node + " port " + std::to_string(st.port) + " pid " +
                     std::to_string(st.pid));
      if (gateway_) gateway_->NoteInstancePhase(rec.workload, "ready", now);
    } else if (st.state == InstanceState::kFailed || st.state == InstanceState::kCrashLoopBackOff) {
      EmitLocked("Warning", st.state == InstanceState::kFailed ? "Failed" : "CrashLoopBackOff", obj,
                 rec.workload,
                 (st.reason.empty() ? std::string("") : st.reason + ": ") + st.message);
    }
  }
  if (st.cpu_seconds_total > rec.cpu_seconds_reported) {
    metrics_.workload_cpu_seconds_total.Add({{"workload", rec.workload}})
        .Increment(st.cpu_seconds_total - rec.cpu_seconds_reported);
  }
  rec.cpu_seconds_reported = st.cpu_seconds_total;
  return changed;
}

void ControlPlane::NoteUnassignedLocked(const std::string& node, const std::string& id,
                                        const std::string& why) {
  constexpr size_t kMaxNoted = 4096;  // a flood of forged ids costs at most this much memory
  if (noted_unassigned_.size() >= kMaxNoted) return;
  if (!noted_unassigned_.insert(node + "/" + id).second) return;
  EmitLocked("Warning", "UnassignedInstance", "node/" + node, "",
             "node " + node + " reported instance " + id.substr(0, 80) + ", but " + why +
                 ": its status is ignored" +
                 (noted_unassigned_.size() == kMaxNoted ? " (further ones are not evented)" : ""));
}

void ControlPlane::HeardFrom(const std::string& node) {
  beats_.Heard(node, clock_.NowMs(), clock_.WallMs());
}

bool ControlPlane::QuickReport(const std::string& node, int64_t seq, int64_t base,
                               const std::vector<InstanceStatus>& samples) {
  return beats_.Take(node, seq, base, samples, clock_.NowMs(), clock_.WallMs());
}

void ControlPlane::CollectBeatLocked(const std::string& name, NodeEntry& n) {
  QuickBeats::Beat heard;
  if (beats_.CollectHeard(name, &heard)) {  // arrived, maybe still queued for this lock
    n.last_heartbeat_ms = std::max(n.last_heartbeat_ms, heard.at_ms);
    n.last_heartbeat_wall = std::max(n.last_heartbeat_wall, heard.wall_ms);
  }
  QuickBeats::Beat b;
  std::vector<InstanceStatus> samples;
  if (!beats_.Collect(name, &b, &samples)) return;
  n.last_heartbeat_ms = std::max(n.last_heartbeat_ms, b.at_ms);
  n.last_heartbeat_wall = std::max(n.last_heartbeat_wall, b.wall_ms);
  n.report_seq = b.seq;
  // Numbers only (QuickBeats checked): applied as a report would, waking nobody.
  for (const auto& st : samples) ApplyObservedLocked(name, st, b.at_ms);
}

Status ControlPlane::Report(const NodeReport& report) {
  bool resync = false;
  return Report(report, -1, -1, {}, &resync);
}

Status ControlPlane::Report(const NodeReport& report, int64_t seq, int64_t base,
                            const std::vector<std::string>& gone_ids, bool* resync) {
  *resync = false;
  std::vector<GatewayUpdate> updates;
  std::vector<Event> events;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto nit = state_.nodes.find(report.node);
    if (nit == state_.nodes.end())
      return Status::NotFound("node " + report.node + " is not registered");
    int64_t now = clock_.NowMs();
    NodeEntry& n = nit->second;
    CollectBeatLocked(report.node, n);  // the seq its quick beats acknowledged
    n.last_heartbeat_ms = now;
    n.last_heartbeat_wall = clock_.WallMs();
    bool changed = false;
    if (n.state != NodeState::kReady) {
      EmitLocked("Normal", "NodeReady", "node/" + report.node, "", "heartbeats resumed");
      n.state = NodeState::kReady;
      kicked_ = true;
      changed = true;
    }
    const bool mirror = MirroringLocked(now);
    std::set<std::string> readiness_changed;  // workloads whose routes this report changes
    for (const auto& st : report.instances) {
      auto rit = state_.instances.find(st.id);
      if (rit == state_.instances.end()) {
        if (mirror && workloads_.count(st.workload)) {
          AdoptLocked(report.node, st, now);  // the leader placed it (docs/ha.md)
          changed = true;
          continue;
        }
        NoteUnassignedLocked(report.node, st.id, "tided did not assign it");
        continue;
      }
      const bool was_ready = rit->second.Ready();
      changed = ApplyObservedLocked(report.node, st, now) || changed;
      if (rit->second.Ready() != was_ready) readiness_changed.insert(rit->second.workload);
    }
    // An instance that became Ready (or stopped being) is routed from this report, not after
    // the reconcile pass it kicks, where that matters at once: requests wait for the workload
    // (a cold start's waiting request goes out now) or it has few endpoints. A big workload's
    // routes are rebuilt once by the pass this kicks, not once per report: 1,000 agents
    // reporting their instances Ready together would otherwise rebuild a 10,000-endpoint set
    // 1,000 times under this lock, and the heartbeats queued behind it would make nodes NotReady.
    std::set<std::string> route_now;
    for (const auto& w : readiness_changed) {
      auto wit = workloads_.find(w);
      if (wit == workloads_.end()) continue;
      if (wit->second.queued > 0 || wit->second.routed < kRouteAtOnceBelow) route_now.insert(w);
    }
    if (!route_now.empty()) RoutesLocked(&updates, &route_now);
    // What the agent runs: a complete report says it all; a delta on the report last applied
    // changes it; a delta on anything else cannot be applied (resync).
    const bool delta = base >= 0;
    bool known = true;
    if (!delta) {
      n.running.clear();
      for (const auto& st : report.instances) n.running.insert(st.id);
    } else if (base != n.report_seq || n.report_seq < 0) {
      *resync = true;
      known = false;
    } else {
      for (const auto& st : report.instances) n.running.insert(st.id);
      for (const auto& id : gone_ids) n.running.erase(id);
    }
    n.report_seq = known ? seq : -1;
    // Instances we asked the node to stop and it no longer runs are gone for good. Only this
    // node's instances are looked at (the index): a heartbeat costs what its node runs.
    // A follower's records are only a mirror of the reports: what the node no longer runs goes.
    const bool follower = opts_.may_act && !acting_;
    std::vector<std::string> gone;
    if (known) {
      for (const auto& id : state_.IdsOn(report.node)) {
        auto it = state_.instances.find(id);
        if (it != state_.instances.end() && (it->second.removed || follower) &&
            !n.running.count(id)) {
          gone.push_back(id);
        }
      }
    }
    for (const auto& id : gone) state_.Erase(state_.instances.find(id));
    if (!gone.empty()) kicked_ = true;
    // Swept and up to date: its next empty delta needs no lock (QuickReport).
    if (known && n.state == NodeState::kReady) {
      std::map<std::string, InstanceStatus> held;
      for (const auto& id : state_.IdsOn(report.node)) {
        auto it = state_.instances.find(id);
        if (it != state_.instances.end() && it->second.observed_seen)
          held[id] = it->second.observed;
      }
      beats_.Allow(report.node, n.report_seq, std::move(held));
    } else {
      beats_.Forbid(report.node);
    }
    // A heartbeat that changes nothing wakes no watcher and no reconcile pass.
    if (!changed && gone.empty() && pending_events_.empty()) return Status::Ok();
    ++status_revision_;
    // Routing is otherwise recomputed by the reconcile pass this kicks (at once), not per
    // heartbeat: it costs every instance of the cluster, and 1,000 agents report 1,000 times a
    // second.
    kicked_ = true;
    events.swap(pending_events_);
  }
  // The routes first: a cold start's waiting request goes out before the threads woken below
  // (watchers, long-polls, the reconcile pass) take the cores.
  FlushGateway(std::move(updates));
  status_cv_.notify_all();
  NotifyListener();
  kick_cv_.notify_one();
  store_.AppendEvents(std::move(events));
  return Status::Ok();
}

int64_t ControlPlane::AssignmentVersion(const std::string& node) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = state_.nodes.find(node);
  return it == state_.nodes.end() ? -1 : it->second.version;
}

void ControlPlane::SetChangeListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lk(listener_mu_);
  listener_ = std::move(listener);
}

void ControlPlane::NotifyListener() {
  // Called under listener_mu_: once SetChangeListener(nullptr) returns, no call is in progress.
  std::lock_guard<std::mutex> lk(listener_mu_);
  if (listener_) listener_();
}

Status ControlPlane::WaitAssignments(const std::string& node, int64_t after, int64_t wait_ms,
                                     AssignmentSet* out) {
  std::unique_lock<std::mutex> lk(mu_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (true) {
    auto it = state_.nodes.find(node);
    if (it == state_.nodes.end()) return Status::NotFound("node " + node + " is not registered");
    if (it->second.version > after || stopping_) break;
    if (assignments_cv_.wait_until(lk, deadline) == std::cv_status::timeout) break;
  }
  *out = state_.AssignmentsFor(node);
  return Status::Ok();
}

}  // namespace tide
