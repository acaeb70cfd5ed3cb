// fleet_bench (issue 11, "1,000 agents per tided"): one tided (--no-local-agent) and N simulated
// agents in this process. Each simulated agent speaks the real agent protocol with its own
// credential: it joins with the join token (POST /v1/agent/register), long-polls its
// assignments (GET /v1/agent/assignments, waitMs=2000, one thread per agent as tide-agent has),
// and heartbeats every second (POST /v1/agent/status) reporting every assigned instance Ready
// with a fake pid and port (nothing is started: the figures are tided's cost, not the
// instances'). Reports:
//   - registration: wall time for all N to join (8 threads), and the p99 of one join;
//   - delivery: from one apply of N x M instances to every instance delivered to its agent;
//   - heartbeat handling p99 (client-side round trip of POST /v1/agent/status) at steady state,
//     with GET /healthz's p99 through the same listener in the same window as the reference
//     (the floor of any call through the front door on this machine);
//   - tided CPU (share of one core) and RSS over the steady window.
// Targets (issue 11) are for 1,000 agents x 10 instances; the run prints the N it used.
// Usage: fleet_bench [--agents 100] [--instances 10] [--steady-seconds 10]
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "api/json.h"
#include "bench/bench_util.h"
#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::bench {
namespace {

using tide::testing::TempDir;
using tide::testing::Tided;
using tide::testing::WaitFor;
using namespace std::chrono_literals;

struct SimAgent {
  std::string name, credential;
  std::mutex mu;
  std::vector<InstanceAssignment> assigned;  // latest set (mu)
  std::atomic<int> count{0};
};

struct Fleet {
  int port = 0;
  std::vector<std::unique_ptr<SimAgent>> agents;
  std::atomic<bool> stop{false};
  std::atomic<long> delivered{0};  // sum of the agents' current set sizes
  std::mutex lat_mu;
  std::vector<double> hb_ms;  // heartbeat round trips (lat_mu)
  std::atomic<bool> record{false};
  std::atomic<long> hb_failed{0};
};

httplib::Headers Bearer(const std::string& t) { return {{"Authorization", "Bearer " + t}}; }

bool Join(Fleet& f, SimAgent& a, const std::string& join_token) {
  json body;
  NodeInfo info;
  info.name = a.name;
  info.address = "127.0.0.1";
  info.agent_url = "http://127.0.0.1:1";
  info.capacity.cpu = 64;
  info.capacity.memory_bytes = int64_t{64} << 30;
  body["node"] = info;
  body["instances"] = json::array();
  httplib::Client cli("127.0.0.1", f.port);
  cli.set_read_timeout(30, 0);
  auto r = cli.Post("/v1/agent/register", Bearer(join_token), body.dump(), "application/json");
  if (!r || r->status != 200) return false;
  a.credential = json::parse(r->body).value("credential", "");
  return !a.credential.empty();
}

void LongPoll(Fleet& f, SimAgent& a) {
  int64_t version = -1;
  while (!f.stop) {
    httplib::Client cli("127.0.0.1", f.port);
    cli.set_read_timeout(40, 0);
    auto r = cli.Get("/v1/agent/assignments?node=" + a.name + "&after=" + std::to_string(version) +
                         "&waitMs=2000",
                     Bearer(a.credential));
    if (!r || r->status != 200) {
      std::this_thread::sleep_for(100ms);  // tided busy: the agent's own backoff
      continue;
    }
    AssignmentSet set = json::parse(r->body).get<AssignmentSet>();
    if (set.version == version) continue;
    version = set.version;
    const int n = static_cast<int>(set.instances.size());
    {
      std::lock_guard<std::mutex> lk(a.mu);
      a.assigned = std::move(set.instances);
    }
    f.delivered += n - a.count.exchange(n);
  }
}

void Heartbeats(Fleet& f, size_t from, size_t step) {
  auto next = SteadyClock::now();
  while (!f.stop) {
    for (size_t i = from; i < f.agents.size() && !f.stop; i += step) {
      SimAgent& a = *f.agents[i];
      NodeReport rep;
      rep.node = a.name;
      {
        std::lock_guard<std::mutex> lk(a.mu);
        int port = 30000;
        for (const auto& as : a.assigned) {
          InstanceStatus st;
          st.id = as.id;
          st.workload = as.workload;
          st.node = a.name;
          st.generation = as.generation;
          st.pid = 1000000 + port;  // never looked at by tided beyond display
          st.port = ++port;
          st.state = InstanceState::kReady;
          st.started_at_ms = 1;
          st.ready_at_ms = 1;
          rep.instances.push_back(std::move(st));
        }
      }
      const std::string body = json(rep).dump();
      httplib::Client cli("127.0.0.1", f.port);
      cli.set_read_timeout(10, 0);
      const auto t0 = SteadyClock::now();
      auto r = cli.Post("/v1/agent/status", Bearer(a.credential), body, "application/json");
      const double ms = MsSince(t0);
      if (!r || r->status != 200) {
        ++f.hb_failed;
      } else if (f.record) {
        std::lock_guard<std::mutex> lk(f.lat_mu);
        f.hb_ms.push_back(ms);
      }
    }
    next += 1s;  // every agent once a second
    std::this_thread::sleep_until(next);
  }
}

int Run(int n_agents, int per_agent, int steady_s) {
  std::printf(
      "fleet_bench: %d simulated agents x %d instances (targets are for 1000 x 10), "
      "load %s\n",
      n_agents, per_agent, LoadAverage().c_str());
  TempDir dir;
  Tided::Options o;
  o.node_grace = "30s";
  o.extra_args = {"--api-agent-wait-workers", std::to_string(n_agents + 16)};
  Tided tided(dir.path(), o);
  Fleet f;
  f.port = std::stoi(tided.api().substr(tided.api().rfind(':') + 1));
  const pid_t pid = tided.proc()->pid();
  for (int i = 0; i < n_agents; ++i) {
    f.agents.push_back(std::make_unique<SimAgent>());
    f.agents.back()->name = "sim-" + std::to_string(i);
  }

  // 1. Registration.
  const std::string join = Tided::JoinToken();
  std::vector<double> join_ms(n_agents);
  std::atomic<int> next{0}, failed{0};
  const auto r0 = SteadyClock::now();
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t) {
      ts.emplace_back([&] {
        for (int i; (i = next++) < n_agents;) {
          const auto t0 = SteadyClock::now();
          if (!Join(f, *f.agents[i], join)) ++failed;
          join_ms[i] = MsSince(t0);
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  const double register_ms = MsSince(r0);
  if (failed > 0) {
    std::fprintf(stderr, "fleet_bench: %d registrations failed\n", failed.load());
    return 2;
  }
  std::printf("registered %d agents in %.0f ms (one join: p50 %.1f ms, p99 %.1f ms)\n", n_agents,
              register_ms, Percentile(join_ms, 50), Percentile(join_ms, 99));

  std::vector<std::thread> threads;
  for (auto& a : f.agents) threads.emplace_back([&f, p = a.get()] { LongPoll(f, *p); });
  // Enough senders that every agent can beat once a second even when a round trip is slow.
  const int hb_threads = std::max(1, std::min(100, n_agents / 10));
  for (int t = 0; t < hb_threads; ++t)
    threads.emplace_back([&f, t, hb_threads] { Heartbeats(f, t, hb_threads); });

  // 2. One apply of N x M instances, until every one is delivered to its agent.
  const long total = static_cast<long>(n_agents) * per_agent;
  const auto a0 = SteadyClock::now();
  auto r =
      tided.Post("/v1/apply", tide::testing::TestappManifest("fleet", static_cast<int>(total)));
  if (r.status != 200) {
    std::fprintf(stderr, "fleet_bench: apply: %d %s\n", r.status, r.body.c_str());
    f.stop = true;
    for (auto& t : threads) t.join();
    return 2;
  }
  const bool all = WaitFor([&] { return f.delivered.load() >= total; }, 120s);
  const double deliver_ms = MsSince(a0);
  std::printf("apply of %ld instances -> all delivered: %s in %.0f ms\n", total, all ? "yes" : "NO",
              deliver_ms);
  const bool ready = WaitFor([&] { return tided.ReadyCount("fleet") >= total; }, 120s);
  std::printf("tided shows all %ld Ready: %s after %.0f ms\n", total, ready ? "yes" : "NO",
              MsSince(a0));

  // 3. Steady state: heartbeats and CPU over steady_s, /healthz beside as the reference.
  std::vector<double> health_ms;
  f.record = true;
  const double cpu0 = CpuSeconds(pid);
  const auto s0 = SteadyClock::now();
  while (MsSince(s0) < steady_s * 1000.0) {
    const auto t0 = SteadyClock::now();
    RawHttpGet(f.port, "/healthz", false, 5000);
    health_ms.push_back(MsSince(t0));
    std::this_thread::sleep_for(50ms);
  }
  const double cpu_share = (CpuSeconds(pid) - cpu0) / (MsSince(s0) / 1000.0);
  f.record = false;
  const long rss_kib = RssKib(pid);
  const long threads_n = StatusField(pid, "Threads");
  f.stop = true;
  for (auto& t : threads) t.join();
  double hb_p99 = 0, hb_p50 = 0;
  size_t hb_n = 0;
  {
    std::lock_guard<std::mutex> lk(f.lat_mu);
    hb_p99 = Percentile(f.hb_ms, 99);
    hb_p50 = Percentile(f.hb_ms, 50);
    hb_n = f.hb_ms.size();
  }
  std::printf(
      "steady %ds: %zu heartbeats (%.0f/s, %d wanted), p50 %.1f ms, p99 %.1f ms (%ld failed "
      "overall); "
      "/healthz p99 %.1f ms; tided %.1f%% of a core, RSS %.1f MiB, %ld threads\n",
      steady_s, hb_n, hb_n / static_cast<double>(steady_s), n_agents, hb_p50, hb_p99,
      f.hb_failed.load(), Percentile(health_ms, 99), cpu_share * 100, rss_kib / 1024.0, threads_n);
  std::printf("load at the end: %s\n", LoadAverage().c_str());

  Summary s("fleet_bench, " + std::to_string(n_agents) + " agents x " + std::to_string(per_agent) +
            " instances");
  s.Info("registration of all agents", register_ms, "ms");
  s.AtMost("apply to all delivered", all ? deliver_ms : 1e9, 3000, "ms");
  s.AtMost("heartbeat p99", hb_p99, 50, "ms");
  s.Info("reference: GET /healthz p99", Percentile(health_ms, 99), "ms");
  s.AtMost("tided CPU at steady state", cpu_share * 100, 50, "% of a core");
  s.AtMost("tided RSS at steady state", rss_kib / 1024.0, 200, "MiB");
  return s.Print();
}

}  // namespace
}  // namespace tide::bench

int main(int argc, char** argv) {
  int agents = 100, per = 10, steady = 10;
  bool bad = false;
  for (int i = 1; i < argc && !bad; ++i) {
    std::string a = argv[i];
    int* dst = a == "--agents"           ? &agents
               : a == "--instances"      ? &per
               : a == "--steady-seconds" ? &steady
                                         : nullptr;
    if (!dst || i + 1 >= argc) {
      bad = true;
      break;
    }
    *dst = std::atoi(argv[++i]);
  }
  if (bad || agents < 1 || agents > 5000 || per < 1 || per > 100 || steady < 1 || steady > 600) {
    std::fprintf(stderr,
                 "usage: fleet_bench [--agents 1..5000] [--instances 1..100] "
                 "[--steady-seconds 1..600]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    return tide::bench::Run(agents, per, steady);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fleet_bench: %s\n", e.what());
    return 2;
  }
}
