#include "daemon/server/front_door.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "daemon/gateway/loopback_testutil.h"

namespace tide {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

bool Send(int fd, const std::string& s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

// Reads until the peer closes or `within` passes; *closed tells which.
std::string ReadAll(int fd, std::chrono::milliseconds within, bool* closed) {
  std::string out;
  *closed = false;
  const auto deadline = Clock::now() + within;
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      *closed = true;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class FrontDoorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Two backend workers only: anything that held one for long would show at once.
    backend_.new_task_queue = [] { return new httplib::ThreadPool(2); };
    backend_.Get("/hello", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content("hello " + req.get_header_value("X-Name") + "\n", "text/plain");
    });
    backend_.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.status = 201;
      res.set_content(req.body, "application/json");
    });
    backend_.Get("/stream", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
        if (offset >= 3 * 6) {
          sink.done();
          return true;
        }
        std::this_thread::sleep_for(50ms);  // a slow producer, like a followed log
        sink.write("chunk\n", 6);
        return true;
      });
    });
    // Held until release_ (or 5 s): a long-poll or watch, for the lane limits.
    backend_.Get("/hold", [this](const httplib::Request&, httplib::Response& res) {
      const auto until = Clock::now() + 5s;
      while (!release_.load() && Clock::now() < until) std::this_thread::sleep_for(5ms);
      res.set_content("held\n", "text/plain");
    });
    backend_.Get("/secret", [this](const httplib::Request&, httplib::Response& res) {
      ++secret_hits_;
      res.set_content("secret", "text/plain");
    });
    backend_port_ = backend_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(backend_port_, 0);
    backend_thread_ = std::thread([this] { backend_.listen_after_bind(); });
    // httplib's stop() does nothing until the listen loop runs: wait for it.
    const auto deadline = Clock::now() + 5s;
    while (!backend_.is_running() && Clock::now() < deadline) std::this_thread::yield();
    ASSERT_TRUE(backend_.is_running());
  }
  void TearDown() override {
    release_ = true;
    if (front_) front_->Stop();
    backend_.stop();
    backend_thread_.join();
  }

  void StartFront(FrontDoorOptions o = {}) {
    o.listen = "127.0.0.1:0";
    o.backend_port = backend_port_;
    for (auto& l : o.lanes)
      if (l.backend_port == 0) l.backend_port = backend_port_;
    if (o.header_timeout_ms == 10000) o.header_timeout_ms = 400;
    front_ = std::make_unique<FrontDoor>(o);
    ASSERT_TRUE(front_->Start().ok());
  }

  httplib::Server backend_;
  std::atomic<bool> release_{false};
  std::atomic<int> secret_hits_{0};
  int backend_port_ = 0;
  std::thread backend_thread_;
  std::unique_ptr<FrontDoor> front_;
};

// Lane 0 for clients, lane 1 (an agent lane) for requests with `Authorization: agent`.
void WithAgentLane(FrontDoorOptions* o) {
  FrontDoorLane agents;
  agents.agent = true;
  o->lanes = {FrontDoorLane{}, agents};
  o->admit = [](const FrontDoorRequest& r) {
    FrontDoorAdmission a;
    a.lane = r.authorization == "agent" ? 1 : 0;
    return a;
  };
}

TEST_F(FrontDoorTest, PassesCompleteRequestsAndAnswersThrough) {
  StartFront();
  httplib::Client cli("127.0.0.1", front_->port());
  auto r = cli.Get("/hello", {{"X-Name", "tide"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello tide\n");
  auto p = cli.Post("/echo", R"({"a":1})", "application/json");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 201);
  EXPECT_EQ(p->body, R"({"a":1})");
  auto s = cli.Get("/stream");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->body, "chunk\nchunk\nchunk\n");
}

TEST_F(FrontDoorTest, SlowLorisClientsNeverReachTheBackendAndAreCutOff) {
  StartFront();
  // Ten clients trickle a request head one byte at a time, well inside any per-read timeout.
  std::vector<int> slow;
  for (int i = 0; i < 10; ++i) {
    int fd = ConnectLoopback(front_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(Send(fd, "GET /hello HTTP/1.1\r\n"));
    slow.push_back(fd);
  }
  // Meanwhile the API answers (the backend has 2 workers: each slow client would hold one).
  httplib::Client cli("127.0.0.1", front_->port());
  cli.set_read_timeout(2, 0);
  for (int i = 0; i < 5; ++i) {
    for (int fd : slow) Send(fd, "X");
    auto r = cli.Get("/hello");
    ASSERT_TRUE(r) << "API did not answer while slow clients trickle";
    EXPECT_EQ(r->status, 200);
  }
  // Each slow client is disconnected once its head is overdue (400 ms), without an answer.
  const auto start = Clock::now();
  for (int fd : slow) {
    bool closed = false;
    std::string got = ReadAll(fd, 3s, &closed);
    EXPECT_TRUE(closed);
    EXPECT_EQ(got, "");
    ::close(fd);
  }
  EXPECT_LT(Clock::now() - start, 3s);
}

TEST_F(FrontDoorTest, OversizedHeadAndBodyAreRefused) {
  FrontDoorOptions o;
  o.max_header_bytes = 1024;
  o.max_body_bytes = 100;
  StartFront(o);
  int fd = ConnectLoopback(front_->port());
  ASSERT_TRUE(Send(fd, "GET /hello HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n"));
  bool closed = false;
  std::string got = ReadAll(fd, 2s, &closed);
  EXPECT_NE(got.find("431"), std::string::npos) << got;
  ::close(fd);

  // The body's declared length is refused before the body is sent.
  fd = ConnectLoopback(front_->port());
  ASSERT_TRUE(Send(fd, "POST /echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n"));
  got = ReadAll(fd, 2s, &closed);
  EXPECT_NE(got.find("413"), std::string::npos) << got;
  EXPECT_NE(got.find("PayloadTooLarge"), std::string::npos) << got;
  ::close(fd);
}

TEST_F(FrontDoorTest, ANewConnectionEvictsTheOldestThatHasNotSentItsHead) {
  FrontDoorOptions o;
  o.max_connections = 3;        // also the pending bound
  o.header_timeout_ms = 60000;  // the idle ones would not time out during the test
  StartFront(o);
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(ConnectLoopback(front_->port()));
    ASSERT_TRUE(Send(idle.back(), "GET /hel"));  // half a head, never finished
  }
  const auto deadline = Clock::now() + 2s;
  while (front_->open_connections() < 3 && Clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(front_->open_connections(), 3);
  // A client that sends its head at once is served, and the oldest half-sent one is gone.
  httplib::Client cli("127.0.0.1", front_->port());
  auto r = cli.Get("/hello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(front_->evicted(), 1);
  bool closed = false;
  ReadAll(idle[0], 2s, &closed);
  EXPECT_TRUE(closed) << "the oldest pending connection must be closed";
  ReadAll(idle[2], 200ms, &closed);
  EXPECT_FALSE(closed) << "only the oldest is evicted";
  for (int fd : idle) ::close(fd);
}

TEST_F(FrontDoorTest, ARefusedAdmissionIsAnsweredWithoutTheBackend) {
  FrontDoorOptions o;
  o.admit = [](const FrontDoorRequest& r) {
    FrontDoorAdmission a;
    if (r.authorization != "Bearer good") {
      a.status = 401;
      a.code = "Unauthenticated";
      a.message = "no valid token";
    }
    return a;
  };
  StartFront(o);
  // A body announced but never sent: the refusal does not wait for it.
  int fd = ConnectLoopback(front_->port());
  ASSERT_TRUE(Send(fd, "POST /secret HTTP/1.1\r\nContent-Length: 100\r\n\r\n"));
  bool closed = false;
  std::string got = ReadAll(fd, 2s, &closed);
  EXPECT_NE(got.find("401"), std::string::npos) << got;
  EXPECT_NE(got.find("Unauthenticated"), std::string::npos) << got;
  ::close(fd);
  httplib::Client cli("127.0.0.1", front_->port());
  auto r = cli.Get("/secret", httplib::Headers{{"Authorization", "Bearer good"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(secret_hits_.load(), 1);
}

TEST_F(FrontDoorTest, PerPrincipalLaneCapIsA429WithRetryAfter) {
  FrontDoorOptions o;
  FrontDoorLane held;
  held.max_inflight = 10;
  held.max_per_principal = 1;
  o.lanes = {FrontDoorLane{}, held};
  o.admit = [](const FrontDoorRequest& r) {
    FrontDoorAdmission a;
    a.lane = r.target.rfind("/hold", 0) == 0 ? 1 : 0;
    a.principal = r.authorization;
    return a;
  };
  StartFront(o);
  // A held request of token A takes its one slot in lane 1.
  int fd = ConnectLoopback(front_->port());
  ASSERT_TRUE(Send(fd, "GET /hold HTTP/1.1\r\nAuthorization: A\r\n\r\n"));
  httplib::Client cli("127.0.0.1", front_->port());
  const auto deadline = Clock::now() + 2s;
  int status = 0;
  std::string retry;
  do {  // until the held one is admitted (it was sent first, on its own connection)
    auto r = cli.Get("/hold?x", httplib::Headers{{"Authorization", "A"}});
    ASSERT_TRUE(r);
    status = r->status;
    retry = r->get_header_value("Retry-After");
  } while (status == 200 && Clock::now() < deadline);
  EXPECT_EQ(status, 429);
  EXPECT_EQ(retry, "1");
  // A's other lane is free, and so is another token's slot (answered once released).
  auto hello = cli.Get("/hello", httplib::Headers{{"Authorization", "A"}});
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
  release_ = true;
  auto other = cli.Get("/hold", httplib::Headers{{"Authorization", "B"}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  bool closed = false;
  ReadAll(fd, 2s, &closed);
  ::close(fd);
}

TEST_F(FrontDoorTest, AgentLanesHaveTheirOwnBudget) {
  FrontDoorOptions o;
  o.max_connections = 1;
  o.max_pending = 8;
  WithAgentLane(&o);
  StartFront(o);
  // A held client request fills the client budget.
  int fd = ConnectLoopback(front_->port());
  ASSERT_TRUE(Send(fd, "GET /hold HTTP/1.1\r\n\r\n"));
  httplib::Client cli("127.0.0.1", front_->port());
  const auto deadline = Clock::now() + 2s;
  int status = 0;
  std::string retry;
  do {  // until the held one is admitted
    auto r = cli.Get("/hello");
    ASSERT_TRUE(r);
    status = r->status;
    retry = r->get_header_value("Retry-After");
  } while (status == 200 && Clock::now() < deadline);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(retry, "1");
  auto agent = cli.Get("/hello", httplib::Headers{{"Authorization", "agent"}});
  ASSERT_TRUE(agent);
  EXPECT_EQ(agent->status, 200);
  release_ = true;
  bool closed = false;
  ReadAll(fd, 2s, &closed);
  ::close(fd);
}

TEST_F(FrontDoorTest, AKeptAgentConnectionIsNotEvictedByAFloodOfHalfSentRequests) {
  FrontDoorOptions o;
  o.max_connections = 4;  // also the pending bound
  o.header_timeout_ms = 60000;
  WithAgentLane(&o);
  StartFront(o);
  // An agent and a client each keep their connection alive after one request.
  const std::string keep = "Connection: keep-alive\r\n\r\n";
  int agent = ConnectLoopback(front_->port());
  int client = ConnectLoopback(front_->port());
  bool closed = false;
  ASSERT_TRUE(Send(agent, "GET /hello HTTP/1.1\r\nAuthorization: agent\r\n" + keep));
  ASSERT_NE(ReadAll(agent, 300ms, &closed).find("200 OK"), std::string::npos);
  ASSERT_FALSE(closed);
  ASSERT_TRUE(Send(client, "GET /hello HTTP/1.1\r\n" + keep));
  ASSERT_NE(ReadAll(client, 300ms, &closed).find("200 OK"), std::string::npos);
  ASSERT_FALSE(closed);
  // A flood of half-sent heads, several times the pending bound.
  std::vector<int> flood;
  for (int i = 0; i < 12; ++i) {
    flood.push_back(ConnectLoopback(front_->port()));
    ASSERT_TRUE(Send(flood.back(), "GET /hel"));
  }
  const auto deadline = Clock::now() + 2s;
  while (front_->evicted() < 9 && Clock::now() < deadline) std::this_thread::yield();
  EXPECT_GE(front_->evicted(), 9);
  // The client's idle connection was pending like the flood, and is gone; the agent's is not.
  ReadAll(client, 500ms, &closed);
  EXPECT_TRUE(closed) << "an idle client connection is pending and evicted first";
  ASSERT_TRUE(Send(agent, "GET /hello HTTP/1.1\r\nAuthorization: agent\r\n" + keep));
  const std::string again = ReadAll(agent, 500ms, &closed);
  EXPECT_NE(again.find("200 OK"), std::string::npos) << again;
  EXPECT_FALSE(closed);
  ::close(agent);
  ::close(client);
  for (int fd : flood) ::close(fd);
}

TEST_F(FrontDoorTest, RateOverTheLimitIsA429) {
  FrontDoorOptions o;
  o.rate_per_principal = 5;  // burst 10
  o.admit = [](const FrontDoorRequest&) {
    FrontDoorAdmission a;
    a.principal = "t";
    return a;
  };
  StartFront(o);
  httplib::Client cli("127.0.0.1", front_->port());
  int ok = 0, limited = 0;
  for (int i = 0; i < 30; ++i) {
    auto r = cli.Get("/hello");
    ASSERT_TRUE(r);
    (r->status == 200 ? ok : limited) += 1;
    if (r->status == 429) {
      EXPECT_FALSE(r->get_header_value("Retry-After").empty());
    }
  }
  EXPECT_GE(ok, 10);
  EXPECT_LE(ok, 15) << "30 requests in well under a second at 5/s, burst 10";
  EXPECT_GE(limited, 15);
}

TEST_F(FrontDoorTest, ABackendThatIsDownIsA503) {
  StartFront();
  backend_.stop();
  backend_thread_.join();
  backend_thread_ = std::thread([] {});
  httplib::Client cli("127.0.0.1", front_->port());
  auto r = cli.Get("/hello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
}

TEST_F(FrontDoorTest, AnInProcessLaneAnswersWithoutABackendOrAThread) {
  // Lane 1 answers in the front door: each request waits on a timer (as a long-poll does), and
  // many wait at once on the front door's one thread.
  FrontDoorOptions o;
  FrontDoorLane waits;
  waits.serve = [](FrontDoorCall c) -> boost::asio::awaitable<FrontDoorAnswer> {
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, 300ms);
    co_await t.async_wait(boost::asio::use_awaitable);
    FrontDoorAnswer a;
    a.status = 202;
    a.content_type = "text/plain";
    a.body =
        c.method + " " + c.target + " " + c.principal + " " + c.Header("x-name") + " " + c.body;
    a.headers.emplace_back("ETag", "\"e\"");
    co_return a;
  };
  o.lanes = {FrontDoorLane{}, waits};
  o.admit = [](const FrontDoorRequest& r) {
    FrontDoorAdmission a;
    if (r.authorization.empty()) {
      a.status = 401;
      a.code = "Unauthorized";
      a.message = "no token";
    }
    a.lane = r.target.rfind("/wait", 0) == 0 ? 1 : 0;
    a.principal = r.authorization;
    return a;
  };
  StartFront(o);
  std::vector<int> fds;
  for (int i = 0; i < 100; ++i) {
    fds.push_back(ConnectLoopback(front_->port()));
    ASSERT_TRUE(Send(fds.back(),
                     "POST /wait?i=1 HTTP/1.1\r\nAuthorization: T\r\nX-Name: tide\r\n"
                     "Content-Length: 2\r\n\r\nhi"));
  }
  const auto t0 = Clock::now();
  for (int fd : fds) {
    bool closed = false;
    const std::string got = ReadAll(fd, 5s, &closed);
    ::close(fd);
    ASSERT_NE(got.find("HTTP/1.1 202"), std::string::npos) << got;
    EXPECT_NE(got.find("ETag: \"e\""), std::string::npos) << got;
    EXPECT_NE(got.find("POST /wait?i=1 T tide hi"), std::string::npos) << got;
  }
  EXPECT_LT(Clock::now() - t0, 3s) << "the waits ran one after another";
  EXPECT_EQ(secret_hits_, 0);
  // No token: the 401 comes from the door, the handler never runs.
  httplib::Client cli("127.0.0.1", front_->port());
  auto r = cli.Post("/wait", "hi", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

}  // namespace
}  // namespace tide
