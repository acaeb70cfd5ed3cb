// libFuzzer target: every decoder of api/wire.h on the same arbitrary bytes. Besides "no crash,
// no exception, no sanitizer report", it checks that whatever a decoder accepts re-encodes with
// api/json.h (as the API server would when answering GET) and decodes again to the same value;
// and that api/json.h's lenient from_json never crashes (it may throw json::exception).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/json.h"
#include "api/wire.h"

namespace {

using nlohmann::json;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_api_body: %s\n%s\n", what, detail.c_str());
  std::abort();
}

void CheckRegister(std::string_view body) {
  tide::NodeInfo node;
  std::vector<tide::InstanceStatus> instances;
  if (!tide::DecodeRegisterBody(body, &node, &instances).ok()) return;
  const std::string again = json{{"node", node}, {"instances", instances}}.dump();
  tide::NodeInfo node2;
  std::vector<tide::InstanceStatus> instances2;
  tide::Status st = tide::DecodeRegisterBody(again, &node2, &instances2);
  if (!st.ok()) Fail("register: re-encoded body rejected", st.message() + "\n" + again);
  if (json(node2) != json(node) || json(instances2) != json(instances))
    Fail("register: round trip changed the value", again);
}

void CheckReport(std::string_view body) {
  tide::NodeReport report;
  if (!tide::DecodeNodeReport(body, &report).ok()) return;
  const std::string again = json(report).dump();
  tide::NodeReport report2;
  tide::Status st = tide::DecodeNodeReport(again, &report2);
  if (!st.ok()) Fail("report: re-encoded body rejected", st.message() + "\n" + again);
  if (json(report2) != json(report)) Fail("report: round trip changed the value", again);
}

void CheckScale(std::string_view body) {
  int replicas = -1;
  if (!tide::DecodeScaleBody(body, &replicas).ok()) return;
  if (replicas < 0 || replicas > tide::kMaxWireReplicas) Fail("scale: out of range", "");
}

void CheckFiles(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> files;
  if (!tide::DecodeFilesBody(body, &files).ok()) return;
  json arr = json::array();
  for (const auto& [name, content] : files) {
    if (name.empty()) Fail("files: empty name", "");
    arr.push_back({{"name", name}, {"content", content}});
  }
  std::vector<std::pair<std::string, std::string>> files2;
  const std::string again = json{{"files", arr}}.dump();
  if (!tide::DecodeFilesBody(again, &files2).ok() || files2 != files)
    Fail("files: round trip", again);
}

// The lenient from_json of api/json.h (still used by the API server and the agent): it may
// throw nlohmann exceptions, but must not crash or hit undefined behaviour.
void CheckFromJson(std::string_view body) {
  const json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return;
  auto attempt = [&](auto&& fn) {
    try {
      fn();
    } catch (const json::exception&) {
    }
  };
  attempt([&] { (void)j.get<tide::NodeReport>(); });
  attempt([&] { (void)j.get<tide::AssignmentSet>(); });
  attempt([&] { (void)j.get<tide::Object>(); });
  attempt([&] { (void)j.get<tide::Event>(); });
  if (j.is_object()) {
    attempt([&] { (void)j.at("node").get<tide::NodeInfo>(); });
    attempt([&] { (void)j.at("instances").get<std::vector<tide::InstanceStatus>>(); });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  CheckRegister(body);
  CheckReport(body);
  CheckScale(body);
  CheckFiles(body);
  CheckFromJson(body);
  return 0;
}
