#include "api/wire.h"

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>

#include "api/manifest.h"

namespace tide {
namespace {

using nlohmann::json;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr double kMaxCores = 1e6;

Status Fail(const std::string& path, const std::string& what) {
  return Status::Invalid(path + ": " + what);
}

std::string Join(const std::string& base, const char* key) {
  return base.empty() ? std::string(key) : base + "." + key;
}

std::string Index(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

std::string Num(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", d);
  return buf;
}

// True when no array/object nesting in `text` goes deeper than `max` (strings are skipped).
// Malformed text is left for the parser to reject.
bool DepthWithin(std::string_view text, int max) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

// Parses `body` as one JSON object into *out.
Status ParseObject(std::string_view body, json* out, const json::parser_callback_t& on_event = {}) {
  if (body.size() > kMaxWireBodyBytes)
    return Status::TooLarge("body: larger than " + std::to_string(kMaxWireBodyBytes) + " bytes");
  if (!DepthWithin(body, kMaxWireDepth))
    return Fail("body", "nested deeper than " + std::to_string(kMaxWireDepth) + " levels");
  try {
    *out = json::parse(body.begin(), body.end(), on_event);
  } catch (const json::parse_error& e) {
    // The library's message quotes raw input bytes; name the position only.
    return Fail("body", "invalid JSON near byte " + std::to_string(e.byte));
  } catch (const json::out_of_range&) {
    return Fail("body", "a number is out of range");  // e.g. 1e999
  }
  if (!out->is_object()) return Fail("body", "expected a JSON object");
  return Status::Ok();
}

// The member `key` of object `obj`, or null when absent or JSON null.
const json* Member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Status ReadString(const json& obj, const std::string& base, const char* key, bool required,
                  size_t max_bytes, std::string* out) {
  const json* v = Member(obj, key);
  if (v == nullptr) return required ? Fail(Join(base, key), "required") : Status::Ok();
  if (!v->is_string()) return Fail(Join(base, key), "expected a string");
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_bytes)
    return Fail(Join(base, key), "longer than " + std::to_string(max_bytes) + " bytes");
  if (required && s.empty()) return Fail(Join(base, key), "must not be empty");
  *out = s;
  return Status::Ok();
}

// An integer in [lo, hi]. Floats (even 2.0) are not integers here.
Status ReadInt64(const json& obj, const std::string& base, const char* key, int64_t lo, int64_t hi,
                 int64_t* out) {
  const json* v = Member(obj, key);
  if (v == nullptr) return Status::Ok();
  const std::string range = "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
  if (!v->is_number_integer()) return Fail(Join(base, key), "expected an integer");
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (hi < 0 || u > static_cast<uint64_t>(hi) || (lo > 0 && u < static_cast<uint64_t>(lo)))
      return Fail(Join(base, key), range);
    *out = static_cast<int64_t>(u);
  } else {
    const int64_t s = v->get<int64_t>();
    if (s < lo || s > hi) return Fail(Join(base, key), range);
    *out = s;
  }
  return Status::Ok();
}

Status ReadInt(const json& obj, const std::string& base, const char* key, int lo, int hi,
               int* out) {
  int64_t v = *out;
  Status st = ReadInt64(obj, base, key, lo, hi, &v);
  if (st.ok()) *out = static_cast<int>(v);
  return st;
}

Status ReadDouble(const json& obj, const std::string& base, const char* key, double lo, double hi,
                  double* out) {
  const json* v = Member(obj, key);
  if (v == nullptr) return Status::Ok();
  if (!v->is_number()) return Fail(Join(base, key), "expected a number");
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    return Fail(Join(base, key), "must be between " + Num(lo) + " and " + Num(hi));
  *out = d;
  return Status::Ok();
}

Status ReadStringMap(const json& obj, const std::string& base, const char* key, StringMap* out) {
  const json* v = Member(obj, key);
  if (v == nullptr) return Status::Ok();
  const std::string path = Join(base, key);
  if (!v->is_object()) return Fail(path, "expected an object of strings");
  if (v->size() > kMaxWireMapEntries)
    return Status::TooLarge(path + ": more than " + std::to_string(kMaxWireMapEntries) +
                            " entries");
  out->clear();
  for (auto it = v->begin(); it != v->end(); ++it) {
    // Keys are not echoed: they are caller-chosen text.
    if (it.key().size() > kMaxWireStringBytes) return Fail(path, "key too long");
    if (!it.value().is_string()) return Fail(path, "every value must be a string");
    const auto& s = it.value().get_ref<const std::string&>();
    if (s.size() > kMaxWireStringBytes) return Fail(path, "value too long");
    out->emplace(it.key(), s);
  }
  return Status::Ok();
}

// Runs the reads in order and stops at the first failure.
#define TIDE_WIRE_TRY(expr)                        \
  do {                                             \
    Status tide_wire_st_ = (expr);                 \
    if (!tide_wire_st_.ok()) return tide_wire_st_; \
  } while (0)

Status DecodeNodeInfo(const json& j, const std::string& path, NodeInfo* n) {
  if (!j.is_object()) return Fail(path, "expected an object");
  *n = NodeInfo{};
  TIDE_WIRE_TRY(ReadString(j, path, "name", true, 253, &n->name));
  TIDE_WIRE_TRY(ReadString(j, path, "address", false, 1024, &n->address));
  TIDE_WIRE_TRY(ReadString(j, path, "agentUrl", false, 4096, &n->agent_url));
  if (const json* cap = Member(j, "capacity")) {
    const std::string cpath = Join(path, "capacity");
    if (!cap->is_object()) return Fail(cpath, "expected an object");
    TIDE_WIRE_TRY(ReadDouble(*cap, cpath, "cpu", 0, kMaxCores, &n->capacity.cpu));
    TIDE_WIRE_TRY(ReadInt64(*cap, cpath, "memory", 0, kInt64Max, &n->capacity.memory_bytes));
  }
  TIDE_WIRE_TRY(ReadStringMap(j, path, "labels", &n->labels));
  return Status::Ok();
}

Status DecodeInstance(const json& j, const std::string& path, InstanceStatus* s) {
  if (!j.is_object()) return Fail(path, "expected an object");
  *s = InstanceStatus{};
  TIDE_WIRE_TRY(ReadString(j, path, "id", true, 253, &s->id));
  TIDE_WIRE_TRY(ReadString(j, path, "workload", false, 253, &s->workload));
  TIDE_WIRE_TRY(ReadString(j, path, "node", false, 253, &s->node));
  TIDE_WIRE_TRY(ReadInt64(j, path, "generation", 0, kInt64Max, &s->generation));
  TIDE_WIRE_TRY(ReadInt(j, path, "pid", 0, INT_MAX, &s->pid));
  TIDE_WIRE_TRY(ReadInt(j, path, "port", 0, 65535, &s->port));
  if (const json* st = Member(j, "state")) {
    if (!st->is_string()) return Fail(Join(path, "state"), "expected a string");
    auto parsed = ParseInstanceState(st->get_ref<const std::string&>());
    if (!parsed) return Fail(Join(path, "state"), "unknown instance state");
    s->state = *parsed;
  }
  TIDE_WIRE_TRY(ReadInt(j, path, "restarts", 0, INT_MAX, &s->restarts));
  TIDE_WIRE_TRY(ReadInt64(j, path, "startedAtMs", 0, kInt64Max, &s->started_at_ms));
  TIDE_WIRE_TRY(ReadInt64(j, path, "readyAtMs", 0, kInt64Max, &s->ready_at_ms));
  TIDE_WIRE_TRY(ReadDouble(j, path, "cpu", 0, kMaxCores, &s->cpu));
  TIDE_WIRE_TRY(ReadDouble(j, path, "cpuSecondsTotal", 0, 1e18, &s->cpu_seconds_total));
  TIDE_WIRE_TRY(ReadInt64(j, path, "memoryBytes", 0, kInt64Max, &s->memory_bytes));
  TIDE_WIRE_TRY(ReadInt(j, path, "lastExitCode", INT_MIN, INT_MAX, &s->last_exit_code));
  TIDE_WIRE_TRY(ReadInt(j, path, "lastSignal", 0, INT_MAX, &s->last_signal));
  TIDE_WIRE_TRY(ReadString(j, path, "reason", false, 1024, &s->reason));
  TIDE_WIRE_TRY(ReadString(j, path, "message", false, kMaxWireStringBytes, &s->message));
  TIDE_WIRE_TRY(ReadString(j, path, "limitEnforcer", false, 64, &s->limit_enforcer));
  TIDE_WIRE_TRY(ReadString(j, path, "pidsEnforcer", false, 64, &s->pids_enforcer));
  if (const json* fz = Member(j, "frozen")) {  // spec.keepAlive (agent/freezer.h)
    if (!fz->is_boolean()) return Fail(Join(path, "frozen"), "expected true or false");
    s->frozen = fz->get<bool>();
  }
  return Status::Ok();
}

// The optional "instances" array of `obj`.
Status DecodeInstances(const json& obj, std::vector<InstanceStatus>* out) {
  out->clear();
  const json* arr = Member(obj, "instances");
  if (arr == nullptr) return Status::Ok();
  if (!arr->is_array()) return Fail("instances", "expected an array");
  if (arr->size() > kMaxWireInstances)
    return Status::TooLarge("instances: more than " + std::to_string(kMaxWireInstances) +
                            " entries");
  out->reserve(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    InstanceStatus s;
    TIDE_WIRE_TRY(DecodeInstance((*arr)[i], Index("instances", i), &s));
    out->push_back(std::move(s));
  }
  return Status::Ok();
}

bool HasControlChar(const std::string& s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// Runs `fn` and turns any exception (e.g. std::bad_alloc) into a Status.
template <typename Fn>
Status NoThrow(Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return Status::TooLarge("body: out of memory while decoding");
  } catch (const std::exception&) {
    return Status::Invalid("body: could not be decoded");
  } catch (...) {
    return Status::Invalid("body: could not be decoded");
  }
}

}  // namespace

Status DecodeRegisterBody(std::string_view body, NodeInfo* node,
                          std::vector<InstanceStatus>* instances) {
  return NoThrow([&]() -> Status {
    json j;
    TIDE_WIRE_TRY(ParseObject(body, &j));
    const json* n = Member(j, "node");
    if (n == nullptr) return Fail("node", "required");
    TIDE_WIRE_TRY(DecodeNodeInfo(*n, "node", node));
    std::vector<InstanceStatus> scratch;
    return DecodeInstances(j, instances != nullptr ? instances : &scratch);
  });
}

Status DecodeNodeReport(std::string_view body, NodeReport* report) {
  json j;
  return DecodeNodeReport(body, report, &j);
}

Status DecodeNodeReport(std::string_view body, NodeReport* report, json* parsed) {
  // An agent's report of 1,000 instances is about 0.5 MB of text and was 3 MB as a JSON tree,
  // held whole while tided decoded it (its peak RSS, issue 13; and most of its CPU under a
  // fleet). Each top-level "instances" element is decoded as soon as the parser has it and
  // dropped from the tree, so the tree only ever holds one instance. Same rules and messages
  // as DecodeInstances.
  struct Stop {};  // the first bad element ends the parse
  Status bad = Status::Ok(), bad_element = Status::Ok();
  std::string key;
  bool in_list = false;
  size_t index = 0;
  auto on_event = [&](int depth, json::parse_event_t ev, json& j) -> bool {
    using E = json::parse_event_t;
    if (depth == 1) {
      if (ev == E::key) {
        key = j.get<std::string>();
      } else if (ev == E::array_start && key == "instances") {
        in_list = true;  // a repeated key replaces the list, as it would in a tree
        index = 0;
        bad_element = Status::Ok();
        report->instances.clear();
      } else if (ev == E::array_end) {
        in_list = false;
      }
      return true;
    }
    if (!in_list || depth != 2 || ev == E::object_start || ev == E::array_start) return true;
    // An element is complete: an object, a nested array or a scalar (the last two refused).
    if (index >= kMaxWireInstances) {
      bad = Status::TooLarge("instances: more than " + std::to_string(kMaxWireInstances) +
                             " entries");
      throw Stop{};
    }
    // A bad element is reported once the list is known to be within the cap, as before.
    InstanceStatus st;
    if (bad_element.ok()) bad_element = DecodeInstance(j, Index("instances", index), &st);
    if (bad_element.ok()) report->instances.push_back(std::move(st));
    ++index;
    return false;  // not kept in the tree
  };
  return NoThrow([&]() -> Status {
    *report = NodeReport{};
    json& j = *parsed;
    try {
      TIDE_WIRE_TRY(ParseObject(body, &j, on_event));
    } catch (const Stop&) {
      return bad;
    }
    TIDE_WIRE_TRY(ReadString(j, "", "node", true, 253, &report->node));
    const json* list = Member(j, "instances");
    if (list != nullptr && !list->is_array()) return Fail("instances", "expected an array");
    if (list == nullptr) report->instances.clear();
    return list == nullptr ? Status::Ok() : bad_element;
  });
}

Status DecodeScaleBody(std::string_view body, int* replicas) {
  return NoThrow([&]() -> Status {
    json j;
    TIDE_WIRE_TRY(ParseObject(body, &j));
    if (Member(j, "replicas") == nullptr) return Fail("replicas", "required");
    int n = 0;
    TIDE_WIRE_TRY(ReadInt(j, "", "replicas", 0, kMaxWireReplicas, &n));
    *replicas = n;
    return Status::Ok();
  });
}

Status DecodeFilesBody(std::string_view body,
                       std::vector<std::pair<std::string, std::string>>* files) {
  return NoThrow([&]() -> Status {
    json j;
    TIDE_WIRE_TRY(ParseObject(body, &j));
    files->clear();
    const json* arr = Member(j, "files");
    if (arr == nullptr) return Fail("files", "required");
    if (!arr->is_array()) return Fail("files", "expected an array");
    if (arr->size() > kMaxWireFiles)
      return Status::TooLarge("files: more than " + std::to_string(kMaxWireFiles) + " entries");
    for (size_t i = 0; i < arr->size(); ++i) {
      const json& f = (*arr)[i];
      const std::string path = Index("files", i);
      if (!f.is_object()) return Fail(path, "expected an object");
      std::string name = "<body>";
      TIDE_WIRE_TRY(ReadString(f, path, "name", false, 4096, &name));
      if (name.empty()) name = "<body>";
      if (HasControlChar(name))
        return Fail(Join(path, "name"), "must not contain control characters");
      if (Member(f, "content") == nullptr) return Fail(Join(path, "content"), "required");
      std::string content;
      // Empty content is a valid (empty) manifest file; ReadString's `required` forbids "".
      TIDE_WIRE_TRY(ReadString(f, path, "content", false, kMaxManifestBytes, &content));
      files->emplace_back(std::move(name), std::move(content));
    }
    return Status::Ok();
  });
}

}  // namespace tide
