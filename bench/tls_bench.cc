// tls_bench: what TLS costs tided per API request, and what kept-alive connections save
// (docs/benchmarks.md). Two tideds side by side (no local agent), one plain, one with
// --tls-cert/--tls-key (a P-256 certificate from a CA made at run time); the same small agent-
// like call (GET /v1/nodes with a token) is sent N times in four ways: plain and TLS, each over
// one kept-alive connection (what api/client.h does) and over a new connection per request (a
// full TLS handshake each). The figure is tided's own CPU (user + system from /proc) per
// request; the client's is not counted.
//
//   build/bench/tls_bench [--requests N]    (default 2000)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "api/client.h"
#include "api/tls_testutil.h"
#include "bench/bench_util.h"
#include "tests/harness.h"

using namespace tide;
using namespace tide::bench;

namespace {

struct Figure {
  double cpu_us_per_request = 0;
  double wall_us_per_request = 0;
};

// tided's CPU per request for n calls; kept_alive: one Client for all, else one per call.
bool Measure(testing::Tided& t, const std::string& ca, bool kept_alive, int n, Figure* out) {
  ClientConfig cfg{t.api(), t.token(), 10, ca};
  auto client = std::make_unique<Client>(cfg);
  Response r;
  if (!client->Get("/v1/nodes", &r).ok()) {  // warm: the first connection is not counted
    std::cerr << "tls_bench: " << t.api() << " does not answer\n";
    return false;
  }
  const double cpu0 = CpuSeconds(t.proc()->pid());
  const auto t0 = SteadyClock::now();
  for (int i = 0; i < n; ++i) {
    if (!kept_alive) client = std::make_unique<Client>(cfg);
    Status st = client->Get("/v1/nodes", &r);
    if (!st.ok()) {
      std::cerr << "tls_bench: request failed: " << st.message() << "\n";
      return false;
    }
  }
  const double wall_ms = MsSince(t0);
  const double cpu1 = CpuSeconds(t.proc()->pid());
  out->cpu_us_per_request = (cpu1 - cpu0) * 1e6 / n;
  out->wall_us_per_request = wall_ms * 1e3 / n;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 2000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--requests") == 0 && i + 1 < argc) {
      n = std::atoi(argv[++i]);
    } else {
      std::cerr << "usage: tls_bench [--requests N]\n";
      return 2;
    }
  }
  if (n < 10 || n > 1000000) {
    std::cerr << "tls_bench: --requests must be 10..1000000\n";
    return 2;
  }
  std::cout << "load average at start: " << LoadAverage() << "\n";
  try {
    testing::TempDir dir;
    const std::string d = dir.path();
    testing::TestCert ca = testing::MakeTestCa("bench CA");
    testing::WriteTestCert(ca, d + "/ca.crt", "");
    testing::WriteTestCert(testing::MakeTestCert(ca, "tided", {"IP:127.0.0.1"}), d + "/t.crt",
                           d + "/t.key");
    testing::SetHttpsCaFile(d + "/ca.crt");
    std::filesystem::create_directories(d + "/plain");
    std::filesystem::create_directories(d + "/tls");
    testing::Tided plain(d + "/plain");
    testing::Tided::Options o;
    o.https = true;
    o.extra_args = {"--tls-cert", d + "/t.crt", "--tls-key", d + "/t.key"};
    testing::Tided tls(d + "/tls", o);

    Figure plain_kept, plain_new, tls_kept, tls_new;
    if (!Measure(plain, "", true, n, &plain_kept) || !Measure(plain, "", false, n, &plain_new) ||
        !Measure(tls, d + "/ca.crt", true, n, &tls_kept) ||
        !Measure(tls, d + "/ca.crt", false, n, &tls_new)) {
      return 2;
    }
    auto row = [](const char* name, const Figure& f) {
      std::printf("  %-34s tided CPU %7.1f us/request   client wall %7.1f us/request\n", name,
                  f.cpu_us_per_request, f.wall_us_per_request);
    };
    std::printf("GET /v1/nodes x %d, tided CPU from /proc:\n", n);
    row("plain, one kept-alive connection", plain_kept);
    row("plain, new connection per request", plain_new);
    row("TLS, one kept-alive connection", tls_kept);
    row("TLS, new connection per request", tls_new);
    std::cout << "load average at end: " << LoadAverage() << "\n";

    Summary s("tls_bench (" + std::to_string(n) + " requests per row)");
    s.Info("TLS handshake, tided CPU", tls_new.cpu_us_per_request - plain_new.cpu_us_per_request,
           "us");
    // Kept alive, TLS adds only record encryption: within 50% of plain (or 30 us).
    s.AtMost("TLS kept-alive tided CPU per request", tls_kept.cpu_us_per_request,
             std::max(plain_kept.cpu_us_per_request * 1.5, plain_kept.cpu_us_per_request + 30),
             "us");
    // And well under the cost of a handshake per request.
    s.AtMost("TLS kept-alive / TLS new connection",
             tls_kept.cpu_us_per_request / tls_new.cpu_us_per_request, 0.5, "ratio");
    return s.Print();
  } catch (const std::exception& e) {
    std::cerr << "tls_bench: setup failed: " << e.what() << "\n";
    return 2;
  }
}
