#include "api/address.h"

#include <gtest/gtest.h>

namespace tide {
namespace {

HostPort MustParse(const std::string& s, PortUse use = PortUse::kDial) {
  HostPort hp;
  Status st = ParseHostPort(s, use, &hp);
  EXPECT_TRUE(st.ok()) << s << ": " << st.message();
  return hp;
}

// The message of the error for `s`, which must be refused.
std::string ErrorOf(const std::string& s, PortUse use = PortUse::kListen) {
  HostPort hp{"stale", 9};
  Status st = ParseHostPort(s, use, &hp);
  EXPECT_FALSE(st.ok()) << "accepted: " << s;
  EXPECT_EQ(st.code(), Status::Code::kInvalid) << s;
  EXPECT_EQ(hp.host, "") << "output not reset for " << s;
  return st.message();
}

TEST(AddressTest, HostsOfEveryForm) {
  HostPort a = MustParse("127.0.0.1:7400");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 7400);
  EXPECT_EQ(MustParse("tide.example:80").host, "tide.example");
  EXPECT_EQ(MustParse("my_host-1:1").host, "my_host-1");
  HostPort v6 = MustParse("[::1]:80");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 80);
  EXPECT_EQ(MustParse("[fe80::1%eth0]:8080").host, "fe80::1%eth0");
  EXPECT_EQ(MustParse("[::ffff:10.0.0.1]:65535").port, 65535);
}

TEST(AddressTest, PortZeroOnlyForListening) {
  EXPECT_EQ(MustParse("127.0.0.1:0", PortUse::kListen).port, 0);
  EXPECT_NE(ErrorOf("127.0.0.1:0", PortUse::kDial).find("1..65535"), std::string::npos);
}

TEST(AddressTest, HostileInputsAreRefusedWithAReason) {
  EXPECT_NE(ErrorOf("").find("empty address"), std::string::npos);
  EXPECT_NE(ErrorOf("127.0.0.1").find("has no port"), std::string::npos);
  EXPECT_NE(ErrorOf("127.0.0.1:").find("has no port"), std::string::npos);
  EXPECT_NE(ErrorOf(":7400").find("has no host"), std::string::npos);
  EXPECT_NE(ErrorOf("h:65536").find("out of range"), std::string::npos);
  EXPECT_NE(ErrorOf("h:999999").find("out of range"), std::string::npos);
  EXPECT_NE(ErrorOf("h:-1").find("not a number"), std::string::npos);
  EXPECT_NE(ErrorOf("h:+80").find("not a number"), std::string::npos);
  EXPECT_NE(ErrorOf("h:80a").find("not a number"), std::string::npos);
  EXPECT_NE(ErrorOf("h:http").find("not a number"), std::string::npos);
  EXPECT_NE(ErrorOf("h: 80").find("not a number"), std::string::npos);
  EXPECT_NE(ErrorOf("::1:80").find("in brackets"), std::string::npos);
  EXPECT_NE(ErrorOf("[::1]").find("has no port"), std::string::npos);
  EXPECT_NE(ErrorOf("[::1]80").find("has no port"), std::string::npos);
  EXPECT_NE(ErrorOf("[::1:80").find("without ']'"), std::string::npos);
  EXPECT_NE(ErrorOf("[]:80").find("empty IPv6"), std::string::npos);
  EXPECT_NE(ErrorOf("[10.0.0.1]:80").find("IPv6 addresses only"), std::string::npos);
  EXPECT_NE(ErrorOf("[::1 ]:80").find("invalid character"), std::string::npos);
  EXPECT_NE(ErrorOf("a b:80").find("invalid character"), std::string::npos);
  EXPECT_NE(ErrorOf("user@host:80").find("invalid character"), std::string::npos);
  EXPECT_NE(ErrorOf("http://h:80").find("is a URL"), std::string::npos);
  EXPECT_NE(ErrorOf(std::string("h\0st:80", 7)).find("invalid character"), std::string::npos);
  EXPECT_NE(ErrorOf("h\n:80").find("invalid character"), std::string::npos);
  EXPECT_NE(ErrorOf(std::string(400, 'a') + ":80").find("too long"), std::string::npos);
  EXPECT_NE(ErrorOf(std::string(1 << 20, '1')).find("too long"), std::string::npos);
  // The longest DNS name fits.
  EXPECT_EQ(MustParse(std::string(253, 'a') + ":80").host.size(), 253u);
}

TEST(AddressTest, LocalUrlMapsWildcardsToLoopback) {
  EXPECT_EQ(LocalUrl(MustParse("127.0.0.1:7400")), "http://127.0.0.1:7400");
  EXPECT_EQ(LocalUrl(MustParse("0.0.0.0:7400")), "http://127.0.0.1:7400");
  EXPECT_EQ(LocalUrl(MustParse("[::]:7400")), "http://127.0.0.1:7400");
  EXPECT_EQ(LocalUrl(MustParse("[::1]:7400")), "http://[::1]:7400");
  EXPECT_EQ(LocalUrl(MustParse("ctl.example:80")), "http://ctl.example:80");
  // The bound port replaces a listen address's 0.
  EXPECT_EQ(LocalUrl(MustParse("0.0.0.0:0", PortUse::kListen), 41234), "http://127.0.0.1:41234");
}

TEST(AddressTest, FormatRoundTrips) {
  for (const char* s : {"127.0.0.1:1", "[::1]:80", "tide.example:65535"}) {
    EXPECT_EQ(FormatHostPort(MustParse(s)), s);
  }
}

}  // namespace
}  // namespace tide
