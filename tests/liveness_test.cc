// Self-awareness before declaring loss (issue 11 part 3), with real processes: tided paused by
// SIGSTOP for twice its node grace, then resumed. It could not hear the agents while paused, so
// no node may go NotReady or Lost and no instance may be restarted or replaced. Run against a
// tided that counts silence from the last heartbeat alone, it fails (both nodes Lost).
#include <gtest/gtest.h>
#include <signal.h>

#include <iostream>
#include <thread>

#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

TEST(LivenessTest, PausedTidedLosesNoNodeAndRestartsNothing) {
  TempDir dir;
  Tided::Options o;
  o.node_grace = "6s";  // NotReady after 3 s of silence, Lost after 6 s
  Tided tided(dir.path(), o);
  int base = ReservePortBlock();
  AgentProc a(dir.path(), tided, "node-a", base, base + 49);
  AgentProc b(dir.path(), tided, "node-b", base + 50, base + 99);
  ASSERT_TRUE(WaitFor(
      [&] {
        return NodeStateOf(tided, "node-a") == "Ready" && NodeStateOf(tided, "node-b") == "Ready";
      },
      10s));
  auto r = tided.Post("/v1/apply", TestappManifest("web", 4));
  ASSERT_EQ(r.status, 200) << r.body;
  std::map<std::string, int> before;
  ASSERT_TRUE(WaitFor(
      [&] {
        before = PidsById(tided.Instances("web"));
        return before.size() == 4;
      },
      20s))
      << tided.Instances("web").dump(2);

  // The agents go quiet first, so no heartbeat sent during the pause waits in a socket to be
  // read the moment tided resumes (that would hide whether tided counts silence it could not
  // hear). They stay quiet for 1 s after tided resumes: well under the 3 s to NotReady.
  ASSERT_EQ(::kill(a.proc()->pid(), SIGSTOP), 0);
  ASSERT_EQ(::kill(b.proc()->pid(), SIGSTOP), 0);
  ASSERT_EQ(::kill(tided.proc()->pid(), SIGSTOP), 0);
  // The pause itself is the scenario: twice the node grace.
  std::this_thread::sleep_for(12s);
  ASSERT_EQ(::kill(tided.proc()->pid(), SIGCONT), 0);
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(::kill(a.proc()->pid(), SIGCONT), 0);
  ASSERT_EQ(::kill(b.proc()->pid(), SIGCONT), 0);

  // For longer than a grace after the resume, both nodes stay Ready at every look.
  const auto until = std::chrono::steady_clock::now() + 7s;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(NodeStateOf(tided, "node-a"), "Ready");
    ASSERT_EQ(NodeStateOf(tided, "node-b"), "Ready");
    std::this_thread::sleep_for(100ms);  // polling pace, not a wait for a condition
  }
  EXPECT_EQ(CountEvents(tided, "", "NodeNotReady"), 0);
  EXPECT_EQ(CountEvents(tided, "", "NodeLost"), 0);
  EXPECT_GE(CountEvents(tided, "", "ControlPlaneStalled"), 1) << "the pause went unnoticed";
  // The same instances, the same processes.
  EXPECT_EQ(PidsById(tided.Instances("web")), before) << tided.Instances("web").dump(2);
  for (const auto& [id, pid] : before) EXPECT_TRUE(PidAlive(pid)) << id;
}

}  // namespace
}  // namespace tide::testing
