// The supervisor and the frozen tier (agent/freezer.h): a frozen instance is not probed
// (readiness or liveness) and does not make the supervisor tick; after a thaw probing resumes;
// an instance stopped while frozen is thawed first, so it can act on SIGTERM. The freezer is
// real (the SIGSTOP fallback) on a real child process; launcher and prober are fakes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "agent/fake_launcher.h"
#include "agent/fake_prober.h"
#include "agent/freezer.h"
#include "agent/supervisor.h"

namespace tide {
namespace {

bool Stopped(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.find("State:\tT") != std::string::npos;
}

class SupervisorFreezeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tide-supervisor-freeze-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    logs_ = std::make_unique<LogFiles>(dir_ + "/logs");
    prober_.decide = [](const Probe&, const ProbeTarget&) {
      return std::optional<ProbeResult>(ProbeResult{true, ""});
    };
    SupervisorOptions o;
    o.node = "node-a";
    o.data_dir = dir_;
    o.port_lo = 20000;
    o.port_hi = 20099;
    o.agent_env = StringMap{{"PATH", "/usr/bin:/bin"}};
    o.port_is_free = [](int) { return true; };
    o.freezer = &freezer_;
    sup_ = std::make_unique<Supervisor>(o, clock_, launcher_, prober_, *logs_);
    // The process the freezer stops: a real one in a group of its own (the fake launcher's
    // pids are not real processes).
    child_ = ::fork();
    if (child_ == 0) {
      ::setpgid(0, 0);
      ::pause();
      ::_exit(0);
    }
    ::setpgid(child_, child_);
  }
  void TearDown() override {
    ::kill(child_, SIGKILL);
    ::waitpid(child_, nullptr, 0);
    std::filesystem::remove_all(dir_);
  }
  void TickFor(int64_t ms) {
    for (int64_t t = 0; t < ms; t += 50) {
      clock_.Advance(50);
      sup_->Tick();
    }
  }
  InstanceStatus Status0() { return sup_->Statuses().at(0); }

  std::string dir_;
  FakeClock clock_;
  FakeLauncher launcher_;
  FakeProber prober_;
  std::unique_ptr<LogFiles> logs_;
  InstanceFreezer freezer_{FreezerPaths{}};
  std::unique_ptr<Supervisor> sup_;
  pid_t child_ = 0;
};

TEST_F(SupervisorFreezeTest, FrozenInstanceIsNotProbedAndProbingResumesAfterAThaw) {
  InstanceAssignment a;
  a.id = "fn-1";
  a.workload = "fn";
  a.spec.mut().command = {"server"};
  a.spec.mut().readiness = Probe{};
  a.spec.mut().readiness->period_seconds = 0.2;
  a.spec.mut().liveness = Probe{};
  a.spec.mut().liveness->type = Probe::Type::kExec;
  a.spec.mut().liveness->exec = {"true"};
  a.spec.mut().liveness->period_seconds = 0.2;
  sup_->SetDesired({a});
  TickFor(200);
  ASSERT_EQ(Status0().state, InstanceState::kReady);
  TickFor(1000);
  const size_t before = prober_.submissions.size();
  EXPECT_GT(before, 4u);  // probed while warm

  ASSERT_TRUE(freezer_.Freeze("fn-1", child_).ok());
  sup_->Tick();
  const size_t at_freeze = prober_.submissions.size();
  TickFor(5000);
  EXPECT_EQ(prober_.submissions.size(), at_freeze);  // never probed while frozen
  EXPECT_EQ(Status0().state, InstanceState::kReady);

  ASSERT_TRUE(freezer_.Thaw("fn-1").ok());
  TickFor(500);
  EXPECT_GT(prober_.submissions.size(), at_freeze);  // probing resumed
  EXPECT_GT(prober_.CountOfType(Probe::Type::kExec), 0);
}

TEST_F(SupervisorFreezeTest, StoppingAFrozenInstanceThawsItFirst) {
  InstanceAssignment a;
  a.id = "fn-2";
  a.workload = "fn";
  a.spec.mut().command = {"server"};
  sup_->SetDesired({a});
  TickFor(200);
  ASSERT_EQ(Status0().state, InstanceState::kReady);
  ASSERT_TRUE(freezer_.Freeze("fn-2", child_).ok());
  for (int i = 0; i < 200 && !Stopped(child_); ++i) ::usleep(5000);  // SIGSTOP lands async
  ASSERT_TRUE(Stopped(child_));
  const int fake_pid = Status0().pid;
  sup_->SetDesired({});
  sup_->Tick();
  EXPECT_FALSE(freezer_.IsFrozen("fn-2"));
  // SIGCONT went to its group before SIGTERM: the real process runs again.
  for (int i = 0; i < 200 && Stopped(child_); ++i) ::usleep(5000);
  EXPECT_FALSE(Stopped(child_));
  EXPECT_EQ(launcher_.SignalCount(fake_pid, SIGTERM), 1);
}

}  // namespace
}  // namespace tide
