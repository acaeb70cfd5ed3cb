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

}  // namespace tide
