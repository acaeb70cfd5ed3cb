// tide-gateway-bench: the gateway alone, in front of fixed upstreams, for load tests against a
// reference proxy (nginx). Usage:
//   tide-gateway-bench --listen 127.0.0.1:7480 --upstream 127.0.0.1:9000 [--upstream ...]
//                      [--workload bench] [--concurrency 0] [--threads 2]
// Serves /service/{workload}/... and /function/{workload}/... until SIGINT or SIGTERM.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "api/address.h"
#include "daemon/gateway/gateway.h"
#include "daemon/metrics.h"

namespace {

class StaticBackend : public tide::GatewayBackend {
 public:
  StaticBackend(std::string name, tide::RouteInfo r) : name_(std::move(name)), route_(r) {}
  std::optional<tide::RouteInfo> Route(const std::string& w) override {
    if (w != name_) return std::nullopt;
    return route_;
  }
  void OnLoad(const std::string&, int, int) override {}

 private:
  std::string name_;
  tide::RouteInfo route_;
};

}  // namespace

int main(int argc, char** argv) {
  tide::GatewayOptions opts;
  std::string workload = "bench";
  std::vector<std::string> upstreams;
  tide::RouteInfo route;
  bool function = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--listen")
      opts.listen = next();
    else if (a == "--upstream")
      upstreams.push_back(next());
    else if (a == "--workload")
      workload = next();
    else if (a == "--concurrency")
      route.concurrency = std::atoi(next().c_str());
    else if (a == "--threads")
      opts.io_threads = std::atoi(next().c_str());
    else if (a == "--function")
      function = true;
    else {
      std::cerr << "tide-gateway-bench: unknown argument " << a << "\n";
      return 2;
    }
  }
  route.kind = function ? tide::Kind::kFunction : tide::Kind::kService;
  StaticBackend backend(workload, route);
  tide::Metrics metrics;  // as in tided: every request updates the gateway metrics
  tide::Gateway gw(opts, backend, tide::SystemClock::Get(), &metrics);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before the I/O threads start
  if (auto s = gw.Start(); !s.ok()) {
    std::cerr << "tide-gateway-bench: " << s.message() << "\n";
    return 1;
  }
  std::vector<tide::Endpoint> eps;
  for (size_t i = 0; i < upstreams.size(); ++i) {
    tide::HostPort up;
    if (auto s = tide::ParseHostPort(upstreams[i], tide::PortUse::kDial, &up); !s.ok()) {
      std::cerr << "tide-gateway-bench: upstream: " << s.message() << "\n";
      return 2;
    }
    eps.push_back({"up-" + std::to_string(i), up.host, up.port, "", false});
  }
  gw.SetEndpoints(workload, eps);
  std::cout << "tide-gateway-bench listening on port " << gw.port() << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  gw.Stop();
  return 0;
}
