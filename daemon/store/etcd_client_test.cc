// EtcdClient and Watch against a real etcd (daemon/store/etcd_testutil.h) on loopback.
#include "daemon/store/etcd_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

#include "daemon/gateway/loopback_testutil.h"
#include "daemon/store/etcd_testutil.h"

namespace tide::etcd {
namespace {

// Waits for pred with a deadline (never a fixed sleep).
bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// A stand-in for etcd's gateway that the test drives by hand: it accepts the watch's
// connections one at a time, reads each request and answers what the test writes.
class FakeGateway {
 public:
  FakeGateway() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::listen(listen_fd_, 8) == 0 &&
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
  }
  ~FakeGateway() {
    Hangup();
    ::close(listen_fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Accepts the next connection and reads one request on it; *body its JSON body. False when
  // none came within 5 s.
  bool NextRequest(nlohmann::json* body) {
    Hangup();
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return false;
    conn_fd_ = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn_fd_ < 0) return false;
    timeval tv{5, 0};
    ::setsockopt(conn_fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string in;
    size_t head_end = std::string::npos, length = 0;
    while (head_end == std::string::npos || in.size() < head_end + 4 + length) {
      char buf[4096];
      const ssize_t n = ::recv(conn_fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      in.append(buf, static_cast<size_t>(n));
      if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
        const size_t at = in.find("Content-Length: ");
        if (at == std::string::npos || at > head_end) return false;
        length = std::stoul(in.substr(at + 16));
      }
    }
    *body = nlohmann::json::parse(in.substr(head_end + 4, length), nullptr, false);
    return body->is_object();
  }
  // Starts a streamed 200 answer whose first line is `line`.
  bool AnswerStream(const std::string& line) {
    std::ostringstream out;
    out << "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        << std::hex << line.size() + 1 << "\r\n"
        << line << "\n\r\n";
    const std::string s = out.str();
    return ::send(conn_fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // Closes the current connection: a stream in progress breaks.
  void Hangup() {
    if (conn_fd_ >= 0) ::close(conn_fd_);
    conn_fd_ = -1;
  }

 private:
  int listen_fd_ = -1;
  int conn_fd_ = -1;
  int port_ = 0;
};

// A watch "from now" that breaks before any event came must resume where it was created, not
// from a new "now": what changed between the creation and the reconnect would be lost. (Against
// a real etcd this raced: a restart right after the creation lost a put made just before it.)
TEST(EtcdWatch, FromNowResumesAtTheRevisionAfterItsCreationWhenTheStreamBreaks) {
  FakeGateway gw;
  EtcdClient::Options o;
  o.endpoints = {gw.url()};
  Watch w(o, "/f/", PrefixEnd("/f/"), 0, [](const std::vector<Event>&, int64_t) {});
  w.Start();
  nlohmann::json req;
  ASSERT_TRUE(gw.NextRequest(&req));
  EXPECT_FALSE(req["create_request"].contains("start_revision")) << req.dump();  // from now
  ASSERT_TRUE(gw.AnswerStream(R"({"result":{"header":{"revision":"7"},"created":true}})"));
  ASSERT_TRUE(Eventually([&] { return w.Created(); }, std::chrono::seconds(5)));
  gw.Hangup();  // etcd went away before revision 8 was delivered

  ASSERT_TRUE(gw.NextRequest(&req));  // the reconnect
  EXPECT_EQ(req["create_request"].value("start_revision", std::string("none")), "8") << req.dump();
  w.Stop();  // breaks the read of the connected stream at once
}

TEST(Base64, RoundTripsEveryLengthAndByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 1) {
    std::string in = all.substr(0, n), out;
    ASSERT_TRUE(Base64Decode(Base64Encode(in), &out)) << n;
    ASSERT_EQ(out, in) << n;
  }
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
}

TEST(Base64, RefusesGarbage) {
  std::string out;
  EXPECT_FALSE(Base64Decode("Zm9", &out));   // bad length
  EXPECT_FALSE(Base64Decode("Zm!v", &out));  // outside the alphabet
  EXPECT_FALSE(Base64Decode("Z=9v", &out));  // padding in the middle
  EXPECT_FALSE(Base64Decode("Zm8=Zm8=", &out));
}

TEST(ParseEtcdUrl, AcceptsListsAndNamesWhatIsWrong) {
  std::vector<std::string> eps;
  ASSERT_TRUE(ParseEtcdUrl("etcd://127.0.0.1:2379,db.example:2380", &eps).ok());
  EXPECT_EQ(eps, (std::vector<std::string>{"http://127.0.0.1:2379", "http://db.example:2380"}));
  Status s = ParseEtcdUrl("http://127.0.0.1:2379", &eps);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not an etcd URL"), std::string::npos);
  s = ParseEtcdUrl("etcd://127.0.0.1:2379,", &eps);
  EXPECT_FALSE(s.ok());
  s = ParseEtcdUrl("etcd://127.0.0.1", &eps);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("127.0.0.1"), std::string::npos);
  EXPECT_FALSE(ParseEtcdUrl("etcd://", &eps).ok());
  EXPECT_FALSE(ParseEtcdUrl("etcd://h:1;rm -rf /", &eps).ok());
}

TEST(PrefixEnd, IsTheNextKeyAfterEveryKeyWithThePrefix) {
  EXPECT_EQ(PrefixEnd("/tide/"), "/tide0");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
}

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.ok()) << etcd_.error();
    EtcdClient::Options o;
    o.endpoints = {etcd_.url()};
    o.timeout_seconds = 3;
    client_ = std::make_unique<EtcdClient>(o);
  }
  TestEtcd etcd_;
  std::unique_ptr<EtcdClient> client_;
};

TEST_F(EtcdClientTest, PutGetRangeDeleteWithBinaryKeysAndValues) {
  const std::string bin_value("a\0b\xff\n", 5);
  int64_t rev = 0;
  ASSERT_TRUE(client_->Put("/t/a", bin_value, 0, &rev).ok());
  EXPECT_GT(rev, 0);
  ASSERT_TRUE(client_->Put("/t/b", "2").ok());
  ASSERT_TRUE(client_->Put("/u/c", "3").ok());

  KeyValue kv;
  bool found = false;
  ASSERT_TRUE(client_->Get("/t/a", &kv, &found).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(kv.value, bin_value);
  EXPECT_EQ(kv.mod_revision, rev);
  EXPECT_EQ(kv.version, 1);

  RangeResult r;
  ASSERT_TRUE(client_->Range("/t/", PrefixEnd("/t/"), &r).ok());
  ASSERT_EQ(r.kvs.size(), 2u);
  EXPECT_EQ(r.kvs[0].key, "/t/a");
  EXPECT_EQ(r.kvs[1].key, "/t/b");
  EXPECT_GE(r.revision, rev);

  int64_t deleted = 0;
  ASSERT_TRUE(client_->Delete("/t/", PrefixEnd("/t/"), &deleted).ok());
  EXPECT_EQ(deleted, 2);
  ASSERT_TRUE(client_->Get("/t/a", &kv, &found).ok());
  EXPECT_FALSE(found);
  ASSERT_TRUE(client_->Get("/u/c", &kv, &found).ok());
  EXPECT_TRUE(found);
}

TEST_F(EtcdClientTest, TxnRunsOneBranchAtomically) {
  TxnResult t;
  // Create-if-missing: the first wins, the second sees the key and reads it instead.
  ASSERT_TRUE(
      client_->Txn({Compare::Missing("/lock")}, {Op::Put("/lock", "me")}, {Op::Range("/lock")}, &t)
          .ok());
  EXPECT_TRUE(t.succeeded);
  const int64_t created = t.revision;
  ASSERT_TRUE(
      client_
          ->Txn({Compare::Missing("/lock")}, {Op::Put("/lock", "other")}, {Op::Range("/lock")}, &t)
          .ok());
  EXPECT_FALSE(t.succeeded);
  ASSERT_EQ(t.ranges.size(), 1u);
  ASSERT_EQ(t.ranges[0].kvs.size(), 1u);
  EXPECT_EQ(t.ranges[0].kvs[0].value, "me");
  EXPECT_EQ(t.ranges[0].kvs[0].create_revision, created);

  // A guarded write: only while /lock is still the one created at `created`.
  ASSERT_TRUE(client_
                  ->Txn({Compare::CreateEquals("/lock", created)},
                        {Op::Put("/data", "1"), Op::Delete("/gone")}, {}, &t)
                  .ok());
  EXPECT_TRUE(t.succeeded);
  ASSERT_TRUE(client_->Delete("/lock").ok());
  ASSERT_TRUE(client_->Put("/lock", "new").ok());
  ASSERT_TRUE(
      client_->Txn({Compare::CreateEquals("/lock", created)}, {Op::Put("/data", "2")}, {}, &t)
          .ok());
  EXPECT_FALSE(t.succeeded);  // the guard saw a new /lock: nothing written
  KeyValue kv;
  bool found = false;
  ASSERT_TRUE(client_->Get("/data", &kv, &found).ok());
  EXPECT_EQ(kv.value, "1");
}

TEST_F(EtcdClientTest, LeaseKeepsKeysAliveUntilRevokedOrExpired) {
  int64_t lease = 0, ttl = 0;
  ASSERT_TRUE(client_->LeaseGrant(2, &lease, &ttl).ok());
  EXPECT_NE(lease, 0);
  EXPECT_EQ(ttl, 2);
  ASSERT_TRUE(client_->Put("/leased", "x", lease).ok());
  int64_t renewed = 0;
  ASSERT_TRUE(client_->LeaseKeepAlive(lease, &renewed).ok());
  EXPECT_GT(renewed, 0);
  KeyValue kv;
  bool found = false;
  ASSERT_TRUE(client_->Get("/leased", &kv, &found).ok());
  EXPECT_TRUE(found);
  EXPECT_EQ(kv.lease, lease);

  ASSERT_TRUE(client_->LeaseRevoke(lease).ok());
  ASSERT_TRUE(client_->Get("/leased", &kv, &found).ok());
  EXPECT_FALSE(found);  // revoking deletes the lease's keys
  ASSERT_TRUE(client_->LeaseKeepAlive(lease, &renewed).ok());
  EXPECT_EQ(renewed, 0);                          // gone: TTL 0
  EXPECT_TRUE(client_->LeaseRevoke(lease).ok());  // revoking twice is fine

  // A key put on a lease that does not exist is refused, naming it.
  Status s = client_->Put("/leased", "y", 12345);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("lease"), std::string::npos) << s.message();

  // Expiry without keepalive. etcd raises a TTL below its minimum (about 2 s here) and checks
  // expiry in rounds; on a loaded machine that takes a while, hence the generous deadline.
  ASSERT_TRUE(client_->LeaseGrant(1, &lease, &ttl).ok());
  EXPECT_GE(ttl, 1);
  ASSERT_TRUE(client_->Put("/short", "x", lease).ok());
  EXPECT_TRUE(Eventually([&] { return client_->Get("/short", &kv, &found).ok() && !found; },
                         std::chrono::seconds(20)));
}

TEST_F(EtcdClientTest, WatchDeliversPutsAndDeletesInOrderFromARevision) {
  int64_t rev0 = 0;
  ASSERT_TRUE(client_->Put("/w/before", "0", 0, &rev0).ok());
  std::mutex mu;
  std::vector<std::pair<Event::Type, std::string>> seen;
  Watch w(client_->options(), "/w/", PrefixEnd("/w/"), rev0,
          [&](const std::vector<Event>& evs, int64_t) {
            std::lock_guard<std::mutex> lock(mu);
            for (const auto& e : evs) seen.emplace_back(e.type, e.kv.key + "=" + e.kv.value);
          });
  w.Start();
  ASSERT_TRUE(client_->Put("/w/a", "1").ok());
  ASSERT_TRUE(client_->Put("/other", "no").ok());
  ASSERT_TRUE(client_->Delete("/w/a").ok());
  auto count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size();
  };
  ASSERT_TRUE(Eventually([&] { return count() >= 3; }, std::chrono::seconds(5)));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].second, "/w/before=0");  // from the start revision on
  EXPECT_EQ(seen[1].first, Event::Type::kPut);
  EXPECT_EQ(seen[1].second, "/w/a=1");
  EXPECT_EQ(seen[2].first, Event::Type::kDelete);
  EXPECT_EQ(seen[2].second, "/w/a=");
}

TEST_F(EtcdClientTest, WatchResumesAfterEtcdRestartsWithoutLosingEvents) {
  std::mutex mu;
  std::vector<std::string> seen;
  std::atomic<int> breaks{0};
  Watch w(
      client_->options(), "/r/", PrefixEnd("/r/"), 0,
      [&](const std::vector<Event>& evs, int64_t) {
        std::lock_guard<std::mutex> lock(mu);
        for (const auto& e : evs) seen.push_back(e.kv.value);
      },
      [&](const Status&, bool) { ++breaks; });
  w.Start();
  ASSERT_TRUE(Eventually([&] { return w.Created(); }, std::chrono::seconds(5)));
  ASSERT_TRUE(client_->Put("/r/k", "1").ok());
  ASSERT_TRUE(etcd_.Restart()) << etcd_.error();
  ASSERT_TRUE(Eventually([&] { return breaks.load() > 0; }, std::chrono::seconds(5)));
  ASSERT_TRUE(client_->Put("/r/k", "2").ok());
  auto size = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size();
  };
  ASSERT_TRUE(Eventually([&] { return size() >= 2; }, std::chrono::seconds(10)));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "2"}));
}

TEST_F(EtcdClientTest, UnreachableEtcdIsUnavailableNamingTheEndpointAndOthersAreTried) {
  EtcdClient::Options o;
  o.endpoints = {"http://127.0.0.1:1", etcd_.url()};  // the first refuses connections
  o.timeout_seconds = 1;
  EtcdClient c(o);
  EXPECT_TRUE(c.Put("/x", "1").ok());  // moved on to the second
  etcd_.Kill();
  Status s = c.Put("/x", "2");
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_NE(s.message().find("etcd at http://127.0.0.1:"), std::string::npos) << s.message();
}

TEST_F(EtcdClientTest, StopEndsAnIdleWatchPromptly) {
  Watch w(client_->options(), "/idle", "", 0, [](const std::vector<Event>&, int64_t) {});
  w.Start();
  ASSERT_TRUE(Eventually([&] { return w.Created(); }, std::chrono::seconds(5)));
  const auto t0 = std::chrono::steady_clock::now();
  w.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

}  // namespace
}  // namespace tide::etcd
