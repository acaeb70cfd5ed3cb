// A real Prometheus (Debian's package) scrapes a real tided and its agent under load; every
// query of the Grafana dashboard (deploy/grafana/tide.json) must return data, and promtool must
// accept both /metrics outputs.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/harness.h"

namespace tide::testing {
namespace {

using namespace std::chrono_literals;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

int PromtoolCheck(const std::string& metrics_text, const std::string& dir, std::string* output) {
  WriteFile(dir + "/metrics.txt", metrics_text);
  std::string cmd = "promtool check metrics < " + dir + "/metrics.txt > " + dir +
                    "/promtool.out 2>&1";  // fixed paths of our own, no user input
  int rc = std::system(cmd.c_str());
  *output = Slurp(dir + "/promtool.out");
  return rc;
}

TEST(PrometheusTest, DashboardQueriesReturnDataAndMetricsAreClean) {
  if (std::system("command -v prometheus >/dev/null && command -v promtool >/dev/null") != 0) {
    GTEST_SKIP() << "prometheus/promtool not installed (scripts/install-deps.sh installs them)";
  }
  TempDir dir;
  Tided::Options o;
  o.local_agent = true;
  Tided tided(dir.path(), o);
  std::string app = TestappBin();
  std::string yaml =
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: web}\nspec:\n  command: [\"" + app +
      "\", \"--port\", \"${PORT}\"]\n  replicas: 2\n  resources: {cpu: 0.1, memory: 64Mi}\n"
      "---\napiVersion: tide/v1\nkind: Function\nmetadata: {name: fn}\nspec:\n  command: [\"" +
      app +
      "\", \"--port\", \"${PORT}\"]\n  idleTimeoutSeconds: 1\n"
      "  autoscale: {minReplicas: 0, maxReplicas: 2, target: 1, stableWindowSeconds: 1, "
      "panicWindowSeconds: 1}\n"
      "---\napiVersion: tide/v1\nkind: Function\nmetadata: {name: stuck}\nspec:\n  command: [\"" +
      app +
      "\", \"--port\", \"${PORT}\", \"--startup-delay-ms\", \"600000\"]\n  timeoutSeconds: 1\n";
  ASSERT_EQ(tided.Post("/v1/apply", yaml).status, 200);
  ASSERT_TRUE(WaitFor([&] { return tided.ReadyCount("web") == 2; }, 20s));
  json nodes = tided.Get("/v1/nodes").Json();
  ASSERT_EQ(nodes["items"].size(), 1u);
  std::string agent_url = nodes["items"][0]["agentUrl"];
  std::string agent_target = agent_url.substr(std::string("http://").size());

  // promtool on both /metrics.
  std::string out;
  EXPECT_EQ(PromtoolCheck(Http("GET", tided.api() + "/metrics").body, dir.path(), &out), 0) << out;
  EXPECT_EQ(PromtoolCheck(Http("GET", agent_url + "/metrics").body, dir.path(), &out), 0) << out;

  int prom_port = FreePort();
  std::string api_target = tided.api().substr(std::string("http://").size());
  WriteFile(dir.path() + "/prometheus.yml",
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n"
            "  - job_name: tided\n    static_configs: [{targets: [\"" +
                api_target + "\"]}]\n  - job_name: tide-agent\n    static_configs: [{targets: [\"" +
                agent_target + "\"]}]\n");
  Proc prom_proc({"/usr/bin/prometheus", "--config.file=" + dir.path() + "/prometheus.yml",
                  "--storage.tsdb.path=" + dir.path() + "/prom-data",
                  "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
                 dir.path() + "/prometheus.log");
  std::string prom = "http://127.0.0.1:" + std::to_string(prom_port);
  auto query = [&](const std::string& q) {
    return Http("GET", prom + "/api/v1/query?query=" + UrlEncode(q)).Json();
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        json r = query("up");
        if (!r.contains("data")) return false;
        int up = 0;
        for (const auto& s : r["data"]["result"]) up += s["value"][1] == "1" ? 1 : 0;
        return up == 2;
      },
      30s))
      << Slurp(dir.path() + "/prometheus.log").substr(0, 3000);

  // Load for a while: warm requests, cold starts, a 504, and one instance restart.
  auto until = std::chrono::steady_clock::now() + 8s;
  int kills = 0;
  for (int i = 0; i < 2000 && std::chrono::steady_clock::now() < until; ++i) {
    Http("GET", tided.gateway() + "/service/web/sleep?ms=2");
    if (i % 50 == 0) Http("GET", tided.gateway() + "/function/fn/");
    if (i == 10) Http("GET", tided.gateway() + "/function/stuck/");
    if (i == 20 && kills == 0) {
      json inst = tided.Instances("web");
      if (!inst.empty()) {
        kill(inst[0]["pid"].get<int>(), SIGKILL);
        ++kills;
      }
    }
  }
  // Wait for a couple more scrapes after the load.
  ASSERT_TRUE(WaitFor(
      [&] {
        json r = query("tide_instance_restarts_total");
        return r.contains("data") && !r["data"]["result"].empty();
      },
      15s));

  json dash = json::parse(Slurp(std::string(TIDE_SOURCE_DIR) + "/deploy/grafana/tide.json"));
  int checked = 0;
  for (const auto& panel : dash["panels"]) {
    if (!panel.contains("targets")) continue;
    for (const auto& t : panel["targets"]) {
      std::string expr =
          std::regex_replace(t["expr"].get<std::string>(), std::regex("\\$workload"), ".*");
      expr = std::regex_replace(expr, std::regex("\\$__rate_interval"), "1m");
      json r;
      bool ok = WaitFor(
          [&] {
            r = query(expr);
            return r.contains("data") && !r["data"]["result"].empty();
          },
          10s);
      EXPECT_TRUE(ok) << "panel '" << panel.value("title", "") << "': no data for " << expr << "\n"
                      << r.dump();
      ++checked;
    }
  }
  EXPECT_GE(checked, 15);
}

}  // namespace
}  // namespace tide::testing
