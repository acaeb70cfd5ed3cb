#include "agent/port_allocator.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

namespace tide {
namespace {

TEST(PortAllocatorTest, HandsOutDistinctPortsRoundRobin) {
  PortAllocator pa(100, 102, [](int) { return true; });
  int a = 0, b = 0, c = 0, d = 0;
  ASSERT_TRUE(pa.Allocate(&a).ok());
  ASSERT_TRUE(pa.Allocate(&b).ok());
  ASSERT_TRUE(pa.Allocate(&c).ok());
  EXPECT_EQ((std::set<int>{a, b, c}), (std::set<int>{100, 101, 102}));
  Status s = pa.Allocate(&d);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  pa.Release(b);
  ASSERT_TRUE(pa.Allocate(&d).ok());
  EXPECT_EQ(d, b);
}

TEST(PortAllocatorTest, DoesNotReuseJustReleasedPortWhileOthersAreFree) {
  PortAllocator pa(100, 104, [](int) { return true; });
  int a = 0, b = 0;
  ASSERT_TRUE(pa.Allocate(&a).ok());
  pa.Release(a);
  ASSERT_TRUE(pa.Allocate(&b).ok());
  EXPECT_NE(a, b);
}

TEST(PortAllocatorTest, SkipsPortsInUseOnHost) {
  PortAllocator pa(100, 103, [](int p) { return p != 100 && p != 101; });
  int a = 0;
  ASSERT_TRUE(pa.Allocate(&a).ok());
  EXPECT_EQ(a, 102);
}

TEST(PortAllocatorTest, MarkTakenForReadoption) {
  PortAllocator pa(100, 101, [](int) { return true; });
  EXPECT_TRUE(pa.MarkTaken(100));
  EXPECT_FALSE(pa.MarkTaken(100));
  EXPECT_TRUE(pa.IsTaken(100));
  int a = 0;
  ASSERT_TRUE(pa.Allocate(&a).ok());
  EXPECT_EQ(a, 101);
  pa.Release(100);
  EXPECT_FALSE(pa.IsTaken(100));
}

// A listener on addr with the given socket option (0: none); returns its port, fd in *fd.
int Listen(in_addr_t addr, int option, int* fd) {
  *fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (*fd < 0) return 0;
  int one = 1;
  if (option != 0) ::setsockopt(*fd, SOL_SOCKET, option, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = addr;
  if (::bind(*fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return 0;
  if (::listen(*fd, 4) != 0) return 0;
  socklen_t len = sizeof(sa);
  if (::getsockname(*fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return 0;
  return ntohs(sa.sin_port);
}

TEST(PortAllocatorTest, RealListenerMakesPortBusy) {
  int fd = -1;
  const int busy = Listen(htonl(INADDR_LOOPBACK), 0, &fd);
  ASSERT_GT(busy, 0);
  EXPECT_FALSE(PortAllocator::PortIsFreeOnHost(busy));
  PortAllocator pa(busy, busy);
  int p = 0;
  EXPECT_FALSE(pa.Allocate(&p).ok());
  ::close(fd);
  EXPECT_TRUE(PortAllocator::PortIsFreeOnHost(busy));
  EXPECT_TRUE(pa.Allocate(&p).ok());
  EXPECT_EQ(p, busy);
}

// Servers set SO_REUSEADDR (nginx, redis) or only SO_REUSEPORT (cpp-httplib), on loopback or the
// wildcard: each of them holds its port.
TEST(PortAllocatorTest, ListenersWithReuseOptionsMakePortBusy) {
  for (in_addr_t addr : {htonl(INADDR_LOOPBACK), htonl(INADDR_ANY)}) {
    for (int option : {SO_REUSEADDR, SO_REUSEPORT}) {
      int fd = -1;
      const int busy = Listen(addr, option, &fd);
      ASSERT_GT(busy, 0);
      EXPECT_FALSE(PortAllocator::PortIsFreeOnHost(busy))
          << "addr " << addr << " option " << option;
      ::close(fd);
    }
  }
}

// A server that closes a connection first leaves it in TIME_WAIT on its port for a minute. A
// plain or SO_REUSEPORT-only listener (cpp-httplib) cannot bind the port then, so the allocator
// prefers other ports, and takes it only when nothing else is left.
TEST(PortAllocatorTest, TimeWaitLeftoversArePortsOfLastResort) {
  int lfd = -1;
  const int port = Listen(htonl(INADDR_LOOPBACK), SO_REUSEADDR, &lfd);
  ASSERT_GT(port, 0);
  int cfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(cfd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  int afd = ::accept(lfd, nullptr, nullptr);
  ASSERT_GE(afd, 0);
  ::close(afd);  // the server side closes first: its end goes to TIME_WAIT
  char c;
  ASSERT_EQ(::read(cfd, &c, 1), 0);  // the client saw the FIN
  ::close(cfd);
  ::close(lfd);

  EXPECT_FALSE(PortAllocator::PortIsFreeOnHost(port));
  EXPECT_TRUE(PortAllocator::PortIsUsableOnHost(port));
  // What cpp-httplib does (SO_REUSEPORT only) fails there: the reason for the preference.
  int hfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(hfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  EXPECT_NE(::bind(hfd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ::close(hfd);
  PortAllocator pa(port, port);
  int p = 0;
  ASSERT_TRUE(pa.Allocate(&p).ok());  // the last resort
  EXPECT_EQ(p, port);
}

TEST(PortAllocatorTest, AFreePortBeatsAUsableOneWithinTheLookahead) {
  auto is_free = [](int p) { return p == 110 || p == 150; };
  auto usable = [](int) { return true; };
  PortAllocator pa(100, 199, is_free, usable);
  int p = 0;
  ASSERT_TRUE(pa.Allocate(&p).ok());
  EXPECT_EQ(p, 110);  // 10 past the first usable (100): found
  ASSERT_TRUE(pa.Allocate(&p).ok());
  EXPECT_EQ(p, 111);  // 150 is further than the lookahead: the first usable one is taken
  PortAllocator none(
      100, 101, [](int) { return false; }, [](int) { return false; });
  EXPECT_FALSE(none.Allocate(&p).ok());
}

TEST(PortAllocatorTest, ParseRange) {
  int lo = 0, hi = 0;
  ASSERT_TRUE(PortAllocator::ParseRange("20000-29999", &lo, &hi).ok());
  EXPECT_EQ(lo, 20000);
  EXPECT_EQ(hi, 29999);
  EXPECT_FALSE(PortAllocator::ParseRange("2000", &lo, &hi).ok());
  EXPECT_FALSE(PortAllocator::ParseRange("30-20", &lo, &hi).ok());
  EXPECT_FALSE(PortAllocator::ParseRange("0-20", &lo, &hi).ok());
  EXPECT_FALSE(PortAllocator::ParseRange("1-70000", &lo, &hi).ok());
  EXPECT_FALSE(PortAllocator::ParseRange("a-b", &lo, &hi).ok());
}

}  // namespace
}  // namespace tide
