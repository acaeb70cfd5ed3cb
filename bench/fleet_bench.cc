// fleet_bench (issue 11, "1,000 agents per tided"): one tided (--no-local-agent) and N simulated
// agents in this process. Each simulated agent speaks the real agent protocol with its own
// credential: it joins with the join token (POST /v1/agent/register), long-polls its
// assignments with deltas (GET /v1/agent/assignments?delta=true, api/agent_delta.h) and
// heartbeats every second (POST /v1/agent/status, with report deltas as tide-agent sends them)
// reporting every assigned instance Ready with a fake pid and port and, like a real agent's
// samples of busy instances, new CPU and memory figures in every report (nothing is started: the
// figures are tided's cost, not the instances'). Every simulated agent and client runs as a
// coroutine (Beast, epoll) on one of three Asio threads: the agents on one, the watches and GETs
// on another, the timed admin GET and /healthz on a third, so that what is timed never queues
// behind the agents' JSON work in this process. Agents keep their connections alive, as
// tide-agent's client does (--no-keep-alive: a connection per request). Reports:
//   - registration: wall time for all N to join (64 at a time), and the p99 of one join;
//   - delivery: from one apply of N x M instances to every instance delivered to its agent;
//   - heartbeat handling p99, server side (tide_agent_report_duration_seconds over the steady
//     window: head arrived to answer written) and client side (round trip), with GET /healthz's
//     p99 through the same listener in the same window as the reference;
//   - tided CPU (share of one core) and RSS over the steady window;
//   - then, under the same fleet: W watches (waitMs, If-None-Match) and G GET/s from a read
//     token, while an admin token's GET /v1/workloads is timed: its p99, and how many nodes
//     left Ready (events NodeNotReady) during the whole run.
// Targets (issue 11) are for 1,000 agents x 10 instances, 500 watches, 200 GET/s.
// Usage: fleet_bench [--agents 1000] [--instances 10] [--steady-seconds 10] [--watches 500]
//                    [--gets 200]
#include <signal.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include "api/agent_delta.h"
#include "api/json.h"
#include "bench/bench_util.h"
#include "tests/harness.h"
#include "tests/harness_extra.h"

namespace tide::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using tide::testing::TempDir;
using tide::testing::Tided;
using tide::testing::WaitFor;
using namespace std::chrono_literals;
constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

struct Answer {
  int status = 0;  // 0: no answer (connect, write or read failed)
  std::string body, etag;
};

// A connection a simulated agent keeps for its next request, as tide-agent's HTTP client does
// (keep-alive: one for heartbeats, one for the long-poll). Empty: not connected.
using KeptConn = std::unique_ptr<beast::tcp_stream>;
bool g_keep_alive = true;  // --no-keep-alive: a connection per request, as before session 8

// One request: on `kept` when given (connected first if it is not; a kept connection the server
// closed since is reconnected once), else on a connection of its own, as tidectl makes them.
asio::awaitable<Answer> Call(int port, http::verb verb, std::string target, std::string token,
                             std::string body = "", std::string if_none_match = "",
                             std::chrono::seconds timeout = 70s, KeptConn* kept = nullptr) {
  KeptConn own;
  if (!g_keep_alive) kept = nullptr;
  KeptConn& conn = kept ? *kept : own;
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!if_none_match.empty()) req.set(http::field::if_none_match, if_none_match);
  if (verb == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
  }
  req.keep_alive(kept != nullptr);
  Answer out;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = conn != nullptr;
    if (!conn) {
      conn = std::make_unique<beast::tcp_stream>(co_await asio::this_coro::executor);
      conn->expires_after(timeout);
      auto [cerr] = co_await conn->async_connect(
          tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<unsigned short>(port)), kUse);
      if (cerr) {
        conn.reset();
        co_return out;
      }
    }
    conn->expires_after(timeout);
    auto [werr, wn] = co_await http::async_write(*conn, req, kUse);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    beast::error_code rerr = werr;
    if (!werr) {
      auto [e, rn] = co_await http::async_read(*conn, buf, parser, kUse);
      rerr = e;
    }
    if (rerr) {
      conn.reset();
      if (reused) continue;  // closed by the server while idle: once more on a new one
      co_return out;
    }
    const auto& res = parser.get();
    out.status = res.result_int();
    out.etag = std::string(res[http::field::etag]);
    out.body = res.body();
    if (!res.keep_alive()) conn.reset();
    co_return out;
  }
  co_return out;
}

asio::awaitable<void> SleepFor(SteadyClock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(kUse);
}

struct SimAgent {
  std::string name, credential;
  std::vector<InstanceAssignment> assigned;
  int64_t version = -1;
  std::vector<InstanceStatus> statuses;  // what it reports for `assigned`
  ReportDeltaState reports;              // report deltas, as tide-agent sends them
  KeptConn beat_conn, poll_conn;         // kept alive, as tide-agent's clients do
};

struct Fleet {
  int port = 0;
  std::vector<SimAgent> agents;
  // Three io threads: the agents, the clients (watches, GETs), the probes (the timed admin GET
  // and /healthz), so that what is timed does not queue behind the agents' JSON work in this
  // process. Each field is used on one of them only, except these two.
  std::atomic<bool> stop{false}, record{false};
  long delivered = 0;
  double max_send_gap_ms = 0;  // agents' thread: the longest gap between an agent's sends
  std::vector<double> hb_ms, health_ms, admin_ms;
  long hb_failed = 0, deltas = 0, fulls = 0, watch_answers = 0, watch_refused = 0;
  long gets_done = 0, gets_failed = 0;
};

std::vector<InstanceStatus> StatusesOf(const SimAgent& a) {
  std::vector<InstanceStatus> out;
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
    out.push_back(std::move(st));
  }
  return out;
}

asio::awaitable<void> Joiner(Fleet& f, const std::string& join, size_t* next,
                             std::vector<double>* ms, int* failed) {
  while (*next < f.agents.size()) {
    SimAgent& a = f.agents[(*next)++];
    json body;
    NodeInfo info;
    info.name = a.name;
    info.address = "127.0.0.1";
    info.agent_url = "http://127.0.0.1:1";
    info.capacity.cpu = 64;
    info.capacity.memory_bytes = int64_t{64} << 30;
    body["node"] = info;
    body["instances"] = json::array();
    const auto t0 = SteadyClock::now();
    Answer r = co_await Call(f.port, http::verb::post, "/v1/agent/register", join, body.dump());
    ms->push_back(MsSince(t0));
    if (r.status == 200) a.credential = json::parse(r.body).value("credential", "");
    if (a.credential.empty()) ++*failed;
  }
}

asio::awaitable<void> LongPoll(Fleet& f, SimAgent& a) {
  while (!f.stop) {
    Answer r = co_await Call(f.port, http::verb::get,
                             "/v1/agent/assignments?node=" + a.name +
                                 "&after=" + std::to_string(a.version) + "&waitMs=20000&delta=true",
                             a.credential, "", "", 70s, &a.poll_conn);
    if (f.stop) break;
    AssignmentDelta d;
    if (r.status != 200 || !DecodeAssignmentAnswer(json::parse(r.body, nullptr, false), &d).ok()) {
      co_await SleepFor(100ms);  // the agent's own backoff
      continue;
    }
    ++(d.full ? f.fulls : f.deltas);
    const long before = static_cast<long>(a.assigned.size());
    if (!ApplyAssignmentDelta(d, &a.assigned, &a.version).ok()) {
      a.version = -1;  // a gap: ask for the full set
      continue;
    }
    f.delivered += static_cast<long>(a.assigned.size()) - before;
    a.statuses = StatusesOf(a);
  }
}

asio::awaitable<void> Heartbeats(Fleet& f, SimAgent& a, SteadyClock::duration offset) {
  co_await SleepFor(offset);  // spread over the second, as real agents started at random times
  auto next = SteadyClock::now();
  auto last_sent = SteadyClock::now();
  while (!f.stop) {
    const auto t0 = SteadyClock::now();
    // How late this process itself is: the longest gap between one agent's heartbeats as sent.
    f.max_send_gap_ms = std::max(f.max_send_gap_ms, MsSince(last_sent));
    last_sent = t0;
    // Busy instances, as a real agent samples them every second: CPU and memory move in every
    // report (the expensive case; an idle fleet's reports carry nothing).
    for (auto& st : a.statuses) {
      st.cpu = 0.05 + 0.01 * static_cast<double>(st.port % 7);
      st.cpu_seconds_total += st.cpu;
      st.memory_bytes = (int64_t{24} << 20) + 4096 * (st.memory_bytes / 4096 % 64 + 1);
    }
    const std::string body = NextReport(a.name, a.statuses, &a.reports);
    Answer r = co_await Call(f.port, http::verb::post, "/v1/agent/status", a.credential, body, "",
                             10s, &a.beat_conn);
    OnReportAnswer(r.status, r.body, &a.reports);
    if (r.status != 200) {
      if (++f.hb_failed <= 5)
        std::fprintf(stderr, "fleet_bench: heartbeat of %s: %d %s\n", a.name.c_str(), r.status,
                     r.body.substr(0, 200).c_str());
    } else if (f.record) {
      f.hb_ms.push_back(MsSince(t0));
    }
    next += 1s;
    co_await SleepFor(next - SteadyClock::now());
  }
}

asio::awaitable<void> Sampler(Fleet& f, std::vector<double>* out, std::string target,
                              std::string token, SteadyClock::duration every) {
  while (!f.stop) {
    const auto t0 = SteadyClock::now();
    Answer r = co_await Call(f.port, http::verb::get, target, token, "", "", 10s);
    if (f.record && r.status == 200) out->push_back(MsSince(t0));
    co_await SleepFor(every);
  }
}

asio::awaitable<void> Watcher(Fleet& f, std::string token, std::string etag,
                              const std::atomic<bool>* on) {
  while (!f.stop && *on) {
    Answer r = co_await Call(f.port, http::verb::get, "/v1/workloads/watched?waitMs=30000", token,
                             "", etag);
    if (r.status == 200 || r.status == 304) {
      ++f.watch_answers;
      if (!r.etag.empty()) etag = r.etag;
    } else {
      ++f.watch_refused;
      co_await SleepFor(1s);
    }
  }
}

// A free function, not a capturing lambda: GCC 12 destroys a coroutine lambda's captures twice.
asio::awaitable<void> GetOnce(Fleet& f, std::string token) {
  Answer r = co_await Call(f.port, http::verb::get, "/v1/workloads", token, "", "", 10s);
  ++(r.status == 200 ? f.gets_done : f.gets_failed);
}

asio::awaitable<void> Getter(Fleet& f, std::string token, int per_s, const std::atomic<bool>* on) {
  const auto every = std::chrono::microseconds(1000000 / std::max(1, per_s));
  auto next = SteadyClock::now();
  while (!f.stop && *on) {
    next += every;
    asio::co_spawn(co_await asio::this_coro::executor, GetOnce(f, token), asio::detached);
    co_await SleepFor(next - SteadyClock::now());
  }
}

// Server-side percentile from a Prometheus histogram's buckets: the upper bound of the bucket
// the p-th observation falls in, over the difference of two scrapes.
std::map<double, double> Buckets(const std::string& metrics, const std::string& family) {
  std::map<double, double> out;
  std::istringstream in(metrics);
  std::string line;
  const std::string prefix = family + "_bucket{le=\"";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    const size_t q = line.find('"', prefix.size());
    const std::string le = line.substr(prefix.size(), q - prefix.size());
    out[le == "+Inf" ? 1e18 : std::stod(le)] = std::stod(line.substr(line.rfind(' ') + 1));
  }
  return out;
}

// The value of one series (`name{labels}` as /metrics writes it); 0 when absent.
double SeriesValue(const std::string& metrics, const std::string& series) {
  const size_t at = metrics.find("\n" + series + " ");
  return at == std::string::npos ? 0 : std::atof(metrics.c_str() + at + series.size() + 2);
}

double BucketPercentile(const std::map<double, double>& a, const std::map<double, double>& b,
                        double p, double* count) {
  *count = b.empty() ? 0 : b.rbegin()->second - (a.empty() ? 0 : a.rbegin()->second);
  for (const auto& [le, n] : b) {
    const double d = n - (a.count(le) ? a.at(le) : 0);
    if (*count > 0 && d >= *count * p / 100) return le * 1000;
  }
  return 0;
}

int Run(int n_agents, int per_agent, int steady_s, int n_watches, int gets) {
  std::printf(
      "fleet_bench: %d simulated agents x %d instances, %d watches + %d GET/s (targets are for "
      "1000 x 10, 500, 200), load %s\n",
      n_agents, per_agent, n_watches, gets, LoadAverage().c_str());
  TempDir dir;
  Tided::Options o;
  o.node_grace = "10s";
  // One read token holds every watch, from one address: the per-token and per-address limits
  // are raised to what the scenario asks (defaults: 16 watches per token, 256 per address).
  o.extra_args = {"--api-max-watches",           std::to_string(n_watches + 64),
                  "--api-max-watches-per-token", std::to_string(n_watches + 64),
                  "--api-max-per-peer",          std::to_string(n_watches + 1000),
                  "--api-rate-per-token",        std::to_string(4 * gets + 1000)};
  Tided tided(dir.path(), o);
  Fleet f;
  f.port = std::stoi(tided.api().substr(tided.api().rfind(':') + 1));
  const pid_t pid = tided.proc()->pid();
  f.agents.resize(n_agents);
  for (int i = 0; i < n_agents; ++i) f.agents[i].name = "sim-" + std::to_string(i);
  asio::io_context ctx{1};

  // 1. Registration, 64 at a time.
  std::vector<double> join_ms;
  size_t next = 0;
  int failed = 0;
  const std::string join = Tided::JoinToken();
  const auto r0 = SteadyClock::now();
  for (int i = 0; i < 64; ++i)
    asio::co_spawn(ctx, Joiner(f, join, &next, &join_ms, &failed), asio::detached);
  ctx.run();
  ctx.restart();
  const double register_ms = MsSince(r0);
  if (failed > 0) {
    std::fprintf(stderr, "fleet_bench: %d registrations failed\n", failed);
    return 2;
  }
  std::printf("registered %d agents in %.0f ms (one join: p50 %.1f ms, p99 %.1f ms)\n", n_agents,
              register_ms, Percentile(join_ms, 50), Percentile(join_ms, 99));

  // The fleet runs on one thread from here on; the main thread only applies and reads.
  for (int i = 0; i < n_agents; ++i) {
    asio::co_spawn(ctx, LongPoll(f, f.agents[i]), asio::detached);
    asio::co_spawn(ctx, Heartbeats(f, f.agents[i], std::chrono::milliseconds(1000 * i / n_agents)),
                   asio::detached);
  }
  asio::io_context clients{1}, probes{1};
  auto work = asio::make_work_guard(ctx);
  auto clients_work = asio::make_work_guard(clients);
  auto probes_work = asio::make_work_guard(probes);
  std::thread io([&] { ctx.run(); });
  std::thread clients_io([&] { clients.run(); });
  std::thread probes_io([&] { probes.run(); });
  auto on = [](asio::io_context& c, auto fn) {  // runs fn on c's thread and waits for it
    std::promise<void> done;
    asio::post(c, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  };
  auto on_io = [&](auto fn) { on(ctx, fn); };
  auto delivered = [&] {
    long d = 0;
    on_io([&] { d = f.delivered; });
    return d;
  };

  // 2. One apply of N x M instances, until every one is delivered to its agent.
  const long total = static_cast<long>(n_agents) * per_agent;
  const auto a0 = SteadyClock::now();
  auto r =
      tided.Post("/v1/apply", tide::testing::TestappManifest("fleet", static_cast<int>(total)));
  bool all = false;
  double deliver_ms = 0;
  if (r.status == 200) {
    all = WaitFor([&] { return delivered() >= total; }, 120s);
    deliver_ms = MsSince(a0);
  } else {
    std::fprintf(stderr, "fleet_bench: apply: %d %s\n", r.status, r.body.c_str());
  }
  std::printf("apply of %ld instances -> all delivered: %s in %.0f ms\n", total, all ? "yes" : "NO",
              deliver_ms);
  const bool ready = all && WaitFor([&] { return tided.ReadyCount("fleet") >= total; }, 120s);
  std::printf("tided shows all %ld Ready: %s after %.0f ms\n", total, ready ? "yes" : "NO",
              MsSince(a0));
  // The workload the watches watch (small: an answer to a watch carries its instances).
  tided.Post("/v1/apply", tide::testing::TestappManifest("watched", 2));
  WaitFor([&] { return tided.ReadyCount("watched") >= 2; }, 60s);

  // 3. Steady state: heartbeats and CPU over steady_s, /healthz beside as the reference.
  std::atomic<bool> clients_on{true};
  f.record = true;
  on(probes, [&] {
    asio::co_spawn(probes, Sampler(f, &f.health_ms, "/healthz", "", 50ms), asio::detached);
  });
  const std::string m0 = tided.Get("/metrics").body;
  double cpu0 = CpuSeconds(pid);
  auto s0 = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::seconds(steady_s));
  const double cpu_share = (CpuSeconds(pid) - cpu0) / (MsSince(s0) / 1000.0);
  const long rss_kib = RssKib(pid);
  const std::string m1 = tided.Get("/metrics").body;
  double hb_n_server = 0;
  const double hb_p99_server =
      BucketPercentile(Buckets(m0, "tide_agent_report_duration_seconds"),
                       Buckets(m1, "tide_agent_report_duration_seconds"), 99, &hb_n_server);
  double reconcile_n = 0;
  const double reconcile_p99 =
      BucketPercentile(Buckets(m0, "tide_reconcile_duration_seconds"),
                       Buckets(m1, "tide_reconcile_duration_seconds"), 99, &reconcile_n);
  const std::string quick = "tide_agent_reports_total{path=\"quick\"}";
  const std::string full = "tide_agent_reports_total{path=\"full\"}";
  const double quick_n = SeriesValue(m1, quick) - SeriesValue(m0, quick);
  const double full_n = SeriesValue(m1, full) - SeriesValue(m0, full);
  std::vector<double> hb_ms, health_ms;
  long hb_failed = 0;
  on_io([&] {
    hb_ms.swap(f.hb_ms);
    hb_failed = f.hb_failed;
  });
  on(probes, [&] { health_ms.swap(f.health_ms); });
  std::printf(
      "steady %ds: %zu heartbeats (%.0f/s, %d wanted): server p99 <= %.1f ms (%.0f timed), "
      "client p50 %.1f ms p99 %.1f ms (%ld failed overall); /healthz p99 %.1f ms; tided %.1f%% "
      "of a core, RSS %.1f MiB, %ld threads\n",
      steady_s, hb_ms.size(), hb_ms.size() / static_cast<double>(steady_s), n_agents, hb_p99_server,
      hb_n_server, Percentile(hb_ms, 50), Percentile(hb_ms, 99), hb_failed,
      Percentile(health_ms, 99), cpu_share * 100, rss_kib / 1024.0, StatusField(pid, "Threads"));
  std::printf(
      "  reports taken quick (no control-loop lock) %.0f, full %.0f; reconcile passes %.0f, p99 "
      "<= %.1f ms\n",
      quick_n, full_n, reconcile_n, reconcile_p99);

  // 4. The same fleet with client load: watches, GETs, and the admin GET timed.
  auto first =
      tide::testing::Http("GET", tided.api() + "/v1/workloads/watched", "", Tided::ReadToken());
  const std::string etag = first.headers.count("ETag") ? first.headers["ETag"] : "";
  const std::string read = Tided::ReadToken(), admin = tided.token();
  on(clients, [&] {
    for (int i = 0; i < n_watches; ++i)
      asio::co_spawn(clients, Watcher(f, read, etag, &clients_on), asio::detached);
    asio::co_spawn(clients, Getter(f, read, gets, &clients_on), asio::detached);
  });
  on(probes, [&] {
    asio::co_spawn(probes, Sampler(f, &f.admin_ms, "/v1/workloads", admin, 50ms), asio::detached);
  });
  std::this_thread::sleep_for(2s);  // the watches are in
  on(probes, [&] {
    f.admin_ms.clear();
    f.health_ms.clear();
  });
  on_io([&] { f.hb_ms.clear(); });
  on(clients, [&] {
    f.gets_done = 0;
    f.watch_answers = 0;
  });
  cpu0 = CpuSeconds(pid);
  s0 = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::seconds(steady_s));
  const double cpu_share2 = (CpuSeconds(pid) - cpu0) / (MsSince(s0) / 1000.0);
  std::vector<double> admin_ms;
  long gets_done = 0, gets_failed = 0, watch_refused = 0, watch_answers = 0;
  on(probes, [&] {
    admin_ms.swap(f.admin_ms);
    health_ms.clear();
    health_ms.swap(f.health_ms);
  });
  double max_gap_ms = 0;
  on_io([&] {
    hb_ms.clear();
    hb_ms.swap(f.hb_ms);
    max_gap_ms = f.max_send_gap_ms;
  });
  on(clients, [&] {
    gets_done = f.gets_done;
    gets_failed = f.gets_failed;
    watch_refused = f.watch_refused;
    watch_answers = f.watch_answers;
  });
  clients_on = false;
  f.stop = true;
  json events = json::parse(tided.Get("/v1/events?limit=100000").body, nullptr, false);
  int not_ready = 0;
  if (events.contains("items")) {
    for (const auto& e : events["items"]) not_ready += e.value("reason", "") == "NodeNotReady";
  }
  std::printf(
      "with %d watches + %d GET/s: admin GET /v1/workloads p50 %.1f ms p99 %.1f ms; GETs done "
      "%.0f/s (%ld failed), watch answers %ld, refused %ld; heartbeat client p99 %.1f ms; /healthz "
      "p99 "
      "%.1f ms; tided %.1f%% of a core; NodeNotReady events over the run: %d (longest gap "
      "between one agent's heartbeats as this process sent them: %.0f ms)\n",
      n_watches, gets, Percentile(admin_ms, 50), Percentile(admin_ms, 99),
      gets_done / static_cast<double>(steady_s), gets_failed, watch_answers, watch_refused,
      Percentile(hb_ms, 99), Percentile(health_ms, 99), cpu_share2 * 100, not_ready, max_gap_ms);
  work.reset();
  clients_work.reset();
  probes_work.reset();
  ctx.stop();
  clients.stop();
  probes.stop();
  io.join();
  clients_io.join();
  probes_io.join();
  for (auto& a : f.agents) {  // the kept connections go before the io_context they belong to
    a.beat_conn.reset();
    a.poll_conn.reset();
  }
  std::printf("assignment answers: %ld full, %ld deltas; load at the end: %s\n", f.fulls, f.deltas,
              LoadAverage().c_str());

  Summary s("fleet_bench, " + std::to_string(n_agents) + " agents x " + std::to_string(per_agent) +
            " instances");
  s.Info("registration of all agents", register_ms, "ms");
  s.AtMost("apply to all delivered", all ? deliver_ms : 1e9, 3000, "ms");
  s.AtMost("heartbeat p99 (server side, bucket bound)", hb_p99_server, 50, "ms");
  s.Info("heartbeat p99 (client side, round trip)", Percentile(hb_ms, 99), "ms");
  s.Info("reference: GET /healthz p99", Percentile(health_ms, 99), "ms");
  s.AtMost("tided CPU at steady state", cpu_share * 100, 50, "% of a core");
  s.AtMost("tided RSS at steady state", rss_kib / 1024.0, 200, "MiB");
  s.AtMost("admin GET /v1/workloads p99 under client load", Percentile(admin_ms, 99), 100, "ms");
  s.AtMost("nodes that left Ready", not_ready, 0, "nodes");
  return s.Print();
}

}  // namespace
}  // namespace tide::bench

int main(int argc, char** argv) {
  int agents = 1000, per = 10, steady = 10, watches = 500, gets = 200;
  bool bad = false;
  for (int i = 1; i < argc && !bad; ++i) {
    std::string a = argv[i];
    if (a == "--no-keep-alive") {
      tide::bench::g_keep_alive = false;
      continue;
    }
    int* dst = a == "--agents"           ? &agents
               : a == "--instances"      ? &per
               : a == "--steady-seconds" ? &steady
               : a == "--watches"        ? &watches
               : a == "--gets"           ? &gets
                                         : nullptr;
    if (!dst || i + 1 >= argc) {
      bad = true;
      break;
    }
    *dst = std::atoi(argv[++i]);
  }
  if (bad || agents < 1 || agents > 5000 || per < 1 || per > 100 || steady < 1 || steady > 600 ||
      watches < 0 || watches > 5000 || gets < 0 || gets > 5000) {
    std::fprintf(stderr,
                 "usage: fleet_bench [--agents 1..5000] [--instances 1..100] "
                 "[--steady-seconds 1..600] [--watches 0..5000] [--gets 0..5000] "
                 "[--no-keep-alive]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  try {
    return tide::bench::Run(agents, per, steady, watches, gets);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fleet_bench: %s\n", e.what());
    return 2;
  }
}
