// Bounded metric labels (issue 11 part 4): a flood of requests to distinct unknown paths, with
// and without a token, must not add series to tided's /metrics: every label value of
// tide_api_requests_total comes from a fixed set (route templates, "other").
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "tests/harness.h"

namespace tide::testing {
namespace {

// The label sets of tide_api_requests_total in a /metrics text.
std::set<std::string> ApiSeries(const std::string& metrics) {
  std::set<std::string> out;
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("tide_api_requests_total{", 0) == 0) out.insert(line.substr(0, line.find('}')));
  }
  return out;
}

TEST(MetricsLabelsTest, UnknownPathFloodLeavesSeriesBounded) {
  TempDir dir;
  Tided tided(dir.path());
  // Warm up every answer class once, so the baseline holds their series already.
  ASSERT_EQ(tided.Get("/v1/workloads").status, 200);
  ASSERT_EQ(Http("GET", tided.api() + "/v1/agent/x").status, 401);
  const std::string before = Http("GET", tided.api() + "/metrics").body;
  const size_t series_before = ApiSeries(before).size();

  const std::string pad(1500, 'p');
  constexpr int kRequests = 3000;  // bounded; the issue saw 46 MB after 5,000
  for (int i = 0; i < kRequests; ++i) {
    const std::string n = std::to_string(i);
    switch (i % 4) {
      case 0:  // no token, the agent prefix (what grew /metrics to 46 MB)
        Http("GET", tided.api() + "/v1/agent/" + pad + n);
        break;
      case 1:  // no token, anywhere
        Http("GET", tided.api() + "/x" + n + "/" + pad);
        break;
      case 2:  // a valid token, unknown routes and unknown names
        Http("GET", tided.api() + "/v1/workloads/w" + n, "", tided.token());
        Http("POST", tided.api() + "/v1/nope/" + n, "{}", tided.token());
        break;
      case 3:  // a read token on unknown nodes
        Http("GET", tided.api() + "/v1/nodes/n" + n, "", Tided::ReadToken());
        break;
    }
  }
  const std::string after = Http("GET", tided.api() + "/metrics").body;
  const std::set<std::string> series = ApiSeries(after);
  std::string listing;
  for (const auto& s : series) listing += s + "\n";
  // A handful of (method, template, code) combinations, whatever the number of paths.
  EXPECT_LE(series.size(), series_before + 8) << listing;
  EXPECT_LE(series.size(), 40u) << listing;
  EXPECT_LT(after.size(), before.size() + 4096)
      << "grew from " << before.size() << " to " << after.size();
  for (const auto& s : series) {
    EXPECT_EQ(s.find(pad.substr(0, 16)), std::string::npos) << s;
    EXPECT_LT(s.size(), 200u) << s;
  }
  EXPECT_NE(after.find("route=\"other\""), std::string::npos) << listing;
  EXPECT_NE(after.find("route=\"/v1/workloads/{name}\""), std::string::npos) << listing;
  EXPECT_NE(after.find("route=\"/v1/nodes/{name}\""), std::string::npos) << listing;
}

}  // namespace
}  // namespace tide::testing
