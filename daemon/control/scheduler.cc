#include "daemon/control/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

namespace tide {
namespace {

constexpr double kCpuEpsilon = 1e-9;

std::string FormatCpu(double cpu) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", cpu);
  return buf;
}

bool SelectorMatches(const StringMap& selector, const StringMap& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

double Fraction(double used, double cap) { return cap > 0 ? used / cap : 0; }

// Why nodes were rejected, accumulated over all nodes for the reason text.
struct Rejections {
  int not_ready = 0;
  int lost = 0;
  int selector = 0;
  int cpu = 0;
  int memory = 0;
  double best_free_cpu = -1;
  int64_t best_free_memory = -1;
};

// Returns true when `n` can take `req`; otherwise records why in *rej.
bool Fits(const SchedNode& n, const PlacementRequest& req, Rejections* rej) {
  if (n.state == NodeState::kNotReady) {
    rej->not_ready++;
    return false;
  }
  if (n.state == NodeState::kLost) {
    rej->lost++;
    return false;
  }
  if (!SelectorMatches(req.node_selector, n.labels)) {
    rej->selector++;
    return false;
  }
  bool ok = true;
  if (req.cpu > 0 && n.capacity.cpu > 0) {
    double free = n.capacity.cpu - n.allocated.cpu;
    if (req.cpu > free + kCpuEpsilon) {
      rej->cpu++;
      rej->best_free_cpu = std::max(rej->best_free_cpu, std::max(free, 0.0));
      ok = false;
    }
  }
  if (req.memory_bytes > 0 && n.capacity.memory_bytes > 0) {
    int64_t free = n.capacity.memory_bytes - n.allocated.memory_bytes;
    if (req.memory_bytes > free) {
      rej->memory++;
      rej->best_free_memory = std::max(rej->best_free_memory, std::max<int64_t>(free, 0));
      ok = false;
    }
  }
  return ok;
}

std::string Reason(size_t total, const PlacementRequest& req, const Rejections& r) {
  std::string out = "0/" + std::to_string(total) + " nodes available";
  if (total == 0) return out + ": no nodes registered";
  std::vector<std::string> parts;
  if (r.not_ready) parts.push_back(std::to_string(r.not_ready) + " NotReady");
  if (r.lost) parts.push_back(std::to_string(r.lost) + " Lost");
  if (r.selector) {
    std::string sel;
    for (const auto& [k, v] : req.node_selector) sel += (sel.empty() ? "" : ",") + k + "=" + v;
    parts.push_back(std::to_string(r.selector) + " not matching nodeSelector " + sel);
  }
  if (r.cpu) {
    parts.push_back(std::to_string(r.cpu) + " insufficient cpu (need " + FormatCpu(req.cpu) +
                    ", free " + (r.cpu > 1 ? "at most " : "") + FormatCpu(r.best_free_cpu) + ")");
  }
  if (r.memory) {
    parts.push_back(std::to_string(r.memory) + " insufficient memory (need " +
                    FormatBytes(req.memory_bytes) + ", free " + (r.memory > 1 ? "at most " : "") +
                    FormatBytes(r.best_free_memory) + ")");
  }
  for (size_t i = 0; i < parts.size(); ++i) out += (i == 0 ? ": " : ", ") + parts[i];
  return out;
}

// Index of the best node for req, or -1 with *reason set.
int Choose(const std::vector<SchedNode>& nodes, const PlacementRequest& req, std::string* reason) {
  Rejections rej;
  int best = -1;
  std::tuple<int, double, const std::string*> best_key;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const SchedNode& n = nodes[i];
    if (!Fits(n, req, &rej)) continue;
    double load =
        std::max(Fraction(n.allocated.cpu + req.cpu, n.capacity.cpu),
                 Fraction(static_cast<double>(n.allocated.memory_bytes + req.memory_bytes),
                          static_cast<double>(n.capacity.memory_bytes)));
    // Fewest of this workload, then least loaded, then by name (no copy per node: placing
    // 10,000 instances on 1,000 nodes compares 10 million keys).
    auto key = std::make_tuple(n.workload_instances, load, &n.name);
    const bool better = best < 0 || std::get<0>(key) < std::get<0>(best_key) ||
                        (std::get<0>(key) == std::get<0>(best_key) &&
                         (std::get<1>(key) < std::get<1>(best_key) ||
                          (std::get<1>(key) == std::get<1>(best_key) &&
                           *std::get<2>(key) < *std::get<2>(best_key))));
    if (better) {
      best = static_cast<int>(i);
      best_key = key;
    }
  }
  if (best < 0) *reason = Reason(nodes.size(), req, rej);
  return best;
}

}  // namespace

std::string FormatBytes(int64_t bytes) {
  static const struct {
    int64_t unit;
    const char* suffix;
  } kUnits[] = {{int64_t{1} << 40, "Ti"},
                {int64_t{1} << 30, "Gi"},
                {int64_t{1} << 20, "Mi"},
                {int64_t{1} << 10, "Ki"}};
  for (const auto& u : kUnits) {
    if (bytes >= u.unit) {
      char buf[32];
      if (bytes % u.unit == 0) {
        std::snprintf(buf, sizeof buf, "%lld%s", static_cast<long long>(bytes / u.unit), u.suffix);
      } else {
        std::snprintf(buf, sizeof buf, "%.1f%s", static_cast<double>(bytes) / u.unit, u.suffix);
      }
      return buf;
    }
  }
  return std::to_string(bytes);
}

Status PlaceOne(const std::vector<SchedNode>& nodes, const PlacementRequest& req,
                std::string* node) {
  std::string reason;
  int i = Choose(nodes, req, &reason);
  if (i < 0) return Status::Unavailable(reason);
  *node = nodes[i].name;
  return Status::Ok();
}

PlacementResult PlaceMany(std::vector<SchedNode>* nodes, const PlacementRequest& req, int count) {
  PlacementResult out;
  for (int k = 0; k < count; ++k) {
    int i = Choose(*nodes, req, &out.reason);
    if (i < 0) break;
    SchedNode& n = (*nodes)[i];
    n.allocated.cpu += req.cpu;
    n.allocated.memory_bytes += req.memory_bytes;
    n.workload_instances++;
    out.nodes.push_back(n.name);
  }
  return out;
}

}  // namespace tide
