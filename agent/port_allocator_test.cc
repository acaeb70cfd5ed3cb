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

TEST(PortAllocatorTest, RealListenerMakesPortBusy) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof(sa);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  const int busy = ntohs(sa.sin_port);
  EXPECT_FALSE(PortAllocator::PortIsFreeOnHost(busy));
  PortAllocator pa(busy, busy);
  int p = 0;
  EXPECT_FALSE(pa.Allocate(&p).ok());
  ::close(fd);
  EXPECT_TRUE(PortAllocator::PortIsFreeOnHost(busy));
  EXPECT_TRUE(pa.Allocate(&p).ok());
  EXPECT_EQ(p, busy);
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
