// Schedule triggers on a FakeClock's wall time: arming, firing once per match, re-arming on an
// edit, forgetting removed triggers; and a due trigger lands durably in the invoker's store.
#include "daemon/control/triggers.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "api/clock.h"
#include "daemon/gateway/invoker.h"
#include "daemon/store/store.h"

namespace tide {
namespace {

constexpr int64_t kMin = 60000;

class TriggersTest : public ::testing::Test {
 protected:
  // FakeClock's wall time starts mid-minute; move it to the start of the next minute + 1 s.
  void SetUp() override {
    int64_t w = clock_.WallMs();
    clock_.Advance((kMin - w % kMin) + 1000);
  }
  std::vector<TriggerRef> Due(const std::vector<TriggerRef>& t) {
    return schedule_.Due(t, clock_.WallMs());
  }
  FakeClock clock_;
  TriggerSchedule schedule_;
};

TEST_F(TriggersTest, ArmedOnFirstSightFiresOnlyWhenTheMinuteComes) {
  TriggerRef every{"fn", 0, "* * * * *"};
  EXPECT_TRUE(Due({every}).empty());  // applying is not a tick
  EXPECT_EQ(schedule_.NextFire(every), clock_.WallMs() - 1000 + kMin);
  clock_.Advance(kMin - 1000 - 1);  // 1 ms before the minute
  EXPECT_TRUE(Due({every}).empty());
  clock_.Advance(1);
  auto due = Due({every});
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].workload, "fn");
  EXPECT_TRUE(Due({every}).empty());  // once per match
  clock_.Advance(kMin);
  EXPECT_EQ(Due({every}).size(), 1u);
}

TEST_F(TriggersTest, MissedTicksFireOnce) {
  TriggerRef every{"fn", 0, "* * * * *"};
  Due({every});
  clock_.Advance(10 * kMin);
  EXPECT_EQ(Due({every}).size(), 1u);
  EXPECT_TRUE(Due({every}).empty());
}

TEST_F(TriggersTest, OnlyTheDueOnesOfSeveralFire) {
  TriggerRef every{"a", 0, "* * * * *"};
  TriggerRef five{"b", 0, "*/5 * * * *"};
  Due({every, five});
  int fired_b = 0;
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(kMin);
    auto due = Due({every, five});
    bool a = false;
    for (const auto& t : due) {
      if (t.workload == "a") a = true;
      if (t.workload == "b") ++fired_b;
    }
    EXPECT_TRUE(a) << "minute " << i;
  }
  EXPECT_EQ(fired_b, 2);
}

TEST_F(TriggersTest, AnEditedScheduleIsArmedAgainAndARemovedOneForgotten) {
  TriggerRef every{"fn", 0, "* * * * *"};
  Due({every});
  clock_.Advance(kMin);
  TriggerRef hourly{"fn", 0, "0 * * * *"};
  EXPECT_TRUE(Due({hourly}).empty());       // new key: armed, not fired
  EXPECT_EQ(schedule_.NextFire(every), 0);  // the old one is forgotten
  EXPECT_GT(schedule_.NextFire(hourly), clock_.WallMs());
  EXPECT_TRUE(Due({}).empty());
  EXPECT_EQ(schedule_.NextFire(hourly), 0);
}

TEST_F(TriggersTest, InvalidOrImpossibleSchedulesNeverFire) {
  TriggerRef bad{"fn", 0, "61 * * * *"};
  TriggerRef never{"fn", 1, "0 0 31 2 *"};
  Due({bad, never});
  EXPECT_EQ(schedule_.NextFire(bad), 0);
  EXPECT_EQ(schedule_.NextFire(never), -1);
  clock_.Advance(400LL * 24 * 60 * kMin);
  EXPECT_TRUE(Due({bad, never}).empty());
}

TEST(TriggerInvocationTest, PostsToTheFunctionRootMarkedAsASchedule) {
  AsyncInvocation inv = TriggerInvocation();
  EXPECT_EQ(inv.method, "POST");
  EXPECT_EQ(inv.target, "/");
  ASSERT_EQ(inv.headers.size(), 1u);
  EXPECT_EQ(inv.headers[0].first, "X-Tide-Trigger");
  EXPECT_EQ(inv.headers[0].second, "schedule");
  EXPECT_TRUE(inv.body.empty());
}

// Firing enqueues through the invoker: the invocation is stored (Queued) before anything is
// sent, so it survives a restart and is retried like any async invocation.
TEST(TriggerInvocationTest, AFiringIsStoredByTheInvokerBeforeDelivery) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tide-trig-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  FakeClock clock;
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::Open(tmpl, clock, &store).ok());
    Invoker invoker(InvokerOptions{}, *store, clock);  // not started: nothing is delivered
    std::string id;
    ASSERT_TRUE(invoker.Enqueue("fn", TriggerInvocation(), &id).ok());
    EXPECT_FALSE(id.empty());
  }
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(tmpl, clock, &store).ok());
  std::vector<Invocation> queued;
  ASSERT_TRUE(store->ListInvocations("fn", "Queued", &queued).ok());
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_NE(queued[0].request.find("X-Tide-Trigger"), std::string::npos);
  EXPECT_EQ(queued[0].attempts, 0);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace tide
