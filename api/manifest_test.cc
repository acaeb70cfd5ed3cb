#include "api/manifest.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "api/json.h"
#include "api/manifest_testutil.h"

// Documents (one object, sequences, Lists, JSON), errors collected across a text, apply-batch
// checks, error forms, the shipped manifests and hostile input; what each spec field accepts is
// in api/manifest_spec_test.cc.
namespace tide {
namespace {

TEST(ParseManifests, WireJsonOfAnObjectParsesBackToIt) {
  // What GET shows (api/json.h, every field filled) can be applied again unchanged.
  ParseResult r = ParseManifests(kSpecExample, "spec.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  for (const Object& o : r.objects) {
    nlohmann::json j = o;
    j["status"] = {{"readyReplicas", 1}};  // output-only, ignored on input
    ParseResult back = ParseManifests(j.dump(), "get.json");
    ASSERT_TRUE(back.ok()) << j.dump() << "\n" << Dump(back.errors);
    ASSERT_EQ(back.objects.size(), 1u);
    EXPECT_EQ(nlohmann::json(back.objects[0]), nlohmann::json(o));
  }
}

TEST(ParseManifests, ReportsAllErrorsAtOnceInOrder) {
  ParseResult r = ParseManifests(
      "apiVersion: tide/v1\n"  // 1
      "kind: Service\n"
      "metadata: {name: Bad_Name}\n"  // 3
      "spec:\n"
      "  command: []\n"   // 5
      "  replicas: -2\n"  // 6
      "  colour: blue\n"  // 7
      "---\n"
      "apiVersion: tide/v1\n"  // 9
      "kind: Function\n"
      "metadata: {name: ok}\n"
      "spec:\n"
      "  command: [x]\n"
      "  env: {PORT: \"1\"}\n"                    // 14
      "  autoscale: {metric: qps, target: 0}\n",  // 15
      "many.yaml");
  ASSERT_EQ(r.errors.size(), 7u) << Dump(r.errors);
  std::vector<std::string> paths;
  for (const auto& e : r.errors) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"metadata.name", "spec.command", "spec.replicas",
                                             "spec.colour", "spec.env.PORT",
                                             "spec.autoscale.metric", "spec.autoscale.target"}));
  EXPECT_EQ(r.errors[4].line, 14);
  EXPECT_EQ(r.errors[6].line, 15);
  EXPECT_EQ(r.errors[6].column, 36);
  for (const auto& e : r.errors) EXPECT_EQ(e.file, "many.yaml");
  EXPECT_TRUE(r.objects.empty());
  ASSERT_EQ(r.rejected.size(), 1u);  // the Function named itself; the Service did not
  EXPECT_EQ(r.rejected[0].name, "ok");
}

TEST(ParseManifests, MultiDocumentSequencesAndLists) {
  ParseResult r = ParseManifests(
      "---\n"
      "# only a comment\n"
      "---\n"
      "apiVersion: tide/v1\nkind: Layer\nmetadata: {name: one}\nspec: {path: /1}\n"
      "---\n"
      "- apiVersion: tide/v1\n  kind: Layer\n  metadata: {name: two}\n  spec: {path: /2}\n"
      "- {apiVersion: tide/v1, kind: Layer, metadata: {name: three}, spec: {path: /3}}\n"
      "---\n"
      "apiVersion: v1\nkind: List\nitems:\n"
      "- {apiVersion: tide/v1, kind: Layer, metadata: {name: four}, spec: {path: /4}}\n"
      "...\n",
      "multi.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  ASSERT_EQ(r.objects.size(), 4u);
  EXPECT_EQ(r.objects[0].metadata.name, "one");
  EXPECT_EQ(r.objects[1].metadata.name, "two");
  EXPECT_EQ(r.objects[2].metadata.name, "three");
  EXPECT_EQ(r.objects[3].metadata.name, "four");
  EXPECT_EQ(r.sources[1].object.line, 9);
  EXPECT_EQ(r.sources[2].object.line, 13);
  EXPECT_EQ(r.sources[3].object.line, 18);

  EXPECT_TRUE(ParseManifests("", "e.yaml").objects.empty());
  EXPECT_TRUE(ParseManifests("", "e.yaml").ok());

  ExpectOneError("kind: List\nitems:\n- {kind: List, items: []}\n", "items[0]", 3, 3, "nested");
  ExpectOneError("kind: List\nitems: {}\n", "items", 2, 8, "must be a list");
  ExpectOneError("kind: List\napiVersion: v2\nitems: []\n", "apiVersion", 2, 13, "tide/v1");
  ExpectOneError("kind: List\n", "items", 1, 1, "required");
}

TEST(ParseManifests, AcceptsJson) {
  ParseResult r = ParseManifests(
      R"({"apiVersion":"tide/v1","kind":"Service","metadata":{"name":"api","labels":{"tier":"web"}},
"spec":{"command":["./api","--port","${PORT}"],"replicas":3,"resources":{"cpu":"250m","memory":"64Mi"},
"autoscale":null,"readiness":{"httpGet":"/ready"}}})",
      "api.json");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].spec.replicas, 3);
  EXPECT_FALSE(r.objects[0].spec.autoscale.has_value());
  EXPECT_DOUBLE_EQ(r.objects[0].spec.resources.cpu, 0.25);
  EXPECT_EQ(r.objects[0].spec.resources.memory_bytes, 64LL << 20);
  EXPECT_EQ(r.objects[0].spec.readiness->http_path, "/ready");

  // A JSON array of objects, with an error located on its line and column.
  ParseResult bad = ParseManifests(
      "[{\"apiVersion\":\"tide/v1\",\"kind\":\"Layer\",\"metadata\":{\"name\":\"a\"},"
      "\"spec\":{\"path\":\"/a\"}},\n"
      " {\"apiVersion\":\"tide/v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"b\"},"
      "\"spec\":{\"command\":[\"x\"],\"replicas\":\"3\"}}]",
      "arr.json");
  ASSERT_EQ(bad.errors.size(), 1u) << Dump(bad.errors);
  EXPECT_EQ(bad.errors[0].path, "spec.replicas");
  EXPECT_EQ(bad.errors[0].line, 2);
  EXPECT_EQ(bad.errors[0].column, 102);
  EXPECT_EQ(bad.objects.size(), 1u);  // the valid Layer
}

TEST(ValidateBatch, DuplicatesAndSharedWorkloadNames) {
  ParseResult r = ParseManifests(
      "apiVersion: tide/v1\nkind: Layer\nmetadata: {name: lib}\nspec: {path: /a}\n"  // 1-4
      "---\n"
      "apiVersion: tide/v1\nkind: Layer\nmetadata: {name: lib}\nspec: {path: /b}\n"  // 6-9
      "---\n"
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: web}\nspec: {command: [x]}\n"  // 11
      "---\n"
      "apiVersion: tide/v1\nkind: Function\nmetadata: {name: web}\nspec: {command: [x]}\n"  // 16
      "---\n"
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: lib}\nspec: {command: [x]}\n",  // 21
      "dup.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  std::vector<FieldError> errors;
  ValidateBatch(r, {}, &errors);
  ASSERT_EQ(errors.size(), 2u) << Dump(errors);  // a Service may share a Layer's name
  EXPECT_EQ(errors[0].path, "metadata.name");
  EXPECT_EQ(errors[0].line, 8);
  EXPECT_EQ(errors[0].column, 18);
  EXPECT_EQ(errors[0].file, "dup.yaml");
  EXPECT_NE(errors[0].message.find("duplicate Layer \"lib\""), std::string::npos);
  EXPECT_NE(errors[0].message.find("dup.yaml:3:18"), std::string::npos);
  EXPECT_EQ(errors[1].line, 18);
  EXPECT_NE(errors[1].message.find("share one name space"), std::string::npos);
}

TEST(ValidateBatch, LayersMustExist) {
  ParseResult r = ParseManifests(
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: web}\n"
      "spec:\n  command: [x]\n  layers: [here, on-server, nowhere]\n"  // line 6
      "---\n"
      "apiVersion: tide/v1\nkind: Layer\nmetadata: {name: here}\nspec: {path: /h}\n",
      "layers.yaml");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  std::vector<FieldError> errors;
  ValidateBatch(r, {"on-server"}, &errors);
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  EXPECT_EQ(errors[0].path, "spec.layers[2]");
  EXPECT_EQ(errors[0].line, 6);
  EXPECT_EQ(errors[0].column, 29);
  EXPECT_NE(errors[0].message.find("unknown layer \"nowhere\""), std::string::npos);

  errors.clear();
  ValidateBatch(r, {}, &errors);
  ASSERT_EQ(errors.size(), 2u) << Dump(errors);
  EXPECT_EQ(errors[0].path, "spec.layers[1]");
}

TEST(ValidateBatch, RejectedLayerDoesNotCascadeAndFilesAreKept) {
  ParseResult a = ParseManifests(
      "apiVersion: tide/v1\nkind: Layer\nmetadata: {name: lib}\nspec: {path: relative}\n",
      "a.yaml");
  ParseResult b = ParseManifests(
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: web}\n"
      "spec: {command: [x], layers: [lib]}\n",
      "b.yaml");
  EXPECT_EQ(a.errors.size(), 1u);
  ASSERT_EQ(a.rejected.size(), 1u);
  EXPECT_TRUE(b.ok());
  AppendParseResult(&a, std::move(b));
  ASSERT_EQ(a.objects.size(), 1u);
  ASSERT_EQ(a.sources.size(), 1u);
  EXPECT_EQ(a.sources[0].name.file, "b.yaml");
  std::vector<FieldError> errors;
  ValidateBatch(a, {}, &errors);
  EXPECT_TRUE(errors.empty()) << Dump(errors);  // only the Layer's own path error stands
  EXPECT_EQ(a.errors.size(), 1u);
  EXPECT_EQ(a.errors[0].file, "a.yaml");
}

TEST(FieldErrors, JsonAndTextForms) {
  std::vector<FieldError> errors = {{"a.yaml", 7, 13, "spec.replicas", "must not be negative"},
                                    {"", 0, 0, "", "too big"}};
  nlohmann::json j = FieldErrorsToJson(errors);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0], (nlohmann::json{{"file", "a.yaml"},
                                  {"line", 7},
                                  {"column", 13},
                                  {"path", "spec.replicas"},
                                  {"message", "must not be negative"}}));
  auto back = FieldErrorsFromJson(j);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].line, 7);
  EXPECT_EQ(back[0].path, "spec.replicas");
  EXPECT_EQ(FormatFieldError(errors[0]), "a.yaml:7:13: spec.replicas: must not be negative");
  EXPECT_EQ(FormatFieldError(errors[1]), "<input>: too big");
  EXPECT_TRUE(FieldErrorsFromJson(nlohmann::json("x")).empty());
}

// ---- shipped manifests ---------------------------------------------------------------------

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The text of the first ```lang block after `heading` in markdown `md`.
std::string CodeBlockAfter(const std::string& md, const std::string& heading,
                           const std::string& lang) {
  size_t h = md.find(heading);
  if (h == std::string::npos) return "";
  size_t start = md.find("```" + lang + "\n", h);
  if (start == std::string::npos) return "";
  start += 4 + lang.size();
  size_t end = md.find("```", start);
  return end == std::string::npos ? "" : md.substr(start, end - start);
}

TEST(ShippedManifests, DocsExampleIsValid) {
  std::string md = ReadFile(std::filesystem::path(TIDE_SOURCE_DIR) / "docs/manifests.md");
  ASSERT_FALSE(md.empty());
  std::string yaml = CodeBlockAfter(md, "## A complete example", "yaml");
  ParseResult r = ParseManifests(yaml, "docs/manifests.md");
  ASSERT_TRUE(r.ok()) << Dump(r.errors);
  ASSERT_EQ(r.objects.size(), 3u);
  std::vector<FieldError> batch;
  ValidateBatch(r, {}, &batch);
  EXPECT_TRUE(batch.empty()) << Dump(batch);
  EXPECT_EQ(r.objects[1].spec.resources.memory_bytes, 256LL << 20);

  ParseResult j =
      ParseManifests(CodeBlockAfter(md, "The same Function in JSON", "json"), "docs/manifests.md");
  ASSERT_TRUE(j.ok()) << Dump(j.errors);
  ASSERT_EQ(j.objects.size(), 1u);
  EXPECT_EQ(j.objects[0].spec.autoscale->max_replicas, 50);
  EXPECT_EQ(j.objects[0].spec.autoscale->min_replicas, 0);
}

TEST(ShippedManifests, ExamplesDirectoryIsValid) {
  std::filesystem::path dir = std::filesystem::path(TIDE_SOURCE_DIR) / "manifests";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "no manifests/ directory";
  ParseResult all;
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    std::string ext = entry.path().extension().string();
    if (!entry.is_regular_file() || (ext != ".yaml" && ext != ".yml" && ext != ".json")) continue;
    ++files;
    AppendParseResult(&all, ParseManifests(ReadFile(entry.path()), entry.path().string()));
  }
  EXPECT_TRUE(all.ok()) << Dump(all.errors);
  std::vector<FieldError> batch;
  ValidateBatch(all, {}, &batch);
  // Files are applied one by one too, so duplicates across files are not errors; unknown
  // layers are.
  for (const auto& e : batch)
    EXPECT_EQ(e.path.find("spec.layers"), std::string::npos) << FormatFieldError(e);
  if (files == 0) GTEST_SKIP() << "no manifests yet";
}

// ---- hostile input: never a crash, never an exception, always an answer ----------------------

TEST(ParseManifests, RejectsOversizedInput) {
  std::string big(kMaxManifestBytes + 1, '#');
  ParseResult r = ParseManifests(big, "big.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("too large"), std::string::npos);
}

TEST(ParseManifests, RejectsDeepNesting) {
  for (const std::string& text : {std::string(100000, '['), std::string(5000, '{'),
                                  "a: " + std::string(3000, '[') + std::string(3000, ']')}) {
    ParseResult r = ParseManifests(text, "deep.yaml");
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.objects.empty());
  }
  std::string block;
  for (int i = 0; i < 1200; ++i) block += std::string(i, ' ') + "a:\n";
  ParseResult r = ParseManifests(block, "deep.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors[0].message.find("nested too deeply"), std::string::npos) << Dump(r.errors);
}

TEST(ParseManifests, SurvivesAliasCycles) {
  // An alias inside its own anchor makes a cyclic node graph.
  ParseResult r = ParseManifests(
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: a}\nspec: &s {command: *s}\n", "c");
  ASSERT_EQ(r.errors.size(), 1u) << Dump(r.errors);
  EXPECT_EQ(r.errors[0].path, "spec.command");
  EXPECT_NE(r.errors[0].message.find("must be a list"), std::string::npos);
}

TEST(ParseManifests, ValueBudgetStopsAliasFanOut) {
  // One anchored object repeated through 200000 aliases: about 1 MB of text, millions of values.
  std::string text =
      "- &o {apiVersion: tide/v1, kind: Service, metadata: {name: a}, spec: {command: [x], "
      "env: {A: b}}}\n";
  for (int i = 0; i < 200000; ++i) text += "- *o\n";
  auto start = std::chrono::steady_clock::now();
  ParseResult r = ParseManifests(text, "budget.yaml");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Dump(r.errors).find("manifest too large"), std::string::npos);
  EXPECT_LE(r.errors.size(), kMaxManifestErrors + 1);
}

TEST(ParseManifests, CapsTheNumberOfErrors) {
  std::string text =
      "apiVersion: tide/v1\nkind: Service\nmetadata: {name: a}\nspec:\n"
      "  command: [x]\n  env:\n";
  for (int i = 0; i < 1500; ++i) text += "    \"bad-" + std::to_string(i) + "\": x\n";
  ParseResult r = ParseManifests(text, "many.yaml");
  ASSERT_EQ(r.errors.size(), kMaxManifestErrors + 1);
  EXPECT_NE(r.errors.back().message.find("too many errors"), std::string::npos);
}

TEST(ParseManifests, MutatedInputNeverThrows) {
  std::mt19937 rng(12345);
  const std::string base = kSpecExample;
  const std::string alphabet = "{}[]:,-&*!|>'\"#%@` \n\t\\0aZ9.~?";
  int parsed_ok = 0;
  for (int i = 0; i < 300; ++i) {
    std::string text = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      size_t pos = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          text.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        default:
          text.erase(pos, 1 + rng() % 8);
          break;
      }
#if defined(__GNUC__) && !defined(__clang__)  // GCC bug 105329: at -O3 GCC 12 reports a bogus
#pragma GCC diagnostic push                   // -Wrestrict in assigning a one-character literal
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
      if (text.empty()) text = "x";
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    }
    ParseResult r;
    EXPECT_NO_THROW(r = ParseManifests(text, "m.yaml"));
    if (r.ok()) ++parsed_ok;
    for (const auto& e : r.errors) {
      EXPECT_FALSE(e.message.empty());
      EXPECT_GE(e.line, 0);
    }
  }
  EXPECT_LT(parsed_ok, 300);  // the mutations do break things
  std::string binary;
  for (int i = 0; i < 4096; ++i) binary += static_cast<char>(rng() % 256);
  EXPECT_NO_THROW(ParseManifests(binary, "bin"));
}

}  // namespace
}  // namespace tide

namespace tide {
namespace {

std::string ReadCrash(const std::string& name) {
  std::ifstream in(std::string(TIDE_SOURCE_DIR) + "/tests/fuzz/crashes/" + name, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The fuzzer's findings (tests/fuzz/crashes/): each is now a clear error that serializes.
TEST(ManifestHostileInput, FuzzFindingsAreErrors) {
  for (const char* f :
       {"manifest-yaml-cpp-loops-forever-min.yaml", "manifest-yaml-cpp-loops-forever.yaml",
        "manifest-invalid-utf8-accepted.yaml", "manifest-error-message-splits-utf8.yaml",
        "manifest-describe-cuts-utf8.yaml", "manifest-nul-bytes-taken-for-utf32.yaml"}) {
    std::string text = ReadCrash(f);
    ASSERT_FALSE(text.empty()) << f;
    ParseResult r = ParseManifests(text, f);
    EXPECT_FALSE(r.ok()) << f;
    EXPECT_NO_THROW(FieldErrorsToJson(r.errors).dump()) << f;
  }
  ParseResult comma = ParseManifests(",", "x.yaml");
  ASSERT_EQ(comma.errors.size(), 1u);
  EXPECT_NE(comma.errors[0].message.find("','"), std::string::npos);
  ParseResult bad = ParseManifests("apiVersion: tide/v1\nkind: \xff\n", "x.yaml");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].line, 2);
  EXPECT_EQ(bad.errors[0].column, 7);
}

}  // namespace
}  // namespace tide
