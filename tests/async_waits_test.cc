// Requests that wait hold no thread (issue 11 part 2), with a real tided: hundreds of agents'
// assignment long-polls and client watches are held at once while tided's thread count stays
// where it was, and one change answers every one of them. And a client without a valid token
// gets its 401 and nothing else: no backend worker, no budget, no watch.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "daemon/gateway/loopback_testutil.h"
#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int PortOf(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

long Threads(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stol(line.substr(8));
  }
  return -1;
}

// Sends a whole request on a new connection; the fd (-1 on failure).
int Send(int port, const std::string& request) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return -1;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string Get(const std::string& target, const std::string& token,
                const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\n" +
         extra + "Connection: close\r\n\r\n";
}

// Whether fd has an answer (any byte) to read now.
bool Answered(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

// The status code of the answer on fd, read until the peer closes (0 on none by the deadline).
int StatusOf(int fd, std::chrono::milliseconds within) {
  std::string got;
  const auto until = Clock::now() + within;
  char buf[4096];
  while (Clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) != 1) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  if (got.rfind("HTTP/1.1 ", 0) != 0 || got.size() < 12) return 0;
  return std::stoi(got.substr(9, 3));
}

TEST(AsyncWaits, HundredsOfLongPollsAndWatchesHoldNoThread) {
  TempDir dir;
  Tided::Options o;
  o.extra_args = {"--api-max-watches",  "400", "--api-max-watches-per-token", "400",
                  "--api-max-per-peer", "2000"};
  Tided tided(dir.path(), o);
  const int port = PortOf(tided.api());
  const pid_t pid = tided.proc()->pid();
  ASSERT_EQ(tided.Post("/v1/apply", TestappManifest("idle", 0)).status, 200);
  HttpResult first = Http("GET", tided.api() + "/v1/workloads/idle", "", Tided::ReadToken());
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string etag = first.headers["ETag"];
  ASSERT_FALSE(etag.empty());

  // 200 nodes join; each then long-polls its (empty, version-known) assignments.
  constexpr int kNodes = 200, kWatches = 300;
  std::vector<std::pair<std::string, std::string>> nodes;  // name, credential
  for (int i = 0; i < kNodes; ++i) {
    const std::string name = "wait-" + std::to_string(i);
    json body = {{"node",
                  {{"name", name},
                   {"address", "127.0.0.1"},
                   {"agentUrl", "http://127.0.0.1:1"},
                   {"capacity", {{"cpu", 8}, {"memory", int64_t{8} << 30}}}}},
                 {"instances", json::array()}};
    HttpResult r =
        Http("POST", tided.api() + "/v1/agent/register", body.dump(), Tided::JoinToken());
    ASSERT_EQ(r.status, 200) << r.body;
    nodes.emplace_back(name, r.Json().value("credential", ""));
  }
  const long threads_before = Threads(pid);
  std::vector<int> polls, watches;
  for (const auto& [name, cred] : nodes) {
    HttpResult now =
        Http("GET", tided.api() + "/v1/agent/assignments?node=" + name + "&waitMs=0", "", cred);
    ASSERT_EQ(now.status, 200) << now.body;
    const int64_t v = now.Json().value("version", int64_t{-1});
    polls.push_back(Send(port, Get("/v1/agent/assignments?node=" + name +
                                       "&after=" + std::to_string(v) + "&waitMs=30000&delta=true",
                                   cred)));
    ASSERT_GE(polls.back(), 0);
  }
  for (int i = 0; i < kWatches; ++i) {
    watches.push_back(Send(port, Get("/v1/workloads/idle?waitMs=30000", Tided::ReadToken(),
                                     "If-None-Match: " + etag + "\r\n")));
    ASSERT_GE(watches.back(), 0);
  }
  // All 500 are held: none answered after a while, the API answers others at once, and tided
  // has not grown a thread for them.
  std::this_thread::sleep_for(1s);  // give a wrongly answered request time to show
  for (int fd : polls) ASSERT_FALSE(Answered(fd)) << "a long-poll was answered early";
  for (int fd : watches) ASSERT_FALSE(Answered(fd)) << "a watch was answered early";
  const auto t0 = Clock::now();
  ASSERT_EQ(tided.Get("/v1/workloads").status, 200);
  EXPECT_LT(Clock::now() - t0, 1s);
  const long threads_held = Threads(pid);
  std::cout << "tided threads: " << threads_before << " before, " << threads_held << " with "
            << kNodes << " long-polls and " << kWatches << " watches held\n";
  EXPECT_LE(threads_held, threads_before + 8);

  // One change answers them: a scale of the watched workload (every watch: 200) and a workload
  // placed on every node (every long-poll: 200).
  ASSERT_EQ(tided.Put("/v1/workloads/idle/scale", R"({"replicas": 1})").status, 200);
  ASSERT_EQ(tided.Post("/v1/apply", TestappManifest("spread", kNodes)).status, 200);
  int watch_ok = 0, poll_ok = 0;
  for (int fd : watches) {
    watch_ok += StatusOf(fd, 20s) == 200;
    ::close(fd);
  }
  for (int fd : polls) {
    poll_ok += StatusOf(fd, 20s) == 200;
    ::close(fd);
  }
  EXPECT_EQ(watch_ok, kWatches);
  EXPECT_EQ(poll_ok, kNodes);
}

TEST(AsyncWaits, AClientWithoutAValidTokenGetsOnlyIts401) {
  TempDir dir;
  Tided tided(dir.path());
  const int port = PortOf(tided.api());
  const pid_t pid = tided.proc()->pid();
  ASSERT_EQ(tided.Post("/v1/apply", TestappManifest("idle", 0)).status, 200);
  const long threads_before = Threads(pid);
  // Watches, long-polls and plain reads with a wrong token, and with none, all held open.
  std::vector<int> fds;
  for (int i = 0; i < 300; ++i) {
    const std::string token = i % 2 ? "not-a-token" : "";
    const std::string target = i % 3 == 0   ? "/v1/workloads/idle?waitMs=30000"
                               : i % 3 == 1 ? "/v1/agent/assignments?node=x&waitMs=30000"
                                            : "/v1/workloads";
    fds.push_back(Send(port, Get(target, token)));
    ASSERT_GE(fds.back(), 0);
  }
  int unauthorized = 0;
  for (int fd : fds) {
    unauthorized += StatusOf(fd, 10s) == 401;
    ::close(fd);
  }
  EXPECT_EQ(unauthorized, 300);
  // Nothing of theirs is held: the watch budget is whole (16 per token at once for a valid
  // token), and tided has no more threads than before.
  std::vector<int> held;
  HttpResult first = Http("GET", tided.api() + "/v1/workloads/idle", "", Tided::ReadToken());
  for (int i = 0; i < 16; ++i) {
    held.push_back(Send(port, Get("/v1/workloads/idle?waitMs=5000", Tided::ReadToken(),
                                  "If-None-Match: " + first.headers["ETag"] + "\r\n")));
  }
  std::this_thread::sleep_for(300ms);  // give a wrongly refused watch time to show
  for (int fd : held) EXPECT_FALSE(Answered(fd)) << "a valid watch was refused";
  for (int fd : held) ::close(fd);
  EXPECT_LE(Threads(pid), threads_before + 4);
  const std::string metrics = tided.Get("/metrics").body;
  EXPECT_NE(metrics.find("code=\"401\""), std::string::npos);
}

}  // namespace
}  // namespace tide::testing
