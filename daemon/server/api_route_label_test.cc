#include <gtest/gtest.h>

#include "daemon/server/api_server.h"

namespace tide {
namespace {

TEST(ApiRouteLabelTest, KnownRoutesMapToTheirTemplates) {
  EXPECT_EQ(ApiRouteLabel("/healthz"), "/healthz");
  EXPECT_EQ(ApiRouteLabel("/v1/workloads"), "/v1/workloads");
  EXPECT_EQ(ApiRouteLabel("/v1/workloads/web"), "/v1/workloads/{name}");
  EXPECT_EQ(ApiRouteLabel("/v1/workloads/web/scale"), "/v1/workloads/{name}/scale");
  EXPECT_EQ(ApiRouteLabel("/v1/workloads/web/logs"), "/v1/workloads/{name}/logs");
  EXPECT_EQ(ApiRouteLabel("/v1/workloads/web/dead-letters"), "/v1/workloads/{name}/dead-letters");
  EXPECT_EQ(ApiRouteLabel("/v1/invocations/00ff"), "/v1/invocations/{id}");
  EXPECT_EQ(ApiRouteLabel("/v1/nodes/node-a"), "/v1/nodes/{name}");
  EXPECT_EQ(ApiRouteLabel("/v1/layers/base"), "/v1/layers/{name}");
  EXPECT_EQ(ApiRouteLabel("/v1/agent/assignments"), "/v1/agent/assignments");
  EXPECT_EQ(ApiRouteLabel("/v1/agent/assignments?node=a"), "/v1/agent/assignments");
  EXPECT_EQ(ApiRouteLabel("/v1/agent/register"), "/v1/agent/register");
  EXPECT_EQ(ApiRouteLabel("/v1/agent/status"), "/v1/agent/status");
}

TEST(ApiRouteLabelTest, EverythingElseIsOneValue) {
  for (const char* p :
       {"/", "", "/v1", "/v1/agent/", "/v1/agent/x", "/v1/agent/register/x", "/v1/agentsss",
        "/v1/workloads/", "/v1/workloads//scale", "/v1/workloads/a/b/c", "/v1/workloadsX",
        "/metrics/x", "/healthzz", "/v1/nodes/a/b", "/v1/invocations/"}) {
    EXPECT_EQ(ApiRouteLabel(p), "other") << p;
  }
  EXPECT_EQ(ApiRouteLabel("/v1/agent/" + std::string(5000, 'a')), "other");
}

TEST(ApiRouteLabelTest, MethodsFromAFixedSet) {
  EXPECT_EQ(ApiMethodLabel("GET"), "GET");
  EXPECT_EQ(ApiMethodLabel("DELETE"), "DELETE");
  EXPECT_EQ(ApiMethodLabel("get"), "other");
  EXPECT_EQ(ApiMethodLabel("BREW"), "other");
  EXPECT_EQ(ApiMethodLabel(std::string(300, 'X')), "other");
}

}  // namespace
}  // namespace tide
