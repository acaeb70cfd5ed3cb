#include "daemon/control/rollout.h"

#include <algorithm>
#include <cmath>

#include "daemon/control/rollout_pass.h"

namespace tide {
namespace {

int64_t Ms(double seconds) { return std::llround(std::clamp(seconds, 0.0, 1e9) * 1000); }

int Rank(const RolloutInstance* r) { return !r->placed ? 0 : (r->Ready() ? 2 : 1); }

}  // namespace

RolloutState RolloutState::StartedAt(int64_t now_ms) {
  RolloutState s;
  s.progress_ms = now_ms;
  return s;
}

RolloutPass::RolloutPass(const RolloutInput& in_, RolloutPlan& plan_)
    : in(in_), plan(plan_), desired(std::max(0, in_.desired)) {
  for (const auto& r : in.instances) {
    (r.generation == in.generation ? current : outdated).push_back(&r);
  }
  surge = std::max(0, in.settings.max_surge);
  unavailable = std::max(0, in.settings.max_unavailable);
  if (surge == 0 && unavailable == 0) surge = 1;
  min_ready_ms = Ms(in.settings.min_ready_seconds);
  progress_deadline_ms = Ms(in.settings.progress_deadline_seconds);
}

void RolloutPass::Create(int64_t generation, int count) {
  if (count > 0) plan.create.push_back({generation, count});
}

void RolloutPass::Event(const std::string& type, const std::string& reason,
                        const std::string& message) {
  plan.events.push_back({type, reason, message});
}

void VictimOrder(std::vector<const RolloutInstance*>& v) {
  std::stable_sort(v.begin(), v.end(), [](const RolloutInstance* a, const RolloutInstance* b) {
    if (Rank(a) != Rank(b)) return Rank(a) < Rank(b);
    if (a->inflight != b->inflight) return a->inflight < b->inflight;
    return a->created_ms > b->created_ms;
  });
}

void RolloutPass::DrainFirst(std::vector<const RolloutInstance*>& v, size_t n,
                             const std::string& reason) {
  VictimOrder(v);
  for (size_t i = 0; i < n && i < v.size(); ++i) plan.drain.push_back({v[i]->id, reason});
}

RolloutPlan PlanRollout(const RolloutInput& in, const RolloutState& state) {
  RolloutPlan plan;
  plan.state = state;
  RolloutPass p(in, plan);
  const bool all_current = p.outdated.empty();
  // A rollout is in progress while older instances run, and after they are gone until the new
  // generation is available at the desired count (it may still fail then).
  const bool rolling =
      !p.outdated.empty() || (in.serving_generation && *in.serving_generation != in.generation);
  if (!rolling) {
    plan.state.hide_failed_generation = false;
    plan.mark_serving = !in.serving_generation;
    const int have = static_cast<int>(p.current.size());
    if (have < p.desired) p.Create(in.generation, p.desired - have);
    if (have > p.desired) p.DrainFirst(p.current, have - p.desired, "scaled down");
  } else {
    CheckProgress(p);
    if (plan.state.failed) {
      PlanRollback(p);
    } else {
      PlanRolling(p);
    }
  }
  auto serving = plan.mark_serving ? std::optional<int64_t>(in.generation) : in.serving_generation;
  if (auto c = ProgressingCondition(plan.state, in.generation, serving, all_current)) {
    plan.conditions.push_back(*c);
  }
  return plan;
}

std::optional<RolloutCondition> ProgressingCondition(const RolloutState& state, int64_t generation,
                                                     std::optional<int64_t> serving_generation,
                                                     bool all_current) {
  if (state.failed) {
    std::string serving = serving_generation && *serving_generation != generation
                              ? "generation " + std::to_string(*serving_generation) + " serves"
                              : "the old instances serve";
    return RolloutCondition{"Progressing", "False", "RolloutFailed",
                            "rollout of generation " + std::to_string(generation) +
                                " failed: " + state.failure + "; " + serving};
  }
  if (!all_current) {
    return RolloutCondition{"Progressing", "True", "RollingUpdate", "replacing instances"};
  }
  return std::nullopt;
}

}  // namespace tide
