// Invoker with several members (docs/ha.md): only the member that leads delivers, it picks up
// what another member accepted, and one that stops leading delivers nothing more. A real SQLite
// store shared by two invokers, and a loopback HTTP server in the gateway's place.
#include "daemon/gateway/invoker.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "daemon/store/store.h"

namespace tide {
namespace {

bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

class InvokerMembersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tide-invoker-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ASSERT_TRUE(Store::Open(dir_, SystemClock::Get(), &store_).ok());
    server_.Post(R"(/function/fn/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      delivered_++;
      last_attempt_ = req.get_header_value("X-Tide-Attempt");
      res.set_content("done", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    ASSERT_TRUE(Eventually([&] { return server_.is_running(); }, std::chrono::seconds(5)));
  }
  void TearDown() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<Invoker> Make(std::atomic<bool>* leads) {
    InvokerOptions o;
    o.gateway_url = "http://127.0.0.1:" + std::to_string(port_);
    o.workers = 2;
    o.leads = [leads] { return leads->load(); };
    o.scan_period_ms = 20;
    auto inv = std::make_unique<Invoker>(o, *store_, SystemClock::Get());
    inv->Start();
    return inv;
  }
  std::string State(const std::string& id) {
    Invocation inv;
    return store_->GetInvocation(id, &inv).ok() ? inv.state : "";
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> delivered_{0};
  std::string last_attempt_;
};

TEST_F(InvokerMembersTest, OnlyTheLeaderDeliversWhatAnyMemberAccepted) {
  std::atomic<bool> a_leads{false}, b_leads{false};
  auto a = Make(&a_leads);
  auto b = Make(&b_leads);
  std::string id;
  ASSERT_TRUE(b->Enqueue("fn", AsyncInvocation{"POST", "/x", {}, "job"}, &id).ok());
  EXPECT_EQ(State(id), "Queued");  // acknowledged: stored
  // Nobody leads: nobody delivers (several scan periods).
  EXPECT_FALSE(Eventually([&] { return delivered_.load() > 0; }, std::chrono::milliseconds(300)));
  // a leads: it finds what b accepted and delivers it, once.
  a_leads = true;
  ASSERT_TRUE(Eventually([&] { return State(id) == "Succeeded"; }, std::chrono::seconds(5)));
  EXPECT_EQ(delivered_.load(), 1);
  EXPECT_EQ(last_attempt_, "1");

  // a stops leading: what is accepted now waits for the next leader, b.
  a_leads = false;
  std::string id2;
  ASSERT_TRUE(a->Enqueue("fn", AsyncInvocation{"POST", "/y", {}, "job2"}, &id2).ok());
  EXPECT_FALSE(Eventually([&] { return delivered_.load() > 1; }, std::chrono::milliseconds(300)));
  EXPECT_EQ(State(id2), "Queued");
  b_leads = true;
  ASSERT_TRUE(Eventually([&] { return State(id2) == "Succeeded"; }, std::chrono::seconds(5)));
  EXPECT_EQ(delivered_.load(), 2);
  a->Stop();
  b->Stop();
}

// A member that led and left an invocation Running (it died mid-attempt) is replaced: the next
// leader delivers it again, as attempt 2.
TEST_F(InvokerMembersTest, ANewLeaderResumesWhatTheOldOneLeftRunning) {
  Invocation left{"left-1", "fn", "Running", 1, "{\"method\":\"POST\",\"target\":\"/z\"}\nbody",
                  "",       0,    0};
  ASSERT_TRUE(store_->PutInvocation(left).ok());
  std::atomic<bool> leads{true};
  auto a = Make(&leads);
  ASSERT_TRUE(Eventually([&] { return State("left-1") == "Succeeded"; }, std::chrono::seconds(5)));
  EXPECT_EQ(last_attempt_, "2");
  a->Stop();
}

}  // namespace
}  // namespace tide
