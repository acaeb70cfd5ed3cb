// Followed logs (`GET /v1/workloads/NAME/logs?follow=true`, tidectl logs -f) through tided's
// front door: the agent's stream is relayed as it comes (daemon/server/api_logs.h), with no
// thread of tided's held per follower: more followers than the follow lane has workers all get
// their lines. Real tided, real agent, real process writing to its log.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "daemon/gateway/loopback_testutil.h"
#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

// A Service that writes a numbered line every 50 ms (readiness by exec: it listens nowhere).
std::string TickerYaml(const std::string& name) {
  return "apiVersion: tide/v1\nkind: Service\nmetadata: {name: " + name +
         "}\nspec:\n  command: [\"/bin/sh\", \"-c\", \"i=0; while :; do echo tick-$i; "
         "i=$((i+1)); sleep 0.05; done\"]\n  replicas: 1\n  readiness: {exec: [\"/bin/true\"]}\n";
}

int PortOf(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

// Opens a followed log with a raw socket (the test reads the stream as it arrives).
int OpenFollow(int port, const std::string& token, const std::string& name) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return -1;
  const std::string req = "GET /v1/workloads/" + name +
                          "/logs?follow=true&tail=1 HTTP/1.1\r\nHost: tided\r\nAuthorization: "
                          "Bearer " +
                          token + "\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads what arrives on fd until `done(text)` or the deadline; returns what was read.
template <class Done>
std::string ReadUntil(int fd, Done done, std::chrono::milliseconds within) {
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!done(text) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(FollowLogsTest, MoreFollowersThanWorkersAllGetTheirLinesAsTheyAreWritten) {
  TempDir dir;
  Tided::Options o;
  o.local_agent = true;
  Tided tided(dir.path(), o);
  ASSERT_EQ(tided.Post("/v1/apply", TickerYaml("ticker")).status, 200);
  ASSERT_TRUE(WaitFor([&] { return tided.ReadyCount("ticker") == 1; }, 20s)) << tided.proc()->Log();
  // tided's follow lane has 2 worker threads (api_server.cc): a worker per stream would starve
  // the third. (The agent's own API still streams each follower on a thread of its own.)
  constexpr int kFollowers = 3;
  std::vector<int> fds;
  for (int i = 0; i < kFollowers; ++i) {
    const int fd = OpenFollow(PortOf(tided.api()), tided.token(), "ticker");
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  for (int fd : fds) {
    // The head, then lines written after the follow began: the stream is live, not a tail.
    const std::string got = ReadUntil(
        fd, [](const std::string& t) { return Count(t, "tick-") >= 4; }, 15s);
    ASSERT_NE(got.find("HTTP/1.1 200"), std::string::npos) << got << tided.proc()->Log();
    EXPECT_GE(Count(got, "tick-"), 4u) << got;
  }
  for (int fd : fds) ::close(fd);
  // Closed followers free their places: a new one streams too.
  const int again = OpenFollow(PortOf(tided.api()), tided.token(), "ticker");
  ASSERT_GE(again, 0);
  const std::string got = ReadUntil(
      again, [](const std::string& t) { return Count(t, "tick-") >= 2; }, 15s);
  EXPECT_GE(Count(got, "tick-"), 2u) << got;
  ::close(again);
}

TEST(FollowLogsTest, FollowingAMissingWorkloadIsANotFoundNamingIt) {
  TempDir dir;
  Tided::Options o;
  o.local_agent = true;
  Tided tided(dir.path(), o);
  const HttpResult r = Http("GET", tided.api() + "/v1/workloads/nope/logs?follow=true", "",
                            tided.token(), "application/json", 10);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_NE(r.body.find("nope"), std::string::npos) << r.body;
  // No token: 401 at the door, nothing looked up.
  const HttpResult anon =
      Http("GET", tided.api() + "/v1/workloads/nope/logs?follow=true", "", "", "", 10);
  EXPECT_EQ(anon.status, 401) << anon.body;
}

}  // namespace
}  // namespace tide::testing
