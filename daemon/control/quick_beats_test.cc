#include "daemon/control/quick_beats.h"

#include <gtest/gtest.h>

namespace tide {
namespace {

InstanceStatus Ready(const std::string& id) {
  InstanceStatus st;
  st.id = id;
  st.workload = "web";
  st.node = "n1";
  st.pid = 42;
  st.port = 30001;
  st.state = InstanceState::kReady;
  return st;
}

std::map<std::string, InstanceStatus> Held(std::initializer_list<InstanceStatus> l) {
  std::map<std::string, InstanceStatus> m;
  for (const auto& st : l) m[st.id] = st;
  return m;
}

TEST(QuickBeatsTest, ANodeNotAllowedTakesTheFullPath) {
  QuickBeats b;
  EXPECT_FALSE(b.Take("n1", 2, 1, {}, 100, 1000));
  QuickBeats::Beat beat;
  std::vector<InstanceStatus> samples;
  EXPECT_FALSE(b.Collect("n1", &beat, &samples));
}

TEST(QuickBeatsTest, AnAllowedNodeBeatsOnItsAcknowledgedSeqOnly) {
  QuickBeats b;
  b.Allow("n1", 5, {});
  EXPECT_FALSE(b.Take("n1", 7, 6, {}, 100, 1000));   // a gap: tided never acknowledged 6
  EXPECT_FALSE(b.Take("n1", 6, -1, {}, 100, 1000));  // a complete report is never quick
  EXPECT_FALSE(b.Take("n1", 5, 5, {}, 100, 1000));   // seq must move forward
  EXPECT_TRUE(b.Take("n1", 6, 5, {}, 100, 1000));
  EXPECT_FALSE(b.Take("n1", 7, 5, {}, 200, 2000));  // 5 is no longer the acknowledged seq
  EXPECT_TRUE(b.Take("n1", 7, 6, {}, 300, 3000));
  EXPECT_FALSE(b.Take("n2", 7, 6, {}, 300, 3000));  // another node's seq is not this one's
}

TEST(QuickBeatsTest, NewSamplesAreQuickAndCollectedNewestFirstOnce) {
  QuickBeats b;
  b.Allow("n1", 1, Held({Ready("a"), Ready("b")}));
  InstanceStatus a = Ready("a");
  a.cpu = 0.5;
  a.cpu_seconds_total = 10;
  a.memory_bytes = 1 << 20;
  ASSERT_TRUE(b.Take("n1", 2, 1, {a}, 100, 1000));
  a.cpu_seconds_total = 11;
  ASSERT_TRUE(b.Take("n1", 3, 2, {a}, 250, 2500));
  QuickBeats::Beat beat;
  std::vector<InstanceStatus> samples;
  ASSERT_TRUE(b.Collect("n1", &beat, &samples));
  EXPECT_EQ(beat.at_ms, 250);
  EXPECT_EQ(beat.wall_ms, 2500);
  EXPECT_EQ(beat.seq, 3);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].cpu_seconds_total, 11);
  samples.clear();
  EXPECT_FALSE(b.Collect("n1", &beat, &samples));
  EXPECT_TRUE(samples.empty());
}

TEST(QuickBeatsTest, AnythingButSamplesTakesTheFullPath) {
  QuickBeats b;
  b.Allow("n1", 1, Held({Ready("a")}));
  InstanceStatus changed = Ready("a");
  changed.state = InstanceState::kStarting;
  EXPECT_FALSE(b.Take("n1", 2, 1, {changed}, 100, 1000));
  changed = Ready("a");
  changed.restarts = 1;
  EXPECT_FALSE(b.Take("n1", 2, 1, {changed}, 100, 1000));
  changed = Ready("a");
  changed.pids_enforcer = "rlimit";
  EXPECT_FALSE(b.Take("n1", 2, 1, {changed}, 100, 1000));
  EXPECT_FALSE(b.Take("n1", 2, 1, {Ready("unknown")}, 100, 1000));  // not held: not quick
  // Nothing was acknowledged by the refusals: base 1 still works.
  EXPECT_TRUE(b.Take("n1", 2, 1, {Ready("a")}, 100, 1000));
}

TEST(QuickBeatsTest, ForbidSendsTheNextReportThroughTheFullPathAndDropsItsBeats) {
  QuickBeats b;
  b.Allow("n1", 1, {});
  ASSERT_TRUE(b.Take("n1", 2, 1, {}, 100, 1000));
  b.Forbid("n1");
  QuickBeats::Beat beat;
  std::vector<InstanceStatus> samples;
  EXPECT_FALSE(b.Collect("n1", &beat, &samples));
  EXPECT_FALSE(b.Take("n1", 3, 2, {}, 200, 2000));
  EXPECT_EQ(b.allowed(), 0u);
  b.Allow("n1", 3, {});  // after the full path applied report 3
  EXPECT_TRUE(b.Take("n1", 4, 3, {}, 300, 3000));
}

TEST(QuickBeatsTest, SameButSamplesIgnoresOnlyTheSamples) {
  InstanceStatus a = Ready("a"), b = Ready("a");
  b.cpu = 1;
  b.cpu_seconds_total = 2;
  b.memory_bytes = 3;
  EXPECT_TRUE(SameButSamples(a, b));
  b.message = "x";
  EXPECT_FALSE(SameButSamples(a, b));
}

TEST(QuickBeatsTest, AnArrivalIsHeardWhateverPathTheReportTakes) {
  QuickBeats b;  // n1 is not allowed: its reports take the full path
  QuickBeats::Beat heard;
  EXPECT_FALSE(b.CollectHeard("n1", &heard));
  b.Heard("n1", 100, 1000);
  b.Heard("n1", 90, 900);  // an earlier arrival parsed later never moves it back
  ASSERT_TRUE(b.CollectHeard("n1", &heard));
  EXPECT_EQ(heard.at_ms, 100);
  EXPECT_EQ(heard.wall_ms, 1000);
  EXPECT_FALSE(b.CollectHeard("n1", &heard)) << "collected once";
  EXPECT_FALSE(b.CollectHeard("n2", &heard));
  // Heard says nothing about the report seq: the quick path still needs Allow.
  EXPECT_FALSE(b.Take("n1", 2, 1, {}, 100, 1000));
}

}  // namespace
}  // namespace tide
