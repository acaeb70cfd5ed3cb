#include "api/model.h"

namespace tide {

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kService:
      return "Service";
    case Kind::kFunction:
      return "Function";
    case Kind::kLayer:
      return "Layer";
    case Kind::kSecret:
      return "Secret";
  }
  return "?";
}

std::optional<Kind> ParseKind(const std::string& name) {
  if (name == "Service") return Kind::kService;
  if (name == "Function") return Kind::kFunction;
  if (name == "Layer") return Kind::kLayer;
  if (name == "Secret") return Kind::kSecret;
  return std::nullopt;
}

const char* InstanceStateName(InstanceState s) {
  switch (s) {
    case InstanceState::kPending:
      return "Pending";
    case InstanceState::kStarting:
      return "Starting";
    case InstanceState::kReady:
      return "Ready";
    case InstanceState::kTerminating:
      return "Terminating";
    case InstanceState::kExited:
      return "Exited";
    case InstanceState::kFailed:
      return "Failed";
    case InstanceState::kCrashLoopBackOff:
      return "CrashLoopBackOff";
  }
  return "?";
}

std::optional<InstanceState> ParseInstanceState(const std::string& s) {
  for (auto st : {InstanceState::kPending, InstanceState::kStarting, InstanceState::kReady,
                  InstanceState::kTerminating, InstanceState::kExited, InstanceState::kFailed,
                  InstanceState::kCrashLoopBackOff}) {
    if (s == InstanceStateName(st)) return st;
  }
  return std::nullopt;
}

const char* NodeStateName(NodeState s) {
  switch (s) {
    case NodeState::kReady:
      return "Ready";
    case NodeState::kNotReady:
      return "NotReady";
    case NodeState::kLost:
      return "Lost";
  }
  return "?";
}

namespace {
const std::shared_ptr<WorkloadSpec>& EmptySpec() {
  static const auto* const empty =
      new std::shared_ptr<WorkloadSpec>(std::make_shared<WorkloadSpec>());
  return *empty;
}
}  // namespace

SharedSpec::SharedSpec() : p_(EmptySpec()) {}

SharedSpec::SharedSpec(WorkloadSpec spec) : p_(std::make_shared<WorkloadSpec>(std::move(spec))) {}

WorkloadSpec& SharedSpec::mut() {
  // use_count() is exact enough here: another holder could only appear by copying this very
  // object, which a caller writing to it may not do concurrently.
  if (p_.use_count() != 1) p_ = std::make_shared<WorkloadSpec>(*p_);
  return *p_;
}

}  // namespace tide
