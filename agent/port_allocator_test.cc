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
