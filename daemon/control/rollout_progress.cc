// Progress of a rollout: has it failed?
#include <cstdio>

#include "daemon/control/rollout_pass.h"

namespace tide {
namespace {

// "CrashLoopBackOff (exit code 3)" and the like, for events and conditions.
std::string Describe(const RolloutInstance& st) {
  std::string s = InstanceStateName(st.state);
  if (st.last_signal) {
    s += " (signal " + std::to_string(st.last_signal) + ")";
  } else if (st.last_exit_code >= 0) {
    s += " (exit code " + std::to_string(st.last_exit_code) + ")";
  }
  if (!st.reason.empty()) s += ", " + st.reason;
  return s;
}

std::string SecondsText(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gs", s);
  return buf;
}

}  // namespace

void CheckProgress(RolloutPass& p) {
  RolloutState& st = p.plan.state;
  const int64_t now = p.in.now_ms;
  const RolloutInstance* crashing = nullptr;
  p.available_current = 0;
  for (const auto* r : p.current) {
    if (r->Available(now, p.min_ready_ms)) ++p.available_current;
    if (!crashing &&
        (r->state == InstanceState::kCrashLoopBackOff || r->state == InstanceState::kFailed)) {
      crashing = r;
    }
  }
  if (p.available_current > st.available) {
    st.available = p.available_current;
    st.progress_ms = now;
  }
  if (st.failed) return;
  const double deadline = p.in.settings.progress_deadline_seconds;
  std::string cause;
  if (crashing) {
    cause = "new instance " + crashing->id + " is " + Describe(*crashing);
  } else if (now - st.progress_ms > p.progress_deadline_ms) {
    cause = "no progress for " + SecondsText(deadline) +
            " (progressDeadlineSeconds): " + std::to_string(p.available_current) + " of " +
            std::to_string(p.desired) + " new instances available";
  }
  if (cause.empty()) return;
  st.failed = true;
  st.failure = cause;
  const auto& serving = p.in.serving_generation;
  std::string keep = serving ? "generation " + std::to_string(*serving) + " keeps serving with " +
                                   std::to_string(p.desired) + " instances"
                             : "the old instances keep serving";
  p.Event("Warning", "RolloutFailed",
          "rollout of generation " + std::to_string(p.in.generation) + " failed: " + cause + "; " +
              keep + "; the new generation gets no traffic");
}

}  // namespace tide
