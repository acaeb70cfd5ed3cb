// RouteTable's cold-start phase metric with a fake clock: every cold start observes each phase
// (queued, spawned, ready, first_byte) exactly once and in that order, whatever order and
// stamps the control plane's notes come with.
#include <gtest/gtest.h>

#include <regex>

#include "api/clock.h"
#include "daemon/gateway/gateway_state.h"
#include "daemon/metrics.h"

namespace tide::gw {
namespace {

class NullBackend : public GatewayBackend {
 public:
  std::optional<RouteInfo> Route(const std::string&) override { return RouteInfo{}; }
  void OnLoad(const std::string&, int, int) override {}
};

class ColdStartPhases : public ::testing::Test {
 protected:
  ~ColdStartPhases() override { table_.DropAllWaiters(); }

  // A request arriving now at the workload with no ready endpoint: starts an episode.
  void ArriveCold() {
    Lease lease;
    std::shared_ptr<Waiter> queued;
    auto admit = table_.Acquire(
        "fn", RouteInfo{Kind::kFunction, 1, 30}, 100, clock_.NowMs(),
        [] {
          auto w = std::make_shared<Waiter>();
          w->wake = [] {};
          return w;
        },
        &lease, &queued);
    ASSERT_EQ(admit, RouteTable::Admit::kQueued);
    ASSERT_TRUE(queued && queued->cold);
    arrival_ms_ = clock_.NowMs();
  }

  // sum (ms) and count of tide_cold_start_phase_seconds{phase, workload="fn"}; -1 when absent.
  std::pair<double, double> Phase(const std::string& phase) {
    std::string text = metrics_.Serve();
    auto value = [&](const std::string& suffix) {
      std::smatch m;
      std::regex re("tide_cold_start_phase_seconds_" + suffix + "\\{phase=\"" + phase +
                    "\",workload=\"fn\"\\} ([0-9.eE+-]+)");
      return std::regex_search(text, m, re) ? std::stod(m[1].str()) : -1.0;
    };
    double sum = value("sum");
    return {sum < 0 ? -1 : sum * 1000, value("count")};
  }

  // Asserts one observation per phase and the stamps' order; returns the sums in ms.
  std::vector<double> ExpectOneEachInOrder(double count = 1) {
    std::vector<double> sums;
    for (const char* p : {"queued", "spawned", "ready", "first_byte"}) {
      auto [sum, n] = Phase(p);
      EXPECT_EQ(n, count) << p;
      if (!sums.empty()) {
        EXPECT_LE(sums.back(), sum) << p << " is earlier than the phase before it";
      }
      sums.push_back(sum);
    }
    return sums;
  }

  FakeClock clock_;
  NullBackend backend_;
  Metrics metrics_;
  RouteTable table_{backend_, clock_, &metrics_};
  int64_t arrival_ms_ = 0;
};

TEST_F(ColdStartPhases, InOrderNotesAreObservedAsStamped) {
  ArriveCold();
  table_.NoteInstancePhase("fn", "spawned", arrival_ms_ + 4);
  table_.NoteInstancePhase("fn", "ready", arrival_ms_ + 9);
  clock_.Advance(11);
  table_.NoteColdFirstByte("fn", arrival_ms_);
  auto sums = ExpectOneEachInOrder();
  EXPECT_DOUBLE_EQ(sums[0], 0);
  EXPECT_DOUBLE_EQ(sums[1], 4);
  EXPECT_DOUBLE_EQ(sums[2], 9);
  EXPECT_DOUBLE_EQ(sums[3], 11);
}

// The agent's first report already said Ready (or an earlier one said Pending): no separate
// spawned note came before ready, and a late one must not land after it.
TEST_F(ColdStartPhases, SpawnedNotedAfterReadyIsNotLaterThanReady) {
  ArriveCold();
  table_.NoteInstancePhase("fn", "ready", arrival_ms_ + 16);
  table_.NoteInstancePhase("fn", "spawned", arrival_ms_ + 22);
  clock_.Advance(25);
  table_.NoteColdFirstByte("fn", arrival_ms_);
  auto sums = ExpectOneEachInOrder();
  EXPECT_DOUBLE_EQ(sums[1], 16);
  EXPECT_DOUBLE_EQ(sums[2], 16);
  EXPECT_DOUBLE_EQ(sums[3], 25);
}

TEST_F(ColdStartPhases, SpawnedNeverNotedIsObservedWithReady) {
  ArriveCold();
  table_.NoteInstancePhase("fn", "ready", arrival_ms_ + 12);
  clock_.Advance(13);
  table_.NoteColdFirstByte("fn", arrival_ms_);
  auto sums = ExpectOneEachInOrder();
  EXPECT_DOUBLE_EQ(sums[1], 12);
}

// A stamp from another clock (the agent's start time) may be earlier than the arrival or than
// the phase before it: it never goes below either.
TEST_F(ColdStartPhases, EarlyStampsAreRaisedToThePhaseBefore) {
  ArriveCold();
  table_.NoteInstancePhase("fn", "spawned", arrival_ms_ - 5);
  table_.NoteInstancePhase("fn", "ready", arrival_ms_ + 7);
  clock_.Advance(9);
  table_.NoteColdFirstByte("fn", arrival_ms_);
  auto sums = ExpectOneEachInOrder();
  EXPECT_DOUBLE_EQ(sums[1], 0);
  EXPECT_DOUBLE_EQ(sums[2], 7);

  ArriveCold();
  table_.NoteInstancePhase("fn", "spawned", arrival_ms_ + 6);
  table_.NoteInstancePhase("fn", "ready", arrival_ms_ + 4);
  clock_.Advance(8);
  table_.NoteColdFirstByte("fn", arrival_ms_);
  sums = ExpectOneEachInOrder(2);
  EXPECT_DOUBLE_EQ(sums[1], 6);
  EXPECT_DOUBLE_EQ(sums[2], 7 + 6);
}

// Each episode observes its own phases; notes outside an episode are ignored.
TEST_F(ColdStartPhases, EveryEpisodeObservesEachPhaseOnce) {
  for (int episode = 0; episode < 3; ++episode) {
    ArriveCold();
    table_.NoteInstancePhase("fn", "ready", arrival_ms_ + 3);
    table_.NoteInstancePhase("fn", "ready", arrival_ms_ + 4);  // a second note: ignored
    clock_.Advance(5);
    table_.NoteColdFirstByte("fn", arrival_ms_);
    table_.NoteInstancePhase("fn", "spawned", clock_.NowMs());  // after the episode: ignored
    table_.DropAllWaiters();
  }
  auto sums = ExpectOneEachInOrder(3);
  EXPECT_DOUBLE_EQ(sums[1], 9);
  EXPECT_DOUBLE_EQ(sums[3], 15);
}

}  // namespace
}  // namespace tide::gw
