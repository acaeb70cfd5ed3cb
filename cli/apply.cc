// tidectl apply: sends every -f file in one all-or-nothing request, prints the per-object
// results, and with --wait polls each applied workload until its rollout is complete.
#include <map>
#include <optional>
#include <ostream>

#include "api/json.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/sources.h"

namespace tide::cli {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A failed rollout: a condition RolloutFailed (or Failed) that is True, or any condition whose
// reason is RolloutFailed, or phase Failed. Returns the message to show, "" when not failed.
std::string FailureOf(const json& w) {
  const std::optional<WorkloadStatus> st = WorkloadStatusOf(w);
  if (!st) return "";
  for (const auto& c : st->conditions) {
    bool failed_type = (c.type == "RolloutFailed" || c.type == "Failed") && c.status == "True";
    if (failed_type || c.reason == "RolloutFailed") {
      return (c.reason.empty() ? c.type : c.reason) + (c.message.empty() ? "" : ": " + c.message);
    }
  }
  if (st->phase == "Failed") return "phase Failed";
  return "";
}

// The generation to wait for: the status's, else the metadata's (older servers); 0 = unknown.
int64_t GenerationOf(const json& w, const std::optional<WorkloadStatus>& st) {
  if (st && st->generation > 0) return st->generation;
  const json& g = At(w, "metadata.generation");
  return g.is_number_integer() ? g.get<int64_t>() : 0;
}

struct Progress {
  std::string line;  // last printed progress, to print only changes
  bool done = false;
};

std::string ProgressLine(const json& w) {
  const std::optional<WorkloadStatus> st = WorkloadStatusOf(w);
  if (!st) return "0/? ready";
  std::string line = std::to_string(st->ready) + "/" + std::to_string(st->desired) + " ready";
  if (!st->phase.empty()) line += ", " + st->phase;
  const int64_t gen = GenerationOf(w, st);
  if (gen > 0 && st->observed_generation > 0 && st->observed_generation < gen) {
    line += ", generation " + std::to_string(gen) + " not yet observed";
  }
  return line;
}

bool RolledOut(const json& w) {
  const std::optional<WorkloadStatus> st = WorkloadStatusOf(w);
  if (!st || st->ready != st->desired) return false;
  const int64_t gen = GenerationOf(w, st);
  if (gen > 0 && st->observed_generation > 0) return st->observed_generation >= gen;
  return true;
}

int Wait(Env& env, const std::vector<std::pair<std::string, std::string>>& workloads,
         double timeout_seconds) {
  int64_t deadline = env.clock->NowMs() + static_cast<int64_t>(timeout_seconds * 1000);
  std::map<std::string, Progress> progress;
  while (true) {
    bool all_done = true;
    for (const auto& [kind, name] : workloads) {
      Progress& p = progress[name];
      if (p.done) continue;
      std::string who = Lower(kind) + "/" + name;
      json w;
      if (int rc = GetJson(env, "/v1/workloads/" + UrlEncode(name), &w)) return rc;
      std::string failure = FailureOf(w);
      if (!failure.empty()) {
        return ReportError(env, who + ": rollout failed: " + failure, kExitFailed);
      }
      std::string line = ProgressLine(w);
      if (RolledOut(w)) {
        p.done = true;
        *env.out << who << ": rolled out (" << line << ")\n";
      } else {
        all_done = false;
        if (line != p.line) *env.out << who << ": " << line << "\n";
      }
      p.line = line;
      env.out->flush();
    }
    if (all_done) return kExitOk;
    if (env.clock->NowMs() >= deadline) {
      std::string pending;
      for (const auto& [kind, name] : workloads) {
        if (progress[name].done) continue;
        pending += (pending.empty() ? "" : ", ") + Lower(kind) + "/" + name + " (" +
                   progress[name].line + ")";
      }
      return ReportError(
          env, "timed out after " + FormatSeconds(timeout_seconds) + " waiting for " + pending,
          kExitFailed);
    }
    env.sleep(env.poll_interval_ms);
  }
}

}  // namespace

int RunApply(Env& env, const ApplyOptions& opt) {
  FillDefaults(&env);
  if (opt.paths.empty()) return ReportError(env, "apply needs at least one -f PATH", kExitUsage);
  std::vector<ManifestFile> files;
  Status st = ReadManifestFiles(opt.paths, *env.in, &files);
  if (!st.ok()) return ReportError(env, st.message(), kExitFailed);
  ApplyRequest req = BuildApplyRequest(files);
  Response r;
  st = env.api->Post(std::string("/v1/apply") + (opt.dry_run ? "?dryRun=true" : ""), req.body,
                     req.content_type, &r, req.headers);
  if (!st.ok()) return ReportFailure(env, st, r);
  json answer = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded()) {
    return ReportError(env, "the server's answer to the apply is not JSON", kExitFailed);
  }
  std::vector<std::pair<std::string, std::string>> workloads;
  const json& results = At(answer, "results");
  for (const auto& res : results.is_array() ? results : json::array()) {
    std::string kind = Str(res, "kind");
    std::string name = Str(res, "name");
    *env.out << Lower(kind) << "/" << name << " " << Str(res, "action", "applied")
             << (opt.dry_run ? " (dry run)" : "") << "\n";
    if (kind == "Service" || kind == "Function") workloads.emplace_back(kind, name);
  }
  env.out->flush();
  if (!opt.wait || opt.dry_run || workloads.empty()) return kExitOk;
  return Wait(env, workloads, opt.timeout_seconds);
}

}  // namespace tide::cli
