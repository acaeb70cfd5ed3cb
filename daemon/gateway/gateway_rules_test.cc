// Pure rules of the gateway, without sockets: path normalisation (gw::ParseTarget), framing
// checks (gw::FramingError), the retry rules after an upstream failure
// (gw::UpstreamFailureAction), and passive-health ejection in the RouteTable (FakeClock).
#include <gtest/gtest.h>

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <map>
#include <set>

#include "api/clock.h"
#include "daemon/gateway/gateway_http.h"
#include "daemon/gateway/gateway_state.h"

namespace tide {
namespace {

namespace http = boost::beast::http;
namespace asio = boost::asio;
using gw::OnFailure;
using gw::UpstreamStep;

std::string Rest(std::string_view target) {
  gw::Target t = gw::ParseTarget(target);
  EXPECT_NE(t.prefix, gw::Target::Prefix::kNone) << target;
  EXPECT_EQ(t.error, "") << target;
  return t.rest;
}

std::string Refused(std::string_view target) {
  gw::Target t = gw::ParseTarget(target);
  EXPECT_NE(t.error, "") << target << " was accepted as " << t.rest;
  return t.error;
}

TEST(GatewayPath, UnchangedWithoutDotsOrEscapes) {
  EXPECT_EQ(Rest("/function/f"), "/");
  EXPECT_EQ(Rest("/function/f?x=1"), "/?x=1");
  EXPECT_EQ(Rest("/function/f/a/b?q=../../x"), "/a/b?q=../../x");
  EXPECT_EQ(Rest("/service/s/a//b/"), "/a//b/");
}

TEST(GatewayPath, DotSegmentsAreResolvedWithinTheWorkload) {
  EXPECT_EQ(Rest("/function/f/a/./b/../c?x=../y"), "/a/c?x=../y");
  EXPECT_EQ(Rest("/function/f/."), "/");
  EXPECT_EQ(Rest("/function/f/a/.."), "/");
  EXPECT_EQ(Rest("/function/f/a/b/.."), "/a/");
  EXPECT_EQ(Rest("/function/f/a/%2e%2e/b"), "/b");
  EXPECT_EQ(Rest("/function/f/a/.%2E/b/%2E"), "/b/");
  EXPECT_EQ(Rest("/service/s/a//b/../c"), "/a//c");
  EXPECT_EQ(Rest("/service/s/a%20b/./c.txt"), "/a%20b/c.txt");
  EXPECT_EQ(Rest("/service/s/...x/..."), "/...x/...");  // not dot segments
  EXPECT_EQ(Rest("/async-function/f/x/../y"), "/y");
  // Normalising twice changes nothing.
  EXPECT_EQ(Rest("/function/f" + Rest("/function/f/a/./b/../c/")), "/a/c/");
}

TEST(GatewayPath, ClimbingOutOfTheWorkloadIsRefused) {
  EXPECT_NE(Refused("/function/f/..").find("climbs out of /function/f"), std::string::npos);
  Refused("/function/f/../g/x");
  Refused("/function/f/a/../../service/other/x");
  Refused("/function/f/%2e%2e/x");
  Refused("/function/f/%2E%2e");
  Refused("/function/f/.%2e/etc/passwd");
  Refused("/service/s/a/b/../../../s2");
  Refused("/function/f/..%2f..%2fservice%2fother");
  Refused("/function/f/a/..%5c..%5cx");
  Refused("/function/f/a/..\\..\\x");
  Refused("/function/f/%zz");
  Refused("/function/f/a%2");
  // The name itself may not be a dot segment.
  Refused("/function/../service/x");
  Refused("/function/%2e%2e/x");
  Refused("/function/./x");
  // Outside the routes nothing is resolved: no route (404), not another workload.
  EXPECT_EQ(gw::ParseTarget("/x/../function/f").prefix, gw::Target::Prefix::kNone);
}

std::string Framing(const std::string& head_lines) {
  http::request_parser<http::string_body> p;
  boost::beast::error_code ec;
  std::string text = head_lines + "\r\n";
  p.put(asio::buffer(text), ec);
  if (ec && ec != http::error::need_more) return "parser: " + ec.message();
  return gw::FramingError(p.get());
}

TEST(GatewayFraming, AmbiguousFramingIsRefused) {
  const char* bad[] = {
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n",
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n",
  };
  for (const char* h : bad) EXPECT_NE(Framing(h), "") << h;
  EXPECT_NE(Framing(bad[0]).find("unsupported Transfer-Encoding"), std::string::npos);
  EXPECT_NE(Framing(bad[1]).find("Content-Length"), std::string::npos);
}

TEST(GatewayFraming, PlainFramingPasses) {
  EXPECT_EQ(Framing("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"), "");
  EXPECT_EQ(Framing("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked \r\n"), "");
  EXPECT_EQ(Framing("POST / HTTP/1.1\r\nContent-Length: 5\r\n"), "");
  EXPECT_EQ(Framing("GET / HTTP/1.0\r\n"), "");
}

TEST(GatewayRetryRules, ConnectFailuresMoveToAnotherInstance) {
  for (auto ec : {asio::error::connection_refused, asio::error::connection_reset,
                  asio::error::host_unreachable, asio::error::network_unreachable}) {
    EXPECT_EQ(gw::UpstreamFailureAction(UpstreamStep::kConnect, ec, false, false, false),
              OnFailure::kOtherInstance);
  }
  EXPECT_EQ(gw::UpstreamFailureAction(UpstreamStep::kConnect, asio::error::timed_out, false, false,
                                      false),
            OnFailure::kFail);
}

TEST(GatewayRetryRules, AHeadNotFullySentIsRetried) {
  EXPECT_EQ(gw::UpstreamFailureAction(UpstreamStep::kWriteHead, asio::error::broken_pipe, true,
                                      false, false),
            OnFailure::kFreshConnection);  // a stale pooled connection
  EXPECT_EQ(gw::UpstreamFailureAction(UpstreamStep::kWriteHead, asio::error::connection_reset,
                                      false, false, false),
            OnFailure::kOtherInstance);
  EXPECT_EQ(gw::UpstreamFailureAction(UpstreamStep::kWriteHead, asio::error::connection_reset,
                                      false, true, true),
            OnFailure::kFail);
}

TEST(GatewayRetryRules, ARequestAlreadySentIsNeverMovedOrReplayedUnlessIdempotent) {
  for (bool pooled : {false, true}) {
    for (boost::system::error_code ec : {boost::system::error_code(asio::error::connection_reset),
                                         boost::system::error_code(asio::error::eof)}) {
      // Not idempotent (or with a body): the instance may have acted on it.
      EXPECT_EQ(gw::UpstreamFailureAction(UpstreamStep::kReadHead, ec, pooled, true, false),
                OnFailure::kFail);
    }
  }
  // A fresh connection that dies after the request was sent: no retry, even for a GET.
  EXPECT_EQ(gw::UpstreamFailureAction(UpstreamStep::kReadHead, asio::error::connection_reset, false,
                                      true, true),
            OnFailure::kFail);
  // A pooled connection closed under an idempotent body-less request: once more, same instance.
  EXPECT_EQ(gw::UpstreamFailureAction(UpstreamStep::kReadHead, asio::error::eof, true, true, true),
            OnFailure::kFreshConnection);
  EXPECT_TRUE(gw::IdempotentMethod(http::verb::get));
  EXPECT_TRUE(gw::IdempotentMethod(http::verb::put));
  EXPECT_FALSE(gw::IdempotentMethod(http::verb::post));
  EXPECT_FALSE(gw::IdempotentMethod(http::verb::patch));
}

class NullBackend : public GatewayBackend {
 public:
  std::optional<RouteInfo> Route(const std::string&) override { return RouteInfo{}; }
  void OnLoad(const std::string&, int, int) override {}
};

class EjectionTest : public ::testing::Test {
 protected:
  // Takes a slot and gives it back; returns the instance it was on ("" = queued / none).
  std::string Pick() {
    gw::Lease lease;
    std::shared_ptr<gw::Waiter> queued;
    auto admit = table_.Acquire(
        "w", RouteInfo{Kind::kService, 0, 30}, 10, clock_.NowMs(),
        [] {
          auto w = std::make_shared<gw::Waiter>();
          w->wake = [] {};
          return w;
        },
        &lease, &queued);
    if (admit != gw::RouteTable::Admit::kGranted) {
      table_.CancelWaiter("w", queued);
      return "";
    }
    std::string id = lease.ep->ep.instance_id;
    table_.Release(&lease);
    return id;
  }
  gw::Lease Hold() {
    gw::Lease lease;
    std::shared_ptr<gw::Waiter> queued;
    table_.Acquire(
        "w", RouteInfo{Kind::kService, 0, 30}, 10, clock_.NowMs(),
        [] { return std::make_shared<gw::Waiter>(); }, &lease, &queued);
    return lease;
  }
  std::set<std::string> PickMany(int n) {
    std::set<std::string> seen;
    for (int i = 0; i < n; ++i) seen.insert(Pick());
    return seen;
  }

  FakeClock clock_;
  NullBackend backend_;
  gw::RouteTable table_{backend_, clock_, nullptr};
  std::vector<Endpoint> two_{{"a", "127.0.0.1", 1}, {"b", "127.0.0.1", 2}};
};

TEST_F(EjectionTest, EjectedEndpointGetsNoRequestsUntilItsProbationEnds) {
  table_.SetEndpoints("w", two_);
  EXPECT_EQ(PickMany(4), (std::set<std::string>{"a", "b"}));
  gw::Lease l = Hold();
  const std::string ejected = l.ep->ep.instance_id;
  const std::string other = ejected == "a" ? "b" : "a";
  table_.Eject(l);
  gw::Lease moved = table_.TryAcquireOther(l);
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved.ep->ep.instance_id, other);
  table_.Release(&l);
  table_.Release(&moved);
  EXPECT_EQ(PickMany(6), std::set<std::string>{other});
  // A push that lists it as before (it never left the set) does not end the ejection.
  table_.SetEndpoints("w", two_);
  EXPECT_EQ(PickMany(6), std::set<std::string>{other});
  clock_.Advance(gw::RouteTable::kEjectMs + 1);
  EXPECT_EQ(PickMany(4), (std::set<std::string>{"a", "b"}));
}

TEST_F(EjectionTest, ListedAgainAfterASetWithoutItEndsTheEjection) {
  table_.SetEndpoints("w", two_);
  gw::Lease l = Hold();
  const std::string ejected = l.ep->ep.instance_id;
  table_.Eject(l);
  table_.Release(&l);
  EXPECT_EQ(PickMany(4).count(ejected), 0u);
  std::vector<Endpoint> without;
  for (const auto& e : two_)
    if (e.instance_id != ejected) without.push_back(e);
  table_.SetEndpoints("w", without);
  table_.SetEndpoints("w", two_);  // Ready again
  EXPECT_EQ(PickMany(4).count(ejected), 1u);
}

TEST_F(EjectionTest, EveryEndpointEjectedFallsBackToAllButNeverForAMove) {
  table_.SetEndpoints("w", two_);
  gw::Lease l1 = Hold();
  gw::Lease l2 = Hold();
  ASSERT_NE(l1.ep, l2.ep);
  table_.Eject(l1);
  table_.Eject(l2);
  // A move never goes to an ejected endpoint.
  EXPECT_FALSE(table_.TryAcquireOther(l1));
  table_.Release(&l1);
  table_.Release(&l2);
  // New requests still go somewhere (the control plane calls both ready): no wait for nothing.
  EXPECT_EQ(PickMany(4), (std::set<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace tide
