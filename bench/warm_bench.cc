// warm_bench (issue "Functions"): steady-state proxy cost of the request gateway. wrk (same
// settings each time) against one tiny_http instance run by Tide
//  - directly on its $PORT,
//  - through the gateway (/service/NAME/),
//  - through nginx as a reverse proxy (upstream keepalive) to the same instance,
// in one run; the nginx and gateway runs alternate for --rounds rounds and the median of each
// is compared. Prints requests/s and p99 latency of each.
//
// Setup: tided with its in-process agent (gateway: 2 I/O threads, the default); nginx with
// 2 worker processes, non-daemon, config and logs in a temp dir, on a loopback port.
// The proxy's CPU time per request (nginx: master + workers; gateway: the tided process alone,
// not its children: the instance is a child of tided's local agent) is printed too: on a shared
// 2-core machine it is steadier than requests/s.
// --standalone adds a third row each round: tide-gateway-bench (the same gateway code alone, with
// a fixed route, next to tided's binary when built) in front of the same instance, to tell the
// gateway engine's cost from tided's (control plane backend, other threads).
// The Service is what a user writes: `resources: {memory: 64Mi}` (--memory Q|none) and the
// default readiness probe; every request is a POST with a 1 KiB body (--request-bytes, 0 = GET
// without a body) answered with 2 KiB (--response-bytes), the same for all three paths.
// Usage: warm_bench [--threads 2] [--connections 50] [--duration 10] [--rounds 3] [--standalone]
//                   [--memory 64Mi|none] [--request-bytes 1024] [--response-bytes 2048]
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "bench/bench_util.h"
#include "tests/harness.h"

namespace tide::bench {
namespace {

using tide::testing::json;
using tide::testing::TempDir;
using tide::testing::Tided;
using tide::testing::WaitFor;
using tide::testing::WriteFile;
using namespace std::chrono_literals;

struct WrkSettings {
  int threads = 2, connections = 50, duration_s = 10;
  int request_bytes = 1024, response_bytes = 2048;
  std::string script;  // wrk -s script making the requests POSTs with a body ("" = GET)
};

// Writes the wrk script that sends a POST with request_bytes of JSON-ish body; "" for 0.
std::string WriteWrkScript(const std::string& dir, int request_bytes) {
  if (request_bytes == 0) return "";
  std::string path = dir + "/post.lua";
  WriteFile(path,
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
            "wrk.body = '{\"data\":\"' .. string.rep(\"x\", " +
                std::to_string(std::max(0, request_bytes - 12)) + ") .. '\"}'\n");
  return path;
}

struct WrkResult {
  double rps = 0, p99_ms = 0, p50_ms = 0, cpu_us_per_request = 0;
  long errors = 0;  // socket errors + non-2xx/3xx answers
  bool ok = false;
};

double ToMs(const std::string& number, const std::string& unit) {
  double v = std::stod(number);
  if (unit == "us") return v / 1000;
  if (unit == "s") return v * 1000;
  if (unit == "m") return v * 60000;
  return v;  // ms
}

WrkResult ParseWrk(const std::string& out) {
  WrkResult r;
  std::smatch m;
  if (std::regex_search(out, m, std::regex("Requests/sec:\\s+([0-9.]+)"))) {
    r.rps = std::stod(m[1].str());
    r.ok = true;
  }
  if (std::regex_search(out, m, std::regex("\\n\\s+99%\\s+([0-9.]+)(us|ms|s|m)"))) {
    r.p99_ms = ToMs(m[1].str(), m[2].str());
  }
  if (std::regex_search(out, m, std::regex("\\n\\s+50%\\s+([0-9.]+)(us|ms|s|m)"))) {
    r.p50_ms = ToMs(m[1].str(), m[2].str());
  }
  if (std::regex_search(out, m, std::regex("Non-2xx or 3xx responses: ([0-9]+)"))) {
    r.errors += std::stol(m[1].str());
  }
  std::regex err("(connect|read|write|timeout) ([0-9]+)");
  if (std::regex_search(out, m, std::regex("Socket errors:([^\\n]*)"))) {
    std::string line = m[1].str();
    for (std::sregex_iterator it(line.begin(), line.end(), err), end; it != end; ++it) {
      r.errors += std::stol((*it)[2].str());
    }
  }
  return r;
}

// Runs wrk; cpu_pid (when > 0): the proxy whose CPU time per request is printed, with its
// child processes when `with_children` (nginx's workers) or alone (tided: its children are the
// instances it runs, the upstream itself).
WrkResult RunWrk(const std::string& label, const std::string& url, const WrkSettings& w,
                 const std::string& dir, pid_t cpu_pid = -1, bool with_children = false) {
  auto cpu = [&] { return with_children ? TreeCpuSeconds(cpu_pid) : CpuSeconds(cpu_pid); };
  double cpu0 = cpu_pid > 0 ? cpu() : 0;
  std::string log = dir + "/wrk-" + label + ".out";
  std::remove(log.c_str());
  std::vector<std::string> argv = {"/usr/bin/wrk", "-t" + std::to_string(w.threads),
                                   "-c" + std::to_string(w.connections),
                                   "-d" + std::to_string(w.duration_s) + "s", "--latency"};
  if (!w.script.empty()) {
    argv.push_back("-s");
    argv.push_back(w.script);
  }
  argv.push_back(url);
  pid_t pid = SpawnPlain(argv, {}, log);
  if (pid < 0 || !WaitExit(pid, (w.duration_s + 30) * 1000)) {
    KillAndReap(pid);
    std::fprintf(stderr, "wrk %s did not finish\n", label.c_str());
    return {};
  }
  std::ifstream in(log);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  WrkResult r = ParseWrk(out);
  if (cpu_pid > 0 && r.rps > 0) {
    r.cpu_us_per_request = (cpu() - cpu0) / (r.rps * w.duration_s) * 1e6;
  }
  if (!r.ok)
    std::fprintf(stderr, "wrk %s output not understood:\n%s\n", label.c_str(), out.c_str());
  std::printf(
      "  %-8s %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms  errors %ld  proxy cpu %5.1f us/req"
      "  (%s)\n",
      label.c_str(), r.rps, r.p50_ms, r.p99_ms, r.errors, r.cpu_us_per_request, url.c_str());
  std::fflush(stdout);
  return r;
}

// Starts nginx proxying 127.0.0.1:listen_port to 127.0.0.1:upstream_port; -1 on failure.
pid_t StartNginx(const std::string& prefix, int listen_port, int upstream_port) {
  std::string conf = prefix + "/nginx.conf";
  WriteFile(conf, "daemon off;\nworker_processes 2;\npid " + prefix + "/nginx.pid;\nerror_log " +
                      prefix +
                      "/error.log warn;\n"
                      "events { worker_connections 4096; }\n"
                      "http {\n  access_log off;\n"
                      "  client_body_temp_path " +
                      prefix +
                      "/body;\n"
                      "  proxy_temp_path " +
                      prefix +
                      "/proxy;\n"
                      "  fastcgi_temp_path " +
                      prefix +
                      "/fastcgi;\n"
                      "  uwsgi_temp_path " +
                      prefix +
                      "/uwsgi;\n"
                      "  scgi_temp_path " +
                      prefix +
                      "/scgi;\n"
                      "  upstream app {\n    server 127.0.0.1:" +
                      std::to_string(upstream_port) +
                      ";\n    keepalive 128;\n  }\n"
                      "  server {\n    listen 127.0.0.1:" +
                      std::to_string(listen_port) +
                      ";\n    location / {\n      proxy_pass http://app;\n"
                      "      proxy_http_version 1.1;\n"
                      "      proxy_set_header Connection \"\";\n    }\n  }\n}\n");
  pid_t pid = SpawnPlain({"/usr/sbin/nginx", "-p", prefix, "-c", conf, "-e", prefix + "/error.log"},
                         {}, prefix + "/nginx.out");
  if (pid < 0) return -1;
  if (!WaitFor([&] { return CanConnect(listen_port); }, 10s)) {
    KillAndReap(pid);
    return -1;
  }
  return pid;
}

// Starts tide-gateway-bench on listen_port in front of 127.0.0.1:upstream_port; -1 if it is not
// built or does not start.
pid_t StartStandaloneGateway(const std::string& dir, int listen_port, int upstream_port) {
  std::string bin =
      (std::filesystem::path(tide::testing::TidedBin()).parent_path() / "tide-gateway-bench")
          .string();
  if (!std::filesystem::exists(bin)) {
    std::fprintf(stderr, "--standalone: %s is not built\n", bin.c_str());
    return -1;
  }
  pid_t pid = SpawnPlain({bin, "--listen", "127.0.0.1:" + std::to_string(listen_port), "--upstream",
                          "127.0.0.1:" + std::to_string(upstream_port), "--workload", "warm"},
                         {}, dir + "/gateway-bench.out");
  if (pid < 0) return -1;
  if (!WaitFor([&] { return CanConnect(listen_port); }, 10s)) {
    KillAndReap(pid);
    return -1;
  }
  return pid;
}

int Run(WrkSettings w, int rounds, bool standalone, const WorkloadConfig& cfg) {
  std::printf("warm_bench: wrk -t%d -c%d -d%ds against %s: direct, Tide gateway, nginx\n",
              w.threads, w.connections, w.duration_s, TinyHttpBin().c_str());
  std::printf("  configuration: %s; %s, response body %d bytes\n", cfg.Describe().c_str(),
              w.request_bytes > 0
                  ? ("POST with a " + std::to_string(w.request_bytes) + "-byte body").c_str()
                  : "GET without a body",
              w.response_bytes);
  std::printf("  load average at start: %s\n", LoadAverage().c_str());
  TempDir dir;
  w.script = WriteWrkScript(dir.path(), w.request_bytes);
  Tided::Options o;
  o.local_agent = true;
  Tided tided(dir.path(), o);
  std::string yaml =
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: warm}\nspec:\n"
      "  command: [\"" +
      TinyHttpBin() + "\"]\n  env: {BODY_BYTES: \"" + std::to_string(w.response_bytes) +
      "\"}\n  replicas: 1\n  terminationGracePeriodSeconds: 1\n" + cfg.SpecLines();
  auto applied = tided.Post("/v1/apply", yaml);
  if (applied.status != 200 || !WaitFor([&] { return tided.ReadyCount("warm") == 1; }, 20s)) {
    std::fprintf(stderr, "the Service did not become Ready: %d %s\n", applied.status,
                 applied.body.c_str());
    return 2;
  }
  int port = tided.Instances("warm")[0].value("port", 0);
  std::printf("  limit enforced by: %s\n", EnforcerOf(tided.Instances("warm")).c_str());
  int ng_port = FreePortRange(1);
  std::string prefix = dir.path() + "/nginx";
  std::filesystem::create_directories(prefix);
  pid_t nginx = StartNginx(prefix, ng_port, port);
  if (nginx < 0) {
    std::fprintf(stderr, "nginx did not start (see %s/error.log)\n", prefix.c_str());
    return 2;
  }
  pid_t alone = -1;
  int alone_port = 0;
  if (standalone) {
    alone_port = FreePortRange(1);
    alone = StartStandaloneGateway(dir.path(), alone_port, port);
    if (alone < 0) {
      KillAndReap(nginx);
      return 2;
    }
  }
  std::string direct_url = "http://127.0.0.1:" + std::to_string(port) + "/";
  std::string gw_url = tided.gateway() + "/service/warm/";
  std::string ng_url = "http://127.0.0.1:" + std::to_string(ng_port) + "/";

  WrkResult direct = RunWrk("direct", direct_url, w, dir.path());
  std::vector<double> gw_rps, gw_p99, ng_rps, ng_p99, gw_cpu, ng_cpu;
  long errors = direct.errors;
  bool all_ok = direct.ok;
  for (int r = 0; r < rounds; ++r) {
    WrkResult n = RunWrk("nginx", ng_url, w, dir.path(), nginx, /*with_children=*/true);
    WrkResult g = RunWrk("gateway", gw_url, w, dir.path(), tided.proc()->pid());
    if (alone > 0) {
      WrkResult a =
          RunWrk("gw-alone", "http://127.0.0.1:" + std::to_string(alone_port) + "/service/warm/", w,
                 dir.path(), alone);
      all_ok = all_ok && a.ok;
      errors += a.errors;
    }
    all_ok = all_ok && n.ok && g.ok;
    errors += n.errors + g.errors;
    ng_rps.push_back(n.rps);
    ng_p99.push_back(n.p99_ms);
    ng_cpu.push_back(n.cpu_us_per_request);
    gw_cpu.push_back(g.cpu_us_per_request);
    gw_rps.push_back(g.rps);
    gw_p99.push_back(g.p99_ms);
  }
  KillAndReap(nginx);
  KillAndReap(alone);
  if (!all_ok) return 2;
  double g_rps = Percentile(gw_rps, 50), n_rps = Percentile(ng_rps, 50);
  double g_p99 = Percentile(gw_p99, 50), n_p99 = Percentile(ng_p99, 50);

  std::printf("  load average at the end: %s\n", LoadAverage().c_str());
  Summary s("warm_bench (" + cfg.Describe() + ")");
  s.Info("direct req/s", direct.rps, "req/s");
  s.Info("direct p99", direct.p99_ms, "ms");
  s.Info("nginx req/s (median of rounds)", n_rps, "req/s");
  s.Info("nginx p99 (median of rounds)", n_p99, "ms");
  s.Info("gateway req/s (median of rounds)", g_rps, "req/s");
  s.Info("gateway p99 (median of rounds)", g_p99, "ms");
  s.Info("nginx cpu per request (median)", Percentile(ng_cpu, 50), "us");
  s.Info("gateway cpu per request (median, tided alone)", Percentile(gw_cpu, 50), "us");
  s.AtLeast("gateway req/s / nginx req/s", g_rps / n_rps, 0.8, "x");
  s.AtMost("gateway p99 / nginx p99", g_p99 / n_p99, 2.0, "x");
  s.AtMost("failed requests (socket errors, non-2xx)", static_cast<double>(errors), 0, "");
  return s.Print();
}

}  // namespace
}  // namespace tide::bench

int main(int argc, char** argv) {
  tide::bench::WrkSettings w;
  int rounds = 3;
  bool bad = false;
  bool standalone = false;
  tide::bench::WorkloadConfig cfg;
  for (int i = 1; i < argc && !bad; ++i) {
    std::string a = argv[i];
    if (tide::bench::ParseMemoryFlag(argc, argv, &i, &cfg, &bad)) continue;
    if (a == "--standalone") {
      standalone = true;
      continue;
    }
    int* dst = a == "--threads"          ? &w.threads
               : a == "--connections"    ? &w.connections
               : a == "--duration"       ? &w.duration_s
               : a == "--rounds"         ? &rounds
               : a == "--request-bytes"  ? &w.request_bytes
               : a == "--response-bytes" ? &w.response_bytes
                                         : nullptr;
    if (!dst || i + 1 >= argc) {
      bad = true;
      break;
    }
    *dst = std::atoi(argv[++i]);
  }
  if (bad || w.threads < 1 || w.threads > 64 || w.connections < w.threads ||
      w.connections > 10000 || w.duration_s < 1 || w.duration_s > 600 || rounds < 1 ||
      rounds > 20 || w.request_bytes < 0 || w.request_bytes > 1048576 || w.response_bytes < 1 ||
      w.response_bytes > 16384) {
    std::fprintf(stderr,
                 "usage: warm_bench [--threads 1..64] [--connections N] [--duration 1..600] "
                 "[--rounds 1..20] [--standalone] [--memory 64Mi|none] "
                 "[--request-bytes 0..1048576] [--response-bytes 1..16384]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    return tide::bench::Run(w, rounds, standalone, cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warm_bench: %s\n", e.what());
    return 2;
  }
}
