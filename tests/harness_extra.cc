#include "tests/harness_extra.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tide::testing {

std::string TestappManifest(const std::string& name, int replicas, const std::string& spec_extra,
                            const std::string& app_args, const std::string& kind) {
  std::string replicas_line =
      kind == "Service" ? "  replicas: " + std::to_string(replicas) + "\n" : std::string();
  return "apiVersion: tide/v1\nkind: " + kind + "\nmetadata:\n  name: " + name +
         "\nspec:\n  command: [\"" + TestappBin() + "\", \"--port\", \"${PORT}\"" + app_args +
         "]\n" + replicas_line + "  terminationGracePeriodSeconds: 2\n" + spec_extra;
}

std::string TickerManifest(const std::string& dir, const std::string& name, int replicas) {
  const std::string script = dir + "/ticker.py";
  WriteFile(script,
            "import os, socket, threading, time\n"
            "s = socket.socket()\n"
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "s.bind(('127.0.0.1', int(os.environ['PORT'])))\n"
            "s.listen(64)\n"
            "def serve():\n"
            "    while True:\n"
            "        c, _ = s.accept()\n"
            "        c.close()\n"
            "threading.Thread(target=serve, daemon=True).start()\n"
            "n = 0\n"
            "while True:\n"
            "    print('tick %d' % n, flush=True)\n"
            "    n += 1\n"
            "    time.sleep(0.05)\n");
  return "apiVersion: tide/v1\nkind: Service\nmetadata:\n  name: " + name +
         "\nspec:\n  command: [\"/usr/bin/python3\", \"-u\", \"" + script +
         "\"]\n  replicas: " + std::to_string(replicas) + "\n  terminationGracePeriodSeconds: 2\n";
}

std::map<std::string, int> PidsById(const json& instances, const std::string& state) {
  std::map<std::string, int> out;
  if (!instances.is_array()) return out;
  for (const auto& i : instances) {
    if (!state.empty() && i.value("state", "") != state) continue;
    out[i.value("id", "")] = i.value("pid", 0);
  }
  return out;
}

json Events(const Tided& tided, const std::string& workload) {
  json j = tided.Get("/v1/events" + (workload.empty() ? "" : "?workload=" + workload)).Json();
  return j.is_object() && j.contains("items") ? j["items"] : json::array();
}

std::string AgreedLeader(const std::vector<std::unique_ptr<Tided>>& ms,
                         const std::vector<size_t>& live) {
  std::string leader;
  for (size_t i : live) {
    HttpResult r = ms[i]->Get("/v1/leader");
    if (r.status != 200) return "";
    const std::string l = r.Json().value("leader", "");
    if (l.empty() || (!leader.empty() && l != leader)) return "";
    leader = l;
  }
  return leader;
}

int CountEvents(const Tided& tided, const std::string& workload, const std::string& reason) {
  int n = 0;
  for (const auto& e : Events(tided, workload)) n += e.value("reason", "") == reason ? 1 : 0;
  return n;
}

std::string NodeStateOf(const Tided& tided, const std::string& node) {
  json j = tided.Get("/v1/nodes").Json();
  if (!j.is_object() || !j.contains("items")) return "";
  for (const auto& n : j["items"]) {
    if (n.value("name", "") == node) return n.value("state", "");
  }
  return "";
}

namespace {
std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

std::string FreezeState(int pid) {
  const std::string status = ReadText("/proc/" + std::to_string(pid) + "/status");
  if (status.find("State:\tT") != std::string::npos) return "stopped";
  std::istringstream cg(ReadText("/proc/" + std::to_string(pid) + "/cgroup"));
  for (std::string line; std::getline(cg, line);) {
    const auto path = line.substr(line.find(':', line.find(':') + 1) + 1);
    if (line.find(":freezer:") != std::string::npos && path != "/" &&
        ReadText("/sys/fs/cgroup/freezer" + path + "/freezer.state").starts_with("FROZEN"))
      return "frozen";
    if (line.starts_with("0::") &&
        ReadText("/sys/fs/cgroup" + path + "/cgroup.events").find("frozen 1") != std::string::npos)
      return "frozen";
  }
  return "running";
}

void ThawForTeardown(int pid) {
  std::istringstream cg(ReadText("/proc/" + std::to_string(pid) + "/cgroup"));
  for (std::string line; std::getline(cg, line);) {
    const auto at = line.find(":freezer:");
    if (at != std::string::npos && line.substr(at + 9) != "/")
      WriteFile("/sys/fs/cgroup/freezer" + line.substr(at + 9) + "/freezer.state", "THAWED");
    if (!line.starts_with("0::")) continue;
    const std::string v2 = "/sys/fs/cgroup" + line.substr(3) + "/cgroup.freeze";
    if (std::filesystem::exists(v2)) WriteFile(v2, "0");
  }
  ::kill(pid, SIGCONT);
}

uint64_t ProcStartTime(int pid) {
  if (!PidAlive(pid)) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string stat = ss.str();
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  // Field 3 (state) is the first after ')'; the start time is field 22.
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> f)) return 0;
  }
  return std::stoull(f);
}

LoadLoop::LoadLoop(std::string url, int clients, int max_per_client, int timeout_seconds)
    : url_(std::move(url)), timeout_seconds_(timeout_seconds) {
  for (int c = 0; c < clients; ++c) {
    threads_.emplace_back([this, max_per_client] {
      for (int n = 0; n < max_per_client && !stop_; ++n) {
        auto t0 = std::chrono::steady_clock::now();
        HttpResult r = Http("GET", url_, "", "", "application/json", timeout_seconds_);
        int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - t0)
                         .count();
        int64_t seen = max_latency_ms_;
        while (ms > seen && !max_latency_ms_.compare_exchange_weak(seen, ms)) {
        }
        if (r.status == 200) {
          ++ok_;
        } else {
          ++failed_;
          std::lock_guard<std::mutex> lk(mu_);
          if (failures_.size() < 10)
            failures_.push_back(std::to_string(r.status) + " after " + std::to_string(ms) +
                                " ms: " + r.body.substr(0, 200));
        }
      }
    });
  }
}

LoadLoop::~LoadLoop() { Stop(); }

void LoadLoop::Stop() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

bool LoadLoop::WaitMoreOk(int n, std::chrono::milliseconds timeout) {
  int target = ok_ + n;
  return WaitFor([&] { return ok_ >= target; }, timeout);
}

std::string LoadLoop::FailureSummary() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::string out;
  for (const auto& f : failures_) out += f + "\n";
  return out;
}

}  // namespace tide::testing
