// Detects inputs on which yaml-cpp 0.7's YAML::LoadAll never returns (upstream issue
// jbeder/yaml-cpp#1040, fixed after 0.8 by PR #1319): on a stray ',' at the top level (e.g. the
// text "," or "&a,") Parser::HandleNextDocument keeps reporting an empty document without
// consuming input, and LoadAll appends null nodes until memory runs out.
//
// ParseManifests calls it before YAML::LoadAll, so such a body is a syntax error, not a hung
// tided. WouldLoopForever runs the same parser with an event handler that builds nothing and stops
// once it has seen more documents than the text can hold: every document after the first starts at
// a
// "---" or "..." line, so a text has at most (such lines + 1) documents. Header-only; thread-safe.
#pragma once

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <cstddef>
#include <sstream>
#include <string>
#include <string_view>

namespace tide::yaml_guard {

class CountNothing : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

inline bool WouldLoopForever(std::string_view text) {
  size_t max_docs = 1;
  for (size_t i = 0; i < text.size(); i = text.find('\n', i) + 1) {
    std::string_view line = text.substr(i, 3);
    if (line == "---" || line == "...") ++max_docs;
    if (text.find('\n', i) == std::string_view::npos) break;
  }
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  CountNothing handler;
  size_t docs = 0;
  try {
    while (parser.HandleNextDocument(handler)) {
      if (++docs > max_docs) return true;
    }
  } catch (const YAML::Exception&) {
    // A syntax error: LoadAll throws it too, and returns.
  }
  return false;
}

}  // namespace tide::yaml_guard
