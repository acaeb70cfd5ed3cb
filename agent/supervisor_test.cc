#include "agent/supervisor.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "agent/fake_launcher.h"
#include "agent/fake_prober.h"
#include "api/json.h"

namespace tide {
namespace {

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tide-supervisor-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    logs_ = std::make_unique<LogFiles>(dir_ + "/logs");
    // Readiness (TCP/HTTP) succeeds once the test says the instance listens; exec probes
    // (used as liveness here) follow live_ok_.
    prober_.decide = [this](const Probe& p, const ProbeTarget& t) -> std::optional<ProbeResult> {
      if (p.type == Probe::Type::kExec) return ProbeResult{live_ok_, "exit code 1"};
      return ProbeResult{listening_.count(t.instance_id) > 0, "connect: Connection refused"};
    };
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  SupervisorOptions Options(int port_lo = 20000, int port_hi = 20099) const {
    SupervisorOptions o;
    o.node = "node-a";
    o.data_dir = dir_;
    o.port_lo = port_lo;
    o.port_hi = port_hi;
    o.agent_env = StringMap{{"PATH", "/usr/bin:/bin"}, {"HOME", "/root"}};
    o.port_is_free = [](int) { return true; };
    return o;
  }

  std::unique_ptr<Supervisor> Make(int port_lo = 20000, int port_hi = 20099,
                                   Prober* prober = nullptr) {
    return std::make_unique<Supervisor>(Options(port_lo, port_hi), clock_, launcher_,
                                        prober ? *prober : prober_, *logs_);
  }

  static InstanceAssignment A(const std::string& id, const std::string& policy = "Always") {
    InstanceAssignment a;
    a.id = id;
    a.workload = "web";
    a.generation = 1;
    a.spec.mut().command = {"web-server", "--port", "${PORT}"};
    a.spec.mut().restart_policy = policy;
    a.spec.mut().termination_grace_period_seconds = 10;
    return a;
  }

  static InstanceStatus Get(const Supervisor& s, const std::string& id) {
    for (const auto& st : s.Statuses()) {
      if (st.id == id) return st;
    }
    ADD_FAILURE() << "no instance " << id;
    return {};
  }

  // Crashes the instance's current process and ticks once.
  void Crash(Supervisor& s, const std::string& id, ExitInfo e = {1, 0, false}) {
    launcher_.Exit(Get(s, id).pid, e);
    s.Tick();
  }

  std::string dir_;
  FakeClock clock_;
  FakeLauncher launcher_;
  FakeProber prober_;
  std::unique_ptr<LogFiles> logs_;
  std::set<std::string> listening_;
  bool live_ok_ = true;
};

TEST_F(SupervisorTest, StartsThenReadyOnceThePortAccepts) {
  auto s = Make();
  s->SetDesired({A("web-1")});
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kPending);
  EXPECT_TRUE(s->Tick());
  ASSERT_EQ(launcher_.launched.size(), 1u);
  InstanceStatus st = Get(*s, "web-1");
  EXPECT_EQ(st.state, InstanceState::kStarting);
  EXPECT_EQ(st.pid, launcher_.launched[0]);
  EXPECT_EQ(st.node, "node-a");
  EXPECT_EQ(st.started_at_ms, clock_.WallMs());
  EXPECT_GE(st.port, 20000);
  EXPECT_LE(st.port, 20099);
  EXPECT_EQ(st.limit_enforcer, "none");

  const LaunchSpec& spec = launcher_.Last().spec;
  EXPECT_EQ(spec.argv, (std::vector<std::string>{"web-server", "--port", std::to_string(st.port)}));
  EXPECT_EQ(spec.env.at("PORT"), std::to_string(st.port));
  EXPECT_EQ(spec.env.at("TIDE_INSTANCE"), "web-1");
  EXPECT_EQ(spec.env.at("TIDE_NODE"), "node-a");
  EXPECT_EQ(spec.log_path, logs_->PathFor("web-1"));

  // Not listening yet: stays Starting, and the next tick is wanted within ~1 ms.
  clock_.Advance(1);
  EXPECT_FALSE(s->Tick());
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kStarting);
  EXPECT_LE(s->NextTickDelayMs(), 2);
  const int probes_before = prober_.CountOfType(Probe::Type::kTcp);
  EXPECT_GE(probes_before, 1);
  EXPECT_EQ(prober_.submissions.back().target.port, st.port);

  listening_.insert("web-1");
  clock_.Advance(1);
  EXPECT_TRUE(s->Tick());
  st = Get(*s, "web-1");
  EXPECT_EQ(st.state, InstanceState::kReady);
  EXPECT_EQ(st.ready_at_ms, clock_.WallMs());
  EXPECT_GT(s->NextTickDelayMs(), 2);  // no fast probing once ready
  EXPECT_EQ(launcher_.launched.size(), 1u);
}

TEST_F(SupervisorTest, ReadinessRespectsInitialDelay) {
  auto s = Make();
  InstanceAssignment a = A("web-1");
  Probe p;
  p.type = Probe::Type::kHttp;
  p.http_path = "/healthz";
  p.initial_delay_seconds = 3;
  a.spec.mut().readiness = p;
  listening_.insert("web-1");
  s->SetDesired({a});
  s->Tick();
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kStarting);
  EXPECT_GT(s->NextTickDelayMs(), 2);
  clock_.Advance(2999);
  s->Tick();
  EXPECT_EQ(prober_.submissions.size(), 0u);
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kStarting);
  clock_.Advance(1);
  EXPECT_TRUE(s->Tick());
  ASSERT_EQ(prober_.submissions.size(), 1u);
  EXPECT_EQ(prober_.submissions[0].probe.http_path, "/healthz");
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kReady);
}

TEST_F(SupervisorTest, ReadinessProbeInFlightDoesNotBlockAndCompletesLater) {
  auto s = Make();
  prober_.decide = [](const Probe&, const ProbeTarget&) { return std::nullopt; };
  s->SetDesired({A("web-1")});
  s->Tick();
  ASSERT_EQ(prober_.submissions.size(), 1u);
  clock_.Advance(5);
  s->Tick();
  EXPECT_EQ(prober_.submissions.size(), 1u);  // one probe at a time per instance
  EXPECT_LE(s->NextTickDelayMs(), 2);         // polled quickly while in flight
  prober_.Complete(prober_.submissions[0].ticket, {true, ""});
  EXPECT_TRUE(s->Tick());
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kReady);
}

TEST_F(SupervisorTest, ReadyInstanceLosesReadinessAfterFailureThreshold) {
  auto s = Make();
  listening_.insert("web-1");
  s->SetDesired({A("web-1")});
  s->Tick();
  ASSERT_EQ(Get(*s, "web-1").state, InstanceState::kReady);
  listening_.clear();
  for (int i = 0; i < 2; ++i) {
    clock_.Advance(5000);  // default periodSeconds 5
    s->Tick();
    EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kReady);
  }
  clock_.Advance(5000);
  EXPECT_TRUE(s->Tick());
  InstanceStatus st = Get(*s, "web-1");
  EXPECT_EQ(st.state, InstanceState::kStarting);
  EXPECT_EQ(st.ready_at_ms, 0);
  EXPECT_EQ(st.reason, "ProbeFailed");
  EXPECT_EQ(launcher_.launched.size(), 1u);  // not restarted: readiness only gates traffic
}

TEST_F(SupervisorTest, CrashRestartsWithExponentialBackoffAndCrashLoopBackOff) {
  auto s = Make();
  s->SetDesired({A("web-1")});
  s->Tick();
  const int port = Get(*s, "web-1").port;
  const std::vector<int64_t> delays = {1000, 2000, 4000, 8000};
  for (size_t i = 0; i < delays.size(); ++i) {
    Crash(*s, "web-1");
    InstanceStatus st = Get(*s, "web-1");
    EXPECT_EQ(st.state, i == 0 ? InstanceState::kPending : InstanceState::kCrashLoopBackOff);
    EXPECT_EQ(st.last_exit_code, 1);
    EXPECT_EQ(st.reason, "Error");
    EXPECT_EQ(st.pid, 0);
    EXPECT_EQ(st.restarts, static_cast<int>(i));
    const size_t launches = launcher_.launched.size();
    EXPECT_EQ(s->NextTickDelayMs(), std::min<int64_t>(delays[i], Supervisor::kMaxTickDelayMs));
    clock_.Advance(delays[i] - 1);
    s->Tick();
    EXPECT_EQ(launcher_.launched.size(), launches) << "restarted before its backoff, crash " << i;
    clock_.Advance(1);
    EXPECT_TRUE(s->Tick());
    EXPECT_EQ(launcher_.launched.size(), launches + 1);
    st = Get(*s, "web-1");
    EXPECT_EQ(st.state, InstanceState::kStarting);
    EXPECT_EQ(st.restarts, static_cast<int>(i) + 1);
    EXPECT_EQ(st.port, port);  // an instance keeps its port across restarts
  }
}

TEST_F(SupervisorTest, BackoffResetsAfterHealthyRun) {
  auto s = Make();
  s->SetDesired({A("web-1")});
  s->Tick();
  Crash(*s, "web-1");
  clock_.Advance(1000);
  s->Tick();
  Crash(*s, "web-1");
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kCrashLoopBackOff);
  clock_.Advance(2000);
  s->Tick();
  clock_.Advance(600'000);  // healthy for the whole reset window
  s->Tick();
  Crash(*s, "web-1");
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kPending);
  const size_t launches = launcher_.launched.size();
  clock_.Advance(1000);
  s->Tick();
  EXPECT_EQ(launcher_.launched.size(), launches + 1);
}

TEST_F(SupervisorTest, OnFailureRestartsOnlyFailures) {
  auto s = Make();
  s->SetDesired({A("ok-1", "OnFailure"), A("bad-1", "OnFailure"), A("sig-1", "OnFailure")});
  s->Tick();
  ASSERT_EQ(launcher_.launched.size(), 3u);
  launcher_.Exit(Get(*s, "ok-1").pid, {0, 0, false});
  launcher_.Exit(Get(*s, "bad-1").pid, {3, 0, false});
  launcher_.Exit(Get(*s, "sig-1").pid, {-1, SIGSEGV, false});
  s->Tick();
  InstanceStatus ok = Get(*s, "ok-1");
  EXPECT_EQ(ok.state, InstanceState::kExited);
  EXPECT_EQ(ok.reason, "Completed");
  EXPECT_EQ(ok.last_exit_code, 0);
  EXPECT_EQ(Get(*s, "sig-1").last_signal, SIGSEGV);
  clock_.Advance(60'000);
  s->Tick();
  EXPECT_EQ(launcher_.launched.size(), 5u);  // bad-1 and sig-1 again, ok-1 not
  EXPECT_EQ(Get(*s, "ok-1").state, InstanceState::kExited);
  EXPECT_EQ(Get(*s, "bad-1").state, InstanceState::kStarting);
  EXPECT_EQ(Get(*s, "bad-1").restarts, 1);
}

TEST_F(SupervisorTest, NeverKeepsExitedOrFailedAndOomIsReported) {
  auto s = Make();
  s->SetDesired({A("ok-1", "Never"), A("oom-1", "Never")});
  s->Tick();
  launcher_.Exit(Get(*s, "ok-1").pid, {0, 0, false});
  launcher_.Exit(Get(*s, "oom-1").pid, {-1, SIGKILL, true});
  EXPECT_TRUE(s->Tick());
  clock_.Advance(600'000);
  s->Tick();
  EXPECT_EQ(launcher_.launched.size(), 2u);
  EXPECT_EQ(Get(*s, "ok-1").state, InstanceState::kExited);
  InstanceStatus oom = Get(*s, "oom-1");
  EXPECT_EQ(oom.state, InstanceState::kFailed);
  EXPECT_EQ(oom.reason, "OOMKilled");
  EXPECT_EQ(oom.last_signal, SIGKILL);
  EXPECT_EQ(oom.restarts, 0);
}

TEST_F(SupervisorTest, CommandNotFoundFailsWithReasonAndRetriesWithBackoff) {
  launcher_.missing_commands.insert("web-server");
  auto s = Make();
  s->SetDesired({A("web-1"), A("once-1", "Never")});
  EXPECT_TRUE(s->Tick());
  for (const char* id : {"web-1", "once-1"}) {
    InstanceStatus st = Get(*s, id);
    EXPECT_EQ(st.state, InstanceState::kFailed) << id;
    EXPECT_EQ(st.reason, "CommandNotFound") << id;
    EXPECT_NE(st.message.find("executable not found: web-server"), std::string::npos);
    EXPECT_EQ(st.pid, 0);
  }
  EXPECT_EQ(launcher_.launch_attempts, 2);
  clock_.Advance(1000);
  s->Tick();
  EXPECT_EQ(launcher_.launch_attempts, 3);  // web-1 retried, once-1 (Never) not
  clock_.Advance(1000);
  s->Tick();
  EXPECT_EQ(launcher_.launch_attempts, 3);  // the second retry waits 2 s
  launcher_.missing_commands.clear();
  clock_.Advance(1000);
  s->Tick();
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kStarting);
  EXPECT_EQ(Get(*s, "once-1").state, InstanceState::kFailed);
}

TEST_F(SupervisorTest, OtherLaunchErrorsAreLaunchFailed) {
  launcher_.fail_message = "working directory not found: /nope";
  launcher_.fail_not_found = true;
  auto s = Make();
  s->SetDesired({A("web-1")});
  s->Tick();
  EXPECT_EQ(Get(*s, "web-1").reason, "LaunchFailed");
  EXPECT_EQ(Get(*s, "web-1").message, launcher_.fail_message);
}

TEST_F(SupervisorTest, RemovalSendsSigtermThenSigkillAfterGraceThenDrops) {
  launcher_.exit_on_sigterm = false;  // a process that ignores SIGTERM
  auto s = Make(20000, 20000);        // one port, to see it released
  listening_.insert("web-1");
  s->SetDesired({A("web-1")});
  s->Tick();
  const int pid = Get(*s, "web-1").pid;
  ASSERT_EQ(Get(*s, "web-1").state, InstanceState::kReady);

  s->SetDesired({});
  EXPECT_TRUE(s->Tick());
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kTerminating);
  EXPECT_EQ(launcher_.SignalCount(pid, SIGTERM), 1);
  EXPECT_EQ(launcher_.SignalCount(pid, SIGKILL), 0);
  clock_.Advance(9999);
  s->Tick();
  EXPECT_EQ(launcher_.SignalCount(pid, SIGKILL), 0);
  EXPECT_EQ(launcher_.SignalCount(pid, SIGTERM), 1);
  EXPECT_LE(s->NextTickDelayMs(), Supervisor::kStoppingPollMs);
  clock_.Advance(1);
  s->Tick();  // SIGKILL sent: the fake process dies at once
  EXPECT_GE(launcher_.SignalCount(pid, SIGKILL), 1);
  clock_.Advance(1);
  EXPECT_TRUE(s->Tick());
  EXPECT_TRUE(s->Statuses().empty());
  EXPECT_EQ(launcher_.cleaned, (std::vector<std::string>{"web-1"}));

  // The single port is free again for a new instance.
  s->SetDesired({A("web-2")});
  s->Tick();
  EXPECT_EQ(Get(*s, "web-2").state, InstanceState::kStarting);
  EXPECT_EQ(Get(*s, "web-2").port, 20000);
}

TEST_F(SupervisorTest, GracefulExitOnSigtermIsRemovedWithoutSigkillWait) {
  auto s = Make();
  s->SetDesired({A("web-1"), A("web-2")});
  s->Tick();
  const int pid = Get(*s, "web-1").pid;
  s->SetDesired({A("web-2")});
  s->Tick();  // SIGTERM; the fake exits at once
  clock_.Advance(1);
  s->Tick();
  ASSERT_EQ(s->Statuses().size(), 1u);
  EXPECT_EQ(s->Statuses()[0].id, "web-2");
  EXPECT_EQ(launcher_.SignalCount(pid, SIGTERM), 1);
  EXPECT_EQ(launcher_.launched.size(), 2u);  // the removed one is not restarted
}

TEST_F(SupervisorTest, NotRunningInstanceIsDroppedAtOnce) {
  launcher_.missing_commands.insert("web-server");
  auto s = Make();
  s->SetDesired({A("web-1")});
  s->Tick();
  s->SetDesired({});
  EXPECT_TRUE(s->Tick());
  EXPECT_TRUE(s->Statuses().empty());
}

TEST_F(SupervisorTest, LivenessFailureKillsAndRestarts) {
  auto s = Make();
  InstanceAssignment a = A("web-1");
  Probe live;
  live.type = Probe::Type::kExec;
  live.exec = {"check", "${PORT}"};
  live.period_seconds = 1;
  live.failure_threshold = 3;
  a.spec.mut().liveness = live;
  listening_.insert("web-1");
  s->SetDesired({a});
  s->Tick();
  const int pid = Get(*s, "web-1").pid;
  ASSERT_EQ(Get(*s, "web-1").state, InstanceState::kReady);
  ASSERT_EQ(prober_.CountOfType(Probe::Type::kExec), 1);
  EXPECT_EQ(prober_.submissions.back().probe.exec[1], std::to_string(Get(*s, "web-1").port));

  live_ok_ = false;
  for (int i = 0; i < 2; ++i) {
    clock_.Advance(1000);
    s->Tick();
    EXPECT_EQ(launcher_.SignalCount(pid, SIGTERM), 0);
  }
  clock_.Advance(1000);
  s->Tick();
  EXPECT_EQ(launcher_.SignalCount(pid, SIGTERM), 1);
  EXPECT_EQ(Get(*s, "web-1").reason, "LivenessFailed");
  clock_.Advance(1);
  s->Tick();  // reaped
  InstanceStatus st = Get(*s, "web-1");
  EXPECT_EQ(st.reason, "LivenessFailed");
  EXPECT_EQ(st.state, InstanceState::kPending);
  live_ok_ = true;
  clock_.Advance(1000);
  s->Tick();
  st = Get(*s, "web-1");
  EXPECT_EQ(launcher_.launched.size(), 2u);
  EXPECT_EQ(st.restarts, 1);
  EXPECT_NE(st.pid, pid);
}

TEST_F(SupervisorTest, GenerationChangeIsRecordedNotRestarted) {
  auto s = Make();
  s->SetDesired({A("web-1")});
  s->Tick();
  InstanceAssignment a = A("web-1");
  a.generation = 2;
  a.spec.mut().command = {"other"};
  s->SetDesired({a});
  EXPECT_TRUE(s->Tick());
  EXPECT_EQ(Get(*s, "web-1").generation, 2);
  EXPECT_EQ(launcher_.launched.size(), 1u);
  EXPECT_TRUE(launcher_.signals.empty());
}

TEST_F(SupervisorTest, SamplesCpuAndMemoryAboutOnceASecond) {
  auto s = Make();
  s->SetDesired({A("web-1")});
  s->Tick();
  auto& proc = launcher_.Last();
  proc.sample = {1.0, 64 << 20};
  clock_.Advance(1000);
  s->Tick();
  proc.sample = {1.5, 80 << 20};
  clock_.Advance(1000);
  s->Tick();
  InstanceStatus st = Get(*s, "web-1");
  EXPECT_DOUBLE_EQ(st.cpu, 0.5);
  EXPECT_DOUBLE_EQ(st.cpu_seconds_total, 1.5);
  EXPECT_EQ(st.memory_bytes, 80 << 20);
  // cpu_seconds_total keeps counting across a restart.
  Crash(*s, "web-1");
  clock_.Advance(1000);
  s->Tick();
  launcher_.Last().sample = {0.25, 1};
  clock_.Advance(1000);
  s->Tick();
  EXPECT_DOUBLE_EQ(Get(*s, "web-1").cpu_seconds_total, 1.75);
}

TEST_F(SupervisorTest, OneSamplingPassPerSecondWhateverTheInstanceCount) {
  auto s = Make();
  std::vector<InstanceAssignment> many;
  for (int i = 0; i < 50; ++i) many.push_back(A("web-" + std::to_string(i)));
  s->SetDesired(many);
  s->Tick();
  ASSERT_EQ(launcher_.launched.size(), 50u);
  EXPECT_LE(launcher_.sample_calls, 1);
  const int after_launch = launcher_.sample_calls;
  for (int i = 0; i < 9; ++i) {
    clock_.Advance(100);
    s->Tick();
  }
  EXPECT_EQ(launcher_.sample_calls, after_launch);
  clock_.Advance(100);
  s->Tick();
  EXPECT_EQ(launcher_.sample_calls, after_launch + 1);
  EXPECT_LE(s->NextTickDelayMs(), Supervisor::kHousekeepingIntervalMs);
}

// A cold start's path has no pass over /proc: not in the Tick that launches (here it also
// finds the instance Ready), not in the Tick that reports a change, not while an instance
// waits for its first ready probe; the round comes kQuietAfterChangeMs after the change.
TEST_F(SupervisorTest, NoSamplingRoundOnAColdStartsPath) {
  auto s = Make();
  s->Tick();              // no instance: nothing to sample
  clock_.Advance(60000);  // idle for a minute: the next round is long overdue
  listening_.insert("web-1");
  s->SetDesired({A("web-1")});
  EXPECT_TRUE(s->Tick());
  ASSERT_EQ(launcher_.launched.size(), 1u);
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kReady);
  EXPECT_EQ(launcher_.sample_calls, 0);
  EXPECT_LE(s->NextTickDelayMs(), Supervisor::kQuietAfterChangeMs);
  clock_.Advance(Supervisor::kQuietAfterChangeMs - 1);
  EXPECT_FALSE(s->Tick());
  EXPECT_EQ(launcher_.sample_calls, 0);
  clock_.Advance(1);
  s->Tick();
  EXPECT_EQ(launcher_.sample_calls, 1);

  // An instance that takes its time to listen holds the round back, at most a period.
  s->SetDesired({A("web-1"), A("web-2")});
  clock_.Advance(Supervisor::kHousekeepingIntervalMs);
  s->Tick();  // launches web-2
  const int before = launcher_.sample_calls;
  for (int i = 0; i < 9; ++i) {
    clock_.Advance(Supervisor::kHousekeepingIntervalMs / 10);
    s->Tick();
    EXPECT_EQ(Get(*s, "web-2").state, InstanceState::kStarting);
  }
  EXPECT_EQ(launcher_.sample_calls, before);
  clock_.Advance(Supervisor::kHousekeepingIntervalMs / 10);
  s->Tick();
  EXPECT_EQ(launcher_.sample_calls, before + 1);
}

// A report may wait up to kReportHoldMs after a launch for the instance's readiness (so a cold
// start is reported once, Ready); none once it is ready, or after the hold.
TEST_F(SupervisorTest, AReportWaitsBrieflyForAFreshStartsReadiness) {
  auto s = Make();
  EXPECT_EQ(s->ReportHoldMs(), 0);
  s->SetDesired({A("web-1"), A("web-2")});
  s->Tick();
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kStarting);
  EXPECT_EQ(s->ReportHoldMs(), Supervisor::kReportHoldMs);
  clock_.Advance(5);
  EXPECT_EQ(s->ReportHoldMs(), Supervisor::kReportHoldMs - 5);
  listening_ = {"web-1", "web-2"};
  s->Tick();
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kReady);
  EXPECT_EQ(s->ReportHoldMs(), 0);
  // A restart that takes its time to listen holds reports no longer than kReportHoldMs.
  listening_.erase("web-2");
  Crash(*s, "web-2");
  clock_.Advance(60000);  // past the restart backoff
  s->Tick();
  ASSERT_EQ(Get(*s, "web-2").state, InstanceState::kStarting);
  EXPECT_EQ(s->ReportHoldMs(), Supervisor::kReportHoldMs);
  clock_.Advance(Supervisor::kReportHoldMs);
  s->Tick();
  EXPECT_EQ(s->ReportHoldMs(), 0);
}

TEST_F(SupervisorTest, AFreshStartIsProbedFasterThanTheMillisecondTick) {
  auto s = Make();
  EXPECT_FALSE(s->FastProbing());
  s->SetDesired({A("web-1")});
  s->Tick();
  ASSERT_EQ(Get(*s, "web-1").state, InstanceState::kStarting);
  EXPECT_TRUE(s->FastProbing());
  // Within the same millisecond a Tick does not probe again, unless DueFastProbes says so.
  const int before = prober_.CountOfType(Probe::Type::kTcp);
  s->Tick();
  EXPECT_EQ(prober_.CountOfType(Probe::Type::kTcp), before);
  s->DueFastProbes();
  listening_.insert("web-1");
  EXPECT_TRUE(s->Tick());
  EXPECT_EQ(prober_.CountOfType(Probe::Type::kTcp), before + 1);
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kReady);
  EXPECT_FALSE(s->FastProbing()) << "ready: nothing left to look for";
}

TEST_F(SupervisorTest, FastProbingIsForAFewFreshTcpProbedStartsOnly) {
  auto s = Make();
  InstanceAssignment exec = A("exec-1");
  Probe p;
  p.type = Probe::Type::kExec;
  p.exec = {"true"};
  exec.spec.mut().readiness = p;
  s->SetDesired({exec});
  s->Tick();
  EXPECT_FALSE(s->FastProbing()) << "an exec probe is a process: never at 100 us";
  // A burst of launches keeps the millisecond cadence.
  std::vector<InstanceAssignment> many;
  for (int i = 0; i <= Supervisor::kFastProbeMax; ++i)
    many.push_back(A("web-" + std::to_string(i)));
  s->SetDesired(many);
  s->Tick();
  EXPECT_FALSE(s->FastProbing());
  // One slow to listen: fast only within the window after its start.
  auto one = Make(20100, 20199);
  one->SetDesired({A("slow-1")});
  one->Tick();
  EXPECT_TRUE(one->FastProbing());
  clock_.Advance(Supervisor::kFastProbeWindowMs);
  one->Tick();
  EXPECT_FALSE(one->FastProbing());
  EXPECT_EQ(Get(*one, "slow-1").state, InstanceState::kStarting);
}

TEST_F(SupervisorTest, ARestartMovesOffAPortAnotherProcessTook) {
  std::set<int> busy;
  SupervisorOptions o = Options();
  o.port_is_free = [&busy](int p) { return busy.count(p) == 0; };
  Supervisor s(o, clock_, launcher_, prober_, *logs_);
  s.SetDesired({A("web-1")});
  s.Tick();
  const int first = Get(s, "web-1").port;
  ASSERT_GT(first, 0);
  Crash(s, "web-1");
  clock_.Advance(60000);  // past the restart backoff
  s.Tick();
  EXPECT_EQ(Get(s, "web-1").port, first) << "its own port, free again, is kept";
  busy.insert(first);  // another process listens there now
  Crash(s, "web-1");
  clock_.Advance(60000);
  s.Tick();
  const InstanceStatus st = Get(s, "web-1");
  EXPECT_EQ(st.state, InstanceState::kStarting);
  EXPECT_NE(st.port, first);
  EXPECT_EQ(launcher_.Last().spec.env.at("PORT"), std::to_string(st.port));
}

TEST_F(SupervisorTest, SavesALaunchAtOnceAndAReadinessChangeWithinASecond) {
  auto read_state = [&] {  // the snapshot and its journal (agent/state_store.h)
    std::stringstream text;
    for (const char* f : {"/instances.json", "/instances.journal"}) {
      std::ifstream in(dir_ + f);
      text << in.rdbuf();
    }
    return text.str();
  };
  auto s = Make();
  s->SetDesired({A("web-1")});
  s->Tick();
  const int pid = Get(*s, "web-1").pid;
  // The pid is what re-adoption needs: on disk in the launching Tick.
  EXPECT_NE(read_state().find("\"pid\":" + std::to_string(pid)), std::string::npos);
  EXPECT_EQ(read_state().find("\"state\":\"Ready\""), std::string::npos);
  listening_.insert("web-1");
  clock_.Advance(1);
  EXPECT_TRUE(s->Tick());  // reported at once...
  ASSERT_EQ(Get(*s, "web-1").state, InstanceState::kReady);
  // ...and saved no later than a second after the previous save.
  ASSERT_LE(s->NextTickDelayMs(), Supervisor::kHousekeepingIntervalMs);
  clock_.Advance(Supervisor::kHousekeepingIntervalMs);
  s->Tick();
  EXPECT_NE(read_state().find("\"state\":\"Ready\""), std::string::npos);
}

// Dropping an instance changes no field of the others: that it is gone is itself what the
// report and the save must carry, in the Tick that drops it.
TEST_F(SupervisorTest, ADroppedInstanceIsReportedAndSavedAtOnce) {
  auto saved_ids = [&] {
    AgentState st;
    EXPECT_TRUE(FileStateStore(dir_).Load(&st).ok());
    std::vector<std::string> ids;
    for (const auto& r : st.instances) ids.push_back(r.assignment.id);
    return ids;
  };
  auto s = Make();
  listening_.insert("web-1");
  listening_.insert("web-2");
  s->SetDesired({A("web-1"), A("web-2")});
  s->Tick();
  clock_.Advance(Supervisor::kHousekeepingIntervalMs);
  s->Tick();
  ASSERT_EQ(s->Statuses().size(), 2u);
  ASSERT_EQ(saved_ids(), (std::vector<std::string>{"web-1", "web-2"}));
  clock_.Advance(1);
  EXPECT_FALSE(s->Tick());  // nothing new
  s->SetDesired({A("web-2")});
  // SIGTERM; the fake process exits at once, and the Tick that sees it drops the instance.
  for (int i = 0; i < 10 && s->Statuses().size() == 2u; ++i) {
    const bool changed = s->Tick();
    if (s->Statuses().size() == 1u) {
      EXPECT_TRUE(changed) << "the drop was not reported";
    }
    clock_.Advance(1);
  }
  ASSERT_EQ(s->Statuses().size(), 1u);
  EXPECT_EQ(saved_ids(), (std::vector<std::string>{"web-2"}));  // saved in that Tick
  clock_.Advance(1);
  EXPECT_FALSE(s->Tick());  // said once
}

TEST_F(SupervisorTest, PersistsRecordsAndRestoreReadoptsLiveProcesses) {
  listening_.insert("web-1");
  int live_pid = 0, dead_pid = 0, port = 0;
  {
    auto s = Make();
    s->SetDesired({A("web-1"), A("web-2")});
    s->Tick();
    live_pid = Get(*s, "web-1").pid;
    dead_pid = Get(*s, "web-2").pid;
    port = Get(*s, "web-1").port;
    ASSERT_EQ(Get(*s, "web-1").state, InstanceState::kReady);
  }
  {
    std::ifstream in(dir_ + "/instances.json");
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_NE(text.str().find("\"pid\":" + std::to_string(live_pid)), std::string::npos);
  }
  launcher_.Exit(dead_pid, {-1, SIGKILL, false});  // died while the agent was down

  auto s = Make();
  ASSERT_TRUE(s->Restore().ok());
  ASSERT_EQ(s->Statuses().size(), 2u);
  InstanceStatus live = Get(*s, "web-1");
  EXPECT_EQ(live.pid, live_pid);
  EXPECT_EQ(live.port, port);
  EXPECT_EQ(live.state, InstanceState::kReady);
  EXPECT_EQ(Get(*s, "web-2").state, InstanceState::kPending);
  EXPECT_EQ(Get(*s, "web-2").reason, "Error");
  EXPECT_EQ(Get(*s, "web-2").last_signal, SIGKILL);  // reaped: its real end is known
  EXPECT_TRUE(launcher_.Get(dead_pid).reaped);

  s->Tick();  // before SetDesired: restored instances count as desired
  EXPECT_EQ(launcher_.launched.size(), 2u);
  s->SetDesired({A("web-1"), A("web-2")});
  clock_.Advance(1000);
  s->Tick();
  EXPECT_EQ(launcher_.launched.size(), 3u);  // only the dead one started again
  EXPECT_EQ(Get(*s, "web-1").pid, live_pid);
  EXPECT_EQ(Get(*s, "web-2").restarts, 1);
  EXPECT_EQ(launcher_.SignalCount(live_pid, SIGTERM), 0);  // re-adopted, never disturbed
  EXPECT_EQ(launcher_.SignalCount(live_pid, SIGKILL), 0);
}

// An agent upgraded in place finds the file its previous version wrote, each record with its
// assignment inline (no "specs" table); it re-adopts from it all the same.
TEST_F(SupervisorTest, RestoreReadsTheInlineFileOfEarlierVersions) {
  listening_.insert("web-1");
  int pid = 0;
  {
    auto s = Make();
    s->SetDesired({A("web-1")});
    s->Tick();
    pid = Get(*s, "web-1").pid;
  }
  json doc;
  {
    std::ifstream in(dir_ + "/instances.json");
    doc = json::parse(in);
  }
  ASSERT_TRUE(doc.contains("specs"));
  for (json& rec : doc["instances"]) {
    json a = doc["specs"].at(rec.at("specRef").get<size_t>());
    a["id"] = rec["id"];
    rec["assignment"] = a;
    rec.erase("specRef");
    rec.erase("id");
  }
  doc.erase("specs");
  std::ofstream(dir_ + "/instances.json", std::ios::trunc) << doc.dump();

  auto s = Make();
  ASSERT_TRUE(s->Restore().ok());
  ASSERT_EQ(s->Statuses().size(), 1u);
  EXPECT_EQ(Get(*s, "web-1").pid, pid);
  EXPECT_EQ(Get(*s, "web-1").state, InstanceState::kReady);
  EXPECT_EQ(launcher_.launched.size(), 1u);
}

TEST_F(SupervisorTest, RestoreWithNoFileIsEmptyAndBadFileIsAnError) {
  auto s = Make();
  EXPECT_TRUE(s->Restore().ok());
  EXPECT_TRUE(s->Statuses().empty());
  std::ofstream(dir_ + "/instances.json") << "{not json";
  auto s2 = Make();
  EXPECT_FALSE(s2->Restore().ok());
}

// Through the StateStore seam: a failed save is retried a second later (the launch's pid
// reaches the store then), and a store whose state cannot be read fails Restore.
TEST_F(SupervisorTest, FailedSavesAreRetriedAndUnreadableStateFailsRestore) {
  MemoryStateStore store;
  SupervisorOptions o;
  o.node = "node-a";
  o.store = &store;
  o.agent_env = StringMap{};
  o.port_is_free = [](int) { return true; };
  {
    Supervisor s(o, clock_, launcher_, prober_, *logs_);
    store.FailSaves(1, Status::Internal("disk full"));
    s.SetDesired({A("web-1")});
    s.Tick();
    EXPECT_EQ(store.saves(), 0);
    EXPECT_TRUE(s.Statuses().empty());  // launched, not recorded: not reported until saved
    EXPECT_EQ(s.StatePath(), "memory");
    clock_.Advance(Supervisor::kHousekeepingIntervalMs);
    s.Tick();
    ASSERT_EQ(store.saves(), 1);
    ASSERT_EQ(store.saved()->instances.size(), 1u);
    EXPECT_EQ(store.saved()->instances[0].status.pid, Get(s, "web-1").pid);
    EXPECT_EQ(store.saved()->instances[0].phase, InstancePhase::kRunning);
    EXPECT_EQ(store.saved()->node, "node-a");
  }
  store.Corrupt();
  Supervisor s(o, clock_, launcher_, prober_, *logs_);
  EXPECT_FALSE(s.Restore().ok());
  EXPECT_TRUE(s.Statuses().empty());
}

TEST_F(SupervisorTest, NextTickDelayIsShortWhileStartingAndLongWhenIdle) {
  auto s = Make();
  // No instance: nothing to sample or probe, so no wake-up until told otherwise (issue 13).
  EXPECT_TRUE(s->Idle());
  EXPECT_EQ(s->NextTickDelayMs(), Supervisor::kIdleTickDelayMs);
  s->SetDesired({A("web-1")});
  EXPECT_EQ(s->NextTickDelayMs(), 0);
  s->Tick();
  EXPECT_LE(s->NextTickDelayMs(), 2);
  listening_.insert("web-1");
  clock_.Advance(1);
  s->Tick();
  // Ready: the sampling round the start held back comes once the report had its moment.
  EXPECT_EQ(s->NextTickDelayMs(), Supervisor::kQuietAfterChangeMs);
  clock_.Advance(Supervisor::kQuietAfterChangeMs);
  s->Tick();
  EXPECT_GE(s->NextTickDelayMs(), 100);
  EXPECT_LE(s->NextTickDelayMs(), Supervisor::kMaxTickDelayMs);
}

TEST_F(SupervisorTest, UnwritableDataDirDoesNotSpin) {
  std::ofstream(dir_ + "/a-file") << "x";
  SupervisorOptions o;
  o.node = "node-a";
  o.data_dir = dir_ + "/a-file";  // a file, not a directory: every persist fails
  o.agent_env = StringMap{};
  o.port_is_free = [](int) { return true; };
  Supervisor s(o, clock_, launcher_, prober_, *logs_);
  listening_.insert("web-1");
  s.SetDesired({A("web-1")});
  s.Tick();
  EXPECT_TRUE(s.Statuses().empty());  // running, but never recorded: never reported
  // Retried later, not in a busy loop (the first wake-up is the sampling round, held back
  // while the launch is reported).
  EXPECT_GE(s.NextTickDelayMs(), Supervisor::kQuietAfterChangeMs);
}

// A listening socket on 127.0.0.1:port.
int ListenOn(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || ::listen(fd, 8) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(SupervisorTest, RealProberSeesARealListenerAsReady) {
  RealProber real(1);
  // Real port checks: the allocator only hands out a port nothing on the host uses.
  SupervisorOptions o;
  o.node = "node-a";
  o.port_lo = 39100;
  o.port_hi = 39199;
  o.agent_env = StringMap{};
  Supervisor s(o, clock_, launcher_, real, *logs_);
  s.SetDesired({A("web-1")});
  s.Tick();
  const int port = Get(s, "web-1").port;
  ASSERT_GT(port, 0);
  clock_.Advance(1);
  s.Tick();
  EXPECT_EQ(Get(s, "web-1").state, InstanceState::kStarting);
  const int fd = ListenOn(port);
  ASSERT_GE(fd, 0);
  bool ready = false;
  for (int i = 0; i < 1000 && !ready; ++i) {  // loopback TCP answers within a tick or two
    clock_.Advance(1);
    s.Tick();
    ready = Get(s, "web-1").state == InstanceState::kReady;
  }
  ::close(fd);
  EXPECT_TRUE(ready);
}

}  // namespace
}  // namespace tide
