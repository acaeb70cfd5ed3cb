#include "bench/coldstart_thaw.h"

#include <cstdio>
#include <map>
#include <vector>

namespace tide::bench {

using tide::testing::json;
using tide::testing::WaitFor;
using namespace std::chrono_literals;

namespace {

// ms from connect to the answer of one request; -1 on failure. *warm_start is the header.
double Request(int gw_port, const std::string& name, std::string* warm_start) {
  std::map<std::string, std::string> headers;
  auto t0 = SteadyClock::now();
  int status = RawHttpGet(gw_port, "/function/" + name + "/", false, 30000, &headers);
  double ms = MsSince(t0);
  *warm_start = headers["X-Tide-Warm-Start"];
  return status == 200 ? ms : -1;
}

bool FrozenNow(tide::testing::Tided& tided, const std::string& name) {
  json list = tided.Instances(name);
  return list.size() == 1 && list[0].value("frozen", false);
}

}  // namespace

bool RunThawRounds(tide::testing::Tided& tided, int gw_port, const std::string& name, int rounds,
                   Summary* s) {
  std::vector<double> warm, thawed, diff;
  int not_thawed = 0;
  std::string header;
  if (Request(gw_port, name, &header) < 0) {  // the cold start: not measured here
    std::fprintf(stderr, "thaw: the first request to %s failed\n", name.c_str());
    return false;
  }
  for (int r = -1; r < rounds; ++r) {  // round -1: warm-up, not counted
    const double w = Request(gw_port, name, &header);
    // The agent reports the thaw of the previous round, then the next freeze: wait for both, so
    // a report still saying frozen from before is not taken for the new freeze.
    if (!WaitFor([&] { return !FrozenNow(tided, name); }, 10s) ||
        !WaitFor([&] { return FrozenNow(tided, name); }, 10s)) {
      std::fprintf(stderr, "thaw round %d: %s was not frozen within 10 s\n", r, name.c_str());
      return false;
    }
    const double t = Request(gw_port, name, &header);
    if (w < 0 || t < 0) {
      std::fprintf(stderr, "thaw round %d failed: warm %.2f thaw %.2f\n", r, w, t);
      return false;
    }
    if (r < 0) continue;
    not_thawed += header == "thawed" ? 0 : 1;
    warm.push_back(w);
    thawed.push_back(t);
    diff.push_back(t - w);
  }
  std::printf("  %-11s Function %s: keepAlive freezeAfterSeconds 0.2 (same limit and probe)\n",
              "frozen", name.c_str());
  std::printf("  %-11s warm:       p50 %6.3f ms  p99 %6.3f ms  (request to a running instance)\n",
              "frozen", Percentile(warm, 50), Percentile(warm, 99));
  std::printf("  %-11s thawed:     p50 %6.3f ms  p99 %6.3f ms  (request to a frozen instance)\n",
              "frozen", Percentile(thawed, 50), Percentile(thawed, 99));
  std::printf("  %-11s difference: p50 %6.3f ms  p99 %6.3f ms\n", "frozen", Percentile(diff, 50),
              Percentile(diff, 99));
  s->Info("frozen: warm request p50 (reference)", Percentile(warm, 50), "ms");
  s->Info("frozen: thaw-to-answer p99", Percentile(thawed, 99), "ms");
  s->Info("frozen: thaw extra over warm p50", Percentile(diff, 50), "ms");
  s->AtMost("frozen: rounds not answered as thawed", not_thawed, 0, "");
  s->AtMost("frozen: thaw-to-answer p50", Percentile(thawed, 50), 1, "ms");
  return true;
}

}  // namespace tide::bench
