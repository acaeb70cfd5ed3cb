// libFuzzer target: manifest parsing and batch validation (api/manifest.h) on arbitrary bytes.
// Beyond "no crash, no sanitizer report", it checks what the API server relies on: every error
// and every accepted object serialises to JSON (valid UTF-8, so json::dump does not throw), and
// an accepted object's JSON form (what GET shows) parses again (docs/api.md: GET output
// re-applies).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "api/manifest.h"
#include "api/yaml_guard.h"

namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_manifest: %s\n%s\n", what, detail.c_str());
  std::abort();
}

// TIDE_FUZZ_SKIP_KNOWN_BUGS=1 steps around the known, reported bugs whose reproducers are in
// tests/fuzz/crashes/ (docs/fuzzing.md), so fuzzing can go on past them: inputs on which
// yaml-cpp 0.7 loops forever are skipped, and the UTF-8 checks are off.
bool SkipKnownBugs() {
  static const bool skip = std::getenv("TIDE_FUZZ_SKIP_KNOWN_BUGS") != nullptr;
  return skip;
}

// json::dump, which throws on strings that are not valid UTF-8 (as the API server's would).
bool Dump(const nlohmann::json& j, const char* what, std::string* out) {
  try {
    *out = j.dump();
    return true;
  } catch (const nlohmann::json::type_error& e) {
    if (SkipKnownBugs()) return false;
    Fail(what, e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (SkipKnownBugs() && tide::yaml_guard::WouldLoopForever(text)) return 0;
  tide::ParseResult parsed = tide::ParseManifests(text, "fuzz.yaml");
  if (parsed.objects.size() != parsed.sources.size()) Fail("sources out of step", "");
  std::vector<tide::FieldError> errors;
  tide::ValidateBatch(parsed, {"common"}, &errors);
  errors.insert(errors.end(), parsed.errors.begin(), parsed.errors.end());
  for (const auto& e : errors) (void)tide::FormatFieldError(e);
  std::string error_json;
  if (Dump(tide::FieldErrorsToJson(errors), "error messages are not valid UTF-8", &error_json) &&
      tide::FieldErrorsFromJson(nlohmann::json::parse(error_json)).size() != errors.size())
    Fail("FieldErrorsFromJson lost errors", error_json);

  // Round trip of accepted objects (only when the whole text was valid, as the API would).
  if (!parsed.ok()) return 0;
  for (const auto& obj : parsed.objects) {
    std::string doc;
    if (!Dump(nlohmann::json(obj), "an accepted object is not valid UTF-8", &doc)) continue;
    tide::ParseResult again = tide::ParseManifests(doc, "again.json");
    if (!again.ok() || again.objects.size() != 1) {
      std::string why = doc;
#if defined(__GNUC__) && !defined(__clang__)  // GCC bug 105651: at -O3 GCC 12 reports a bogus
#pragma GCC diagnostic push                   // -Wrestrict in "c" + std::string&&
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
      for (const auto& e : again.errors) why += "\n" + tide::FormatFieldError(e);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
      Fail("GET form of an accepted object does not parse again", why);
    }
    if (nlohmann::json(again.objects[0]) != nlohmann::json(obj))
      Fail("GET form changes when applied again",
           doc + "\n" + nlohmann::json(again.objects[0]).dump());
  }
  return 0;
}
