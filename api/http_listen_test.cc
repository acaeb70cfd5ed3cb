#include "api/http_listen.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <vector>

namespace tide {
namespace {

// How many of `n` connections to 127.0.0.1:port complete their handshake within `within` while
// nobody accepts: what the listen backlog holds.
int HandshakesWhileNobodyAccepts(int port, int n, std::chrono::milliseconds within) {
  std::vector<int> fds;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fds.push_back(fd);
  }
  const auto deadline = std::chrono::steady_clock::now() + within;
  int done = 0;
  std::vector<pollfd> waiting;
  for (int fd : fds) waiting.push_back(pollfd{fd, POLLOUT, 0});
  while (!waiting.empty()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 ||
        ::poll(waiting.data(), waiting.size(), static_cast<int>(left.count())) <= 0)
      break;
    std::vector<pollfd> still;
    for (const pollfd& p : waiting) {
      int err = 0;
      socklen_t len = sizeof err;
      if (!(p.revents & (POLLOUT | POLLERR | POLLHUP))) {
        still.push_back(pollfd{p.fd, POLLOUT, 0});
      } else if (::getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        ++done;
      }
    }
    waiting.swap(still);
  }
  for (int fd : fds) ::close(fd);
  return done;
}

TEST(BindHttpServer, ABurstOfConnectionsFitsTheBacklog) {
  httplib::Server deep;
  const int port = BindHttpServer(deep, "127.0.0.1", 0);
  ASSERT_GT(port, 0);
  // Nobody accepts (the listen loop is not started): all 64 must still complete at once.
  EXPECT_EQ(HandshakesWhileNobodyAccepts(port, 64, std::chrono::milliseconds(500)), 64);
}

TEST(BindHttpServer, HttplibsOwnBacklogDropsTheSameBurst) {
  // Why BindHttpServer exists: Debian's httplib listens with a backlog of 5.
  httplib::Server plain;
  const int port = plain.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  EXPECT_LT(HandshakesWhileNobodyAccepts(port, 64, std::chrono::milliseconds(300)), 16);
}

TEST(BindHttpServer, AHostItCannotBindIsMinusOne) {
  httplib::Server a, b;
  const int port = BindHttpServer(a, "127.0.0.1", 0);
  ASSERT_GT(port, 0);
  EXPECT_EQ(BindHttpServer(b, "256.0.0.1", port), -1);
}

}  // namespace
}  // namespace tide
