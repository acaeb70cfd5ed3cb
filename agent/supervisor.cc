#include "agent/supervisor.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "agent/freezer.h"
#include "agent/instance_env.h"

namespace tide {
namespace {

bool HasExecProbe(const WorkloadSpec& spec) {
  auto exec = [](const std::optional<Probe>& p) { return p && p->type == Probe::Type::kExec; };
  return exec(spec.readiness) || exec(spec.liveness);
}

int64_t SecondsToMs(double s) {
  return static_cast<int64_t>(std::llround(std::max(0.0, s) * 1000));
}

std::string DescribeExit(const ExitInfo& e) {
  if (e.signal != 0) {
    std::string m = "killed by signal " + std::to_string(e.signal);
    if (const char* name = sigabbrev_np(e.signal)) m += std::string(" (SIG") + name + ")";
    if (e.oom_killed) m += ": out of memory";
    return m;
  }
  if (e.exit_code < 0) return e.oom_killed ? "killed: out of memory" : "exit status unknown";
  return "exited with code " + std::to_string(e.exit_code) +
         (e.oom_killed ? " (out of memory)" : "");
}

}  // namespace

Supervisor::Supervisor(SupervisorOptions options, Clock& clock, ProcessLauncher& launcher,
                       Prober& prober, LogFiles& logs)
    : options_(std::move(options)),
      own_store_(options_.store || options_.data_dir.empty()
                     ? nullptr
                     : std::make_unique<FileStateStore>(options_.data_dir)),
      store_(options_.store ? options_.store : own_store_.get()),
      clock_(clock),
      launcher_(launcher),
      prober_(prober),
      logs_(logs),
      ports_(options_.port_lo, options_.port_hi, options_.port_is_free),
      agent_env_(options_.agent_env ? *options_.agent_env : CurrentProcessEnv()) {}

Supervisor::~Supervisor() {
  for (auto& [id, inst] : instances_) CancelProbes(inst);
}

std::string Supervisor::StatePath() const { return store_ ? store_->Where() : ""; }

Supervisor::Instance Supervisor::NewInstance(const InstanceAssignment& a) const {
  Instance inst;
  inst.assignment = a;
  inst.status.id = a.id;
  inst.status.workload = a.workload;
  inst.status.node = options_.node;
  inst.status.generation = a.generation;
  inst.status.state = InstanceState::kPending;
  inst.backoff.set_config(a.spec->backoff);
  inst.restart_at_ms = clock_.NowMs();
  return inst;
}

void Supervisor::SetDesired(const std::vector<InstanceAssignment>& desired) {
  desired_.clear();
  for (const auto& a : desired) desired_[a.id] = a;
  desired_known_ = true;
  for (auto& [id, inst] : instances_) {
    auto it = desired_.find(id);
    if (it == desired_.end() || inst.removing) continue;
    // Same instance, maybe a newer generation: recorded for the next start, never restarted.
    inst.assignment = it->second;
    inst.status.workload = it->second.workload;
    inst.status.generation = it->second.generation;
    inst.backoff.set_config(it->second.spec->backoff);
  }
  for (const auto& [id, a] : desired_) {
    if (!instances_.count(id)) instances_.emplace(id, NewInstance(a));
  }
  dirty_ = true;
}

bool Supervisor::PrepareLaunch(Instance& inst, int64_t now, LaunchSpec* ls) {
  const WorkloadSpec& spec = *inst.assignment.spec;
  if (spec.command.empty()) {
    LaunchFailed(inst, now, "InvalidCommand", "spec.command is empty");
    return false;
  }
  for (const auto& [env, ref] : spec.secret_env) {
    // After an agent restart the values come again with tided's next assignments (they are
    // never on disk); until then the instance waits instead of starting without them.
    if (inst.assignment.secret_env.count(env) == 0) {
      LaunchFailed(inst, now, "SecretNotAvailable",
                   "env " + env + " (secret \"" + ref.name + "\") has not come from tided yet");
      return false;
    }
  }
  // A restart keeps its port unless another process took it meanwhile: on a port some other
  // listener holds, the instance would exit with "address in use" on every restart for good.
  if (inst.status.port != 0 && ports_.InUseByAnother(inst.status.port)) {
    ports_.Release(inst.status.port);
    inst.status.port = 0;
  }
  if (inst.status.port == 0) {
    int port = 0;
    Status s = ports_.Allocate(&port);
    if (!s.ok()) {
      LaunchFailed(inst, now, "NoPortAvailable", s.message());
      return false;
    }
    inst.status.port = port;
  }
  ls->instance_id = inst.assignment.id;
  ls->env = BuildInstanceEnv(inst.assignment, options_.node, inst.status.port, agent_env_);
  ls->argv = ExpandArgv(spec.command, ArgvEnv(ls->env, inst.assignment));
  ls->working_dir = spec.working_dir;
  ls->log_path = logs_.PathFor(inst.assignment.id);
  ls->memory_limit_bytes = spec.resources.memory_bytes;
  ls->pids_limit = spec.resources.pids;
  ls->user = spec.user;
  ls->listen_port = spec.socket_activation ? inst.status.port : 0;
  return true;
}

void Supervisor::FinishLaunch(Instance& inst, int64_t now, int64_t started_wall_ms, const Status& s,
                              const LaunchResult& r, LaunchSpec& ls) {
  if (!s.ok()) {
    // The launcher names a missing executable "executable not found: X" (a missing working dir
    // is also NotFound, but that is not a missing command).
    const bool not_found = s.message().find("executable not found") != std::string::npos;
    const bool bad_user = s.message().starts_with("spec.user");  // agent/run_as.h
    LaunchFailed(inst, now,
                 not_found  ? "CommandNotFound"
                 : bad_user ? "InvalidUser"
                            : "LaunchFailed",
                 s.message());
    return;
  }
  const WorkloadSpec& spec = *inst.assignment.spec;
  if (inst.relaunch_counts) ++inst.status.restarts;
  inst.relaunch_counts = false;
  inst.phase = Phase::kRunning;
  inst.status.pid = r.pid;
  inst.start_time = r.start_time;
  inst.status.limit_enforcer = r.limit_enforcer;
  inst.status.pids_enforcer = r.pids_enforcer;
  inst.status.state = InstanceState::kStarting;
  inst.status.started_at_ms = started_wall_ms;
  inst.status.ready_at_ms = 0;
  inst.started_ms = now;
  inst.stopping = inst.killed = false;
  inst.stop_reason.clear();
  inst.was_ready = false;
  const Probe readiness = spec.readiness.value_or(Probe{});
  inst.readiness = ProbeState{0, now + SecondsToMs(readiness.initial_delay_seconds), 0, 0};
  inst.liveness = ProbeState{
      0, now + SecondsToMs(spec.liveness ? spec.liveness->initial_delay_seconds : 0), 0, 0};
  inst.last_cpu_total = -1;
  // Kept for exec probes only (their argv's ${VAR} and PATH): 1 KiB an instance otherwise.
  inst.env = HasExecProbe(spec) ? std::move(ls.env) : StringMap{};
  inst.backoff.Started(now);
}

void Supervisor::LaunchFailed(Instance& inst, int64_t now, const std::string& reason,
                              const std::string& message) {
  inst.status.state = InstanceState::kFailed;
  inst.status.pid = 0;
  inst.status.ready_at_ms = 0;
  inst.status.reason = reason;
  inst.status.message = message;
  if (inst.assignment.spec->restart_policy == "Never") {
    inst.phase = Phase::kDone;
    return;
  }
  inst.phase = Phase::kWaiting;
  inst.restart_at_ms = now + inst.backoff.Crashed(now);
}

void Supervisor::OnExit(Instance& inst, const ExitInfo& exit, int64_t now,
                        const std::string& note) {
  CancelProbes(inst);
  if (options_.freezer) options_.freezer->Release(inst.assignment.id, false);
  // The leader is gone; take down anything it left in its process group (e.g. a forked worker
  // still holding $PORT) before the instance is started again.
  if (inst.status.pid > 0) launcher_.SignalGroup(inst.status.pid, SIGKILL);
  const bool clean = exit.exit_code == 0 && exit.signal == 0 && !exit.oom_killed;
  inst.status.last_exit_code = exit.exit_code;
  inst.status.last_signal = exit.signal;
  if (!inst.stop_reason.empty()) {
    inst.status.reason = inst.stop_reason;
  } else if (exit.oom_killed) {
    inst.status.reason = "OOMKilled";
  } else {
    inst.status.reason = clean ? "Completed" : "Error";
  }
  inst.status.message = DescribeExit(exit) + note;
  const bool failed = !clean || !inst.stop_reason.empty();
  inst.status.pid = 0;
  inst.start_time = 0;
  inst.status.ready_at_ms = 0;
  inst.status.cpu = 0;
  inst.status.memory_bytes = 0;
  inst.cpu_base = inst.status.cpu_seconds_total;
  inst.stopping = inst.killed = false;
  inst.stop_reason.clear();
  inst.env.clear();
  inst.phase = Phase::kWaiting;
  if (inst.removing) return;  // dropped by the caller

  const std::string& policy = inst.assignment.spec->restart_policy;
  const bool restart = policy == "Always" || (policy == "OnFailure" && failed);
  if (!restart) {
    inst.phase = Phase::kDone;
    inst.status.state = failed ? InstanceState::kFailed : InstanceState::kExited;
    return;
  }
  inst.restart_at_ms = now + inst.backoff.Crashed(now);
  inst.relaunch_counts = true;
  inst.status.state =
      inst.backoff.consecutive() >= 2 ? InstanceState::kCrashLoopBackOff : InstanceState::kPending;
}

void Supervisor::BeginStop(Instance& inst, int64_t now, const std::string& stop_reason) {
  CancelProbes(inst);
  if (inst.stopping) return;  // already on its way out; keep the earlier SIGKILL deadline
  inst.stopping = true;
  inst.killed = false;
  inst.stop_reason = stop_reason;
  inst.kill_at_ms = now + SecondsToMs(inst.assignment.spec->termination_grace_period_seconds);
  if (options_.freezer) options_.freezer->Release(inst.assignment.id, false);  // then it can stop
  launcher_.SignalGroup(inst.status.pid, SIGTERM);
}

void Supervisor::CancelProbes(Instance& inst) {
  for (ProbeState* ps : {&inst.readiness, &inst.liveness}) {
    if (ps->ticket != 0) prober_.Cancel(ps->ticket);
    ps->ticket = 0;
  }
}

ProbeTarget Supervisor::TargetFor(const Instance& inst, const Probe& probe) const {
  // Only an exec probe reads the environment: a TCP probe every 100 us of a start copies none.
  return ProbeTarget{inst.assignment.id, inst.status.port,
                     probe.type == Probe::Type::kExec ? inst.env : StringMap{},
                     inst.assignment.spec->working_dir};
}

void Supervisor::StepReadiness(Instance& inst, int64_t now) {
  Probe probe = inst.assignment.spec->readiness.value_or(Probe{});
  ProbeState& ps = inst.readiness;
  if (ps.ticket == 0 && now >= ps.next_ms) {
    probe.exec = ExpandArgv(probe.exec, ArgvEnv(inst.env, inst.assignment));
    ps.ticket = prober_.Submit(probe, TargetFor(inst, probe));
  }
  if (ps.ticket == 0) return;
  auto result = prober_.Poll(ps.ticket);
  if (!result) return;
  ps.ticket = 0;
  InstanceStatus& st = inst.status;
  if (result->ok) {
    ps.failures = 0;
    ++ps.successes;
    if (st.state != InstanceState::kReady && ps.successes >= std::max(1, probe.success_threshold)) {
      st.state = InstanceState::kReady;
      st.ready_at_ms = clock_.WallMs();
      st.reason.clear();
      st.message.clear();
      inst.was_ready = true;
    }
  } else {
    ps.successes = 0;
    ++ps.failures;
    if (st.state == InstanceState::kReady && ps.failures >= std::max(1, probe.failure_threshold)) {
      st.state = InstanceState::kStarting;
      st.ready_at_ms = 0;
      st.reason = "ProbeFailed";
      st.message =
          "readiness probe failed " + std::to_string(ps.failures) + " times: " + result->message;
    }
  }
  // Until the first ready, probe again right away so readiness is seen within a tick or two.
  ps.next_ms = now + (inst.was_ready ? std::max<int64_t>(1, SecondsToMs(probe.period_seconds))
                                     : kStartupProbeIntervalMs);
}

void Supervisor::StepLiveness(Instance& inst, int64_t now) {
  if (!inst.assignment.spec->liveness) return;
  Probe probe = *inst.assignment.spec->liveness;
  ProbeState& ps = inst.liveness;
  if (ps.ticket == 0 && now >= ps.next_ms) {
    probe.exec = ExpandArgv(probe.exec, ArgvEnv(inst.env, inst.assignment));
    ps.ticket = prober_.Submit(probe, TargetFor(inst, probe));
  }
  if (ps.ticket == 0) return;
  auto result = prober_.Poll(ps.ticket);
  if (!result) return;
  ps.ticket = 0;
  ps.next_ms = now + std::max<int64_t>(1, SecondsToMs(probe.period_seconds));
  if (result->ok) {
    ps.failures = 0;
    return;
  }
  if (++ps.failures < std::max(1, probe.failure_threshold)) return;
  inst.status.state = InstanceState::kStarting;
  inst.status.ready_at_ms = 0;
  inst.status.reason = "LivenessFailed";
  inst.status.message = "liveness probe failed " + std::to_string(ps.failures) +
                        " times: " + result->message + "; restarting";
  BeginStop(inst, now, "LivenessFailed");
}

void Supervisor::SampleRound(int64_t now) {
  next_round_ms_ = now + kHousekeepingIntervalMs;
  std::vector<int> pids;
  for (const auto& [id, inst] : instances_) {
    if (inst.phase == Phase::kRunning && inst.status.pid > 0) pids.push_back(inst.status.pid);
  }
  if (pids.empty()) return;
  const std::map<int, ProcSample> samples = launcher_.Sample(pids);
  for (auto& [id, inst] : instances_) {
    if (inst.phase != Phase::kRunning || inst.status.pid <= 0) continue;
    auto it = samples.find(inst.status.pid);
    if (it != samples.end()) {
      const ProcSample& sample = it->second;
      if (inst.last_cpu_total >= 0 && now > inst.last_sample_ms) {
        const double used = sample.cpu_seconds_total - inst.last_cpu_total;
        inst.status.cpu = std::max(0.0, used / ((now - inst.last_sample_ms) / 1000.0));
      }
      inst.last_cpu_total = sample.cpu_seconds_total;
      inst.last_sample_ms = now;
      inst.status.cpu_seconds_total = inst.cpu_base + sample.cpu_seconds_total;
      inst.status.memory_bytes = sample.rss_bytes;
    }
    logs_.RotateIfNeeded(inst.assignment.id);
  }
}

void Supervisor::StepRunning(Instance& inst, int64_t now) {
  if (inst.stopping) {
    if (!inst.killed && now >= inst.kill_at_ms) {
      launcher_.SignalGroup(inst.status.pid, SIGKILL);
      inst.killed = true;
    }
  } else if (Frozen(inst.assignment.id)) {
    CancelProbes(inst);  // never probed while frozen; one cut short is sent again after a thaw
  } else {
    StepReadiness(inst, now);
    if (!inst.stopping) StepLiveness(inst, now);
  }
}

bool Supervisor::Frozen(const std::string& id) const {
  return options_.freezer && options_.freezer->IsFrozen(id);
}

void Supervisor::Remove(Instance& inst) {
  CancelProbes(inst);
  if (options_.freezer) options_.freezer->Release(inst.assignment.id, true);
  launcher_.Cleanup(inst.assignment.id);
  if (inst.status.port != 0) ports_.Release(inst.status.port);
}

bool Supervisor::AwaitsFirstReady(const std::string& id, const Instance& inst) const {
  return inst.phase == Phase::kRunning && !inst.stopping && !inst.was_ready && !Frozen(id);
}

std::vector<std::string> Supervisor::FastProbed() const {
  const int64_t now = clock_.NowMs();
  std::vector<std::string> out;
  for (const auto& [id, inst] : instances_) {
    if (!AwaitsFirstReady(id, inst) || now - inst.started_ms >= kFastProbeWindowMs) continue;
    const Probe probe = inst.assignment.spec->readiness.value_or(Probe{});
    // TCP only (a connect to loopback, answered at once), and only once initialDelaySeconds has
    // passed (the startup cadence runs).
    if (probe.type != Probe::Type::kTcp || inst.readiness.ticket != 0 ||
        inst.readiness.next_ms > now + kStartupProbeIntervalMs)
      continue;
    out.push_back(id);
    if (static_cast<int>(out.size()) > kFastProbeMax) break;
  }
  return out;
}

bool Supervisor::FastProbing() const {
  const size_t n = FastProbed().size();
  return n > 0 && static_cast<int>(n) <= kFastProbeMax;
}

bool Supervisor::DueFastProbes() {
  const std::vector<std::string> ids = FastProbed();
  if (ids.empty() || static_cast<int>(ids.size()) > kFastProbeMax) return false;
  const int64_t now = clock_.NowMs();
  for (const auto& id : ids) {
    ProbeState& ps = instances_.at(id).readiness;
    ps.next_ms = std::min(ps.next_ms, now);
  }
  return true;
}

int64_t Supervisor::ReportHoldMs() const {
  const int64_t now = clock_.NowMs();
  int64_t hold = 0;
  for (const auto& [id, inst] : instances_) {
    if (AwaitsFirstReady(id, inst)) hold = std::max(hold, inst.started_ms + kReportHoldMs - now);
  }
  return hold;
}

int64_t Supervisor::HousekeepingAt() const {
  int64_t at = std::max(next_round_ms_, quiet_until_ms_);
  // A process started less than a period ago and not ready yet holds the round until it is
  // (its Tick then sets quiet_until_ms_), at most a period after its start.
  for (const auto& [id, inst] : instances_) {
    if (AwaitsFirstReady(id, inst)) at = std::max(at, inst.started_ms + kHousekeepingIntervalMs);
  }
  return std::min(at, next_round_ms_ + kHousekeepingIntervalMs);  // held back at most a period
}

bool Supervisor::Tick() {
  const int64_t now = clock_.NowMs();
  // A round overdue by more than a period means the supervisor slept (no instance): the round
  // is due from now, so a launch from idle can still hold it back.
  if (next_round_ms_ < now - kHousekeepingIntervalMs) next_round_ms_ = now;
  if (desired_known_) {
    for (const auto& [id, a] : desired_) {
      if (!instances_.count(id)) instances_.emplace(id, NewInstance(a));
    }
  }
  std::vector<std::string> gone;
  std::vector<Instance*> to_launch;
  std::vector<LaunchSpec> specs;
  for (auto& [id, inst] : instances_) {
    if (desired_known_ && !inst.removing && !desired_.count(id)) {
      inst.removing = true;
      if (inst.phase == Phase::kRunning) {
        inst.status.state = InstanceState::kTerminating;
        inst.status.ready_at_ms = 0;
        BeginStop(inst, now, "");
      }
    }
    if (inst.phase == Phase::kRunning) {
      if (auto exit = launcher_.TryReap(inst.status.pid, inst.start_time)) {
        OnExit(inst, *exit, now);
      }
    }
    if (inst.removing && inst.phase != Phase::kRunning) {
      Remove(inst);
      gone.push_back(id);
      continue;
    }
    if (inst.phase == Phase::kWaiting && now >= inst.restart_at_ms) {
      LaunchSpec ls;
      if (PrepareLaunch(inst, now, &ls)) {
        to_launch.push_back(&inst);
        specs.push_back(std::move(ls));
      }
      continue;
    }
    if (inst.phase == Phase::kRunning) StepRunning(inst, now);
  }
  for (const auto& id : gone) instances_.erase(id);
  if (!gone.empty()) erased_unsaved_ = erased_unreported_ = true;
  // The launches due this Tick in batches, so the launcher can overlap those of one batch;
  // after each batch every instance started so far is probed (with a fresh clock reading, so
  // one refused at its first probe is tried again).
  for (size_t lo = 0; lo < specs.size(); lo += kLaunchBatch) {
    const size_t hi = std::min(specs.size(), lo + kLaunchBatch);
    std::vector<LaunchSpec> batch(std::make_move_iterator(specs.begin() + lo),
                                  std::make_move_iterator(specs.begin() + hi));
    std::vector<Status> results;
    std::vector<LaunchResult> launched;
    const int64_t started_wall_ms = clock_.WallMs();
    launcher_.LaunchMany(batch, &results, &launched);
    const int64_t after = clock_.NowMs();
    for (size_t i = lo; i < hi; ++i) {
      FinishLaunch(*to_launch[i], after, started_wall_ms, results[i - lo], launched[i - lo],
                   batch[i - lo]);
    }
    for (size_t i = 0; i < hi; ++i) {
      if (to_launch[i]->phase == Phase::kRunning) StepRunning(*to_launch[i], after);
    }
  }

  const bool changed = UpdateReported();
  // What this Tick changed is reported once it returns: housekeeping keeps out of its way.
  if (changed || !specs.empty()) quiet_until_ms_ = clock_.NowMs() + kQuietAfterChangeMs;
  if (now >= HousekeepingAt()) SampleRound(now);
  stale_ = stale_ || changed;
  // Every change to a durable field also changes the reported signature (state, pid, port,
  // restarts, generation, or the instance's presence), so quiet ticks skip this comparison.
  if (changed && DurableChanged()) dirty_ = true;
  const bool save_now = dirty_ && now >= persist_retry_at_ms_;
  const bool save_lazy =
      stale_ && now >= std::max({persist_retry_at_ms_, next_lazy_save_ms_, quiet_until_ms_});
  if (save_now || save_lazy) {
    Status ps = Persist();
    if (ps.ok()) {
      for (auto& [id, inst] : instances_) inst.persisted = DurableOf(inst);
      erased_unsaved_ = false;
      dirty_ = stale_ = false;
      next_lazy_save_ms_ = now + kHousekeepingIntervalMs;
    } else {
      dirty_ = true;
      persist_retry_at_ms_ = now + kHousekeepingIntervalMs;  // no busy retry loop
      if (!persist_failing_) spdlog::warn("supervisor: cannot persist instances: {}", ps.message());
    }
    persist_failing_ = !ps.ok();
  }
  return changed;
}

int64_t Supervisor::NextTickDelayMs() const {
  if (Idle() && (!desired_known_ || desired_.empty())) return kIdleTickDelayMs;
  const int64_t now = clock_.NowMs();
  int64_t due = now + kMaxTickDelayMs;
  auto at = [&](int64_t t) { due = std::min(due, t); };
  if (dirty_) at(std::max(now, persist_retry_at_ms_));
  if (stale_) at(std::max({now, persist_retry_at_ms_, next_lazy_save_ms_, quiet_until_ms_}));
  if (desired_known_) {
    for (const auto& [id, a] : desired_) {
      if (!instances_.count(id)) at(now);
    }
  }
  for (const auto& [id, inst] : instances_) {
    if (desired_known_ && !inst.removing && !desired_.count(id)) at(now);
    switch (inst.phase) {
      case Phase::kWaiting:
        at(inst.removing ? now : inst.restart_at_ms);
        break;
      case Phase::kDone:
        if (inst.removing) at(now);
        break;
      case Phase::kRunning:
        if (inst.stopping) {
          at(inst.killed ? now + kStoppingPollMs
                         : std::min(inst.kill_at_ms, now + kStoppingPollMs));
          break;
        }
        if (Frozen(id)) {  // no probe due while frozen
          at(HousekeepingAt());
          break;
        }
        if (inst.readiness.ticket != 0 || inst.liveness.ticket != 0) {
          at(now + kStartupProbeIntervalMs);
        }
        at(inst.readiness.next_ms);
        if (inst.assignment.spec->liveness) at(inst.liveness.next_ms);
        at(HousekeepingAt());
        break;
    }
  }
  return std::max<int64_t>(0, due - now);
}

std::vector<InstanceStatus> Supervisor::Statuses() const {
  std::vector<InstanceStatus> out;
  out.reserve(instances_.size());
  for (const auto& [id, inst] : instances_) {
    if (Recorded(inst)) out.push_back(inst.status);
  }
  return out;
}

bool Supervisor::Recorded(const Instance& inst) const {
  if (!store_ || inst.status.pid <= 0) return true;
  return inst.persisted && inst.persisted->pid == inst.status.pid &&
         inst.persisted->start_time == inst.start_time;
}

Supervisor::Durable Supervisor::DurableOf(const Instance& inst) {
  return Durable{inst.phase,    inst.status.pid,      inst.start_time,      inst.status.port,
                 inst.removing, inst.relaunch_counts, inst.status.restarts, inst.status.generation};
}

bool Supervisor::DurableChanged() const {
  if (erased_unsaved_) return true;
  for (const auto& [id, inst] : instances_) {
    if (!inst.persisted || !(*inst.persisted == DurableOf(inst))) return true;
  }
  return false;
}

bool Supervisor::UpdateReported() {
  bool changed = erased_unreported_;
  erased_unreported_ = false;
  for (auto& [id, inst] : instances_) {
    if (!inst.reported || !inst.reported->Matches(inst.status)) {
      inst.reported = Signature::Of(inst.status);
      changed = true;
    }
  }
  return changed;
}

Status Supervisor::Persist() {
  if (!store_) return Status::Ok();
  AgentState state;
  state.node = options_.node;
  state.instances.reserve(instances_.size());
  for (const auto& [id, inst] : instances_) {
    state.instances.push_back({inst.assignment, inst.status, inst.phase, inst.start_time,
                               inst.removing, inst.relaunch_counts});
  }
  return store_->Save(state);
}

Status Supervisor::Restore() {
  if (!store_) return Status::Ok();
  AgentState saved;
  if (Status st = store_->Load(&saved); !st.ok()) return st;
  const int64_t now = clock_.NowMs();
  for (SavedInstance& rec : saved.instances) {
    const InstanceAssignment& a = rec.assignment;
    if (a.id.empty() || instances_.count(a.id)) {
      erased_unsaved_ = true;  // on disk, not kept: the next save leaves it out
      continue;
    }
    Instance inst = NewInstance(a);
    // What is on disk is recorded, as it was saved (the adoption below may change it).
    inst.persisted =
        Durable{rec.phase,    rec.status.pid,      rec.start_time,      rec.status.port,
                rec.removing, rec.relaunch_counts, rec.status.restarts, rec.status.generation};
    inst.status = std::move(rec.status);
    inst.status.node = options_.node;
    inst.status.cpu = 0;
    inst.cpu_base = inst.status.cpu_seconds_total;
    inst.phase = rec.phase;
    inst.start_time = rec.start_time;
    inst.removing = rec.removing;
    inst.relaunch_counts = rec.relaunch_counts;
    if (inst.status.port != 0) ports_.MarkTaken(inst.status.port);
    inst.restart_at_ms = now;
    if (inst.phase == Phase::kRunning) {
      inst.started_ms = now;
      inst.backoff.Started(now);
      if (HasExecProbe(*a.spec)) {
        inst.env = BuildInstanceEnv(a, options_.node, inst.status.port, agent_env_);
      }
      if (inst.status.pid <= 0 || !launcher_.IsAlive(inst.status.pid, inst.start_time)) {
        // Reap it when it is still our child (a Supervisor re-created inside one agent
        // process) so no zombie is left, and learn its exit status when the launcher knows it.
        std::optional<ExitInfo> exit;
        if (inst.status.pid > 0) exit = launcher_.TryReap(inst.status.pid, inst.start_time);
        OnExit(inst, exit.value_or(ExitInfo{}), now, " (ended while the agent was down)");
      } else if (inst.removing) {
        inst.status.state = InstanceState::kTerminating;
        BeginStop(inst, now, "");
      } else {
        // Re-adopted as it was: a Ready instance stays Ready and is re-probed at its period.
        const Probe readiness = a.spec->readiness.value_or(Probe{});
        inst.was_ready = inst.status.state == InstanceState::kReady;
        if (!inst.was_ready) inst.status.state = InstanceState::kStarting;
        inst.readiness.next_ms =
            inst.was_ready ? now + std::max<int64_t>(1, SecondsToMs(readiness.period_seconds))
                           : now;
        inst.liveness.next_ms =
            now + SecondsToMs(a.spec->liveness ? a.spec->liveness->period_seconds : 0);
      }
    }
    instances_.emplace(a.id, std::move(inst));
  }
  dirty_ = true;
  return Status::Ok();
}

}  // namespace tide
