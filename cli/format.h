// Formatting helpers for tidectl output: ages, times, CPU and memory quantities, durations given
// on the command line, JSON -> YAML, and lenient field access into server JSON (the CLI prints
// what is there and "-" for what is not, so it keeps working against older or newer servers).
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/status.h"

namespace tide::cli {

using nlohmann::json;

// A timestamp field as wall ms: accepts a number (ms since the epoch) or an RFC 3339 string
// ("2026-11-27T21:07:26.123Z", offsets allowed). nullopt for absent, empty, zero or garbage.
std::optional<int64_t> ParseTimeMs(const json& v);
std::optional<int64_t> ParseRfc3339(const std::string& s);

// kubectl-like age of a span: "45s", "3m12s", "47m", "5h3m", "26h", "3d4h", "45d", "2y".
std::string FormatAge(int64_t ms);
// Age of the wall time in `v` relative to `now_ms`, or "-" when `v` holds no time.
std::string AgeOf(const json& v, int64_t now_ms);

// 134217728 -> "128Mi", 1536 -> "1.5Ki", 0 -> "0".
std::string FormatBytes(double bytes);
// 0.5 -> "500m", 2 -> "2", 1.25 -> "1250m".
std::string FormatCpu(double cores);
// Seconds as a short duration: 30 -> "30s", 90 -> "1m30s", 0.5 -> "500ms".
std::string FormatSeconds(double seconds);

// "60s", "1m30s", "2h", "500ms", or a plain number of seconds.
Status ParseDuration(const std::string& text, double* seconds);

// YAML rendering of a JSON value (block style; object keys sorted, as nlohmann::json keeps them).
std::string JsonToYaml(const json& j);

// Lenient access: the value at a "/"-free dotted path ("status.readyReplicas"), or null json.
const json& At(const json& j, const std::string& dotted);
// The value at `dotted` as text: strings as is, numbers without trailing zeros, booleans,
// arrays of scalars joined by ' '; `dflt` when absent or null.
std::string Str(const json& j, const std::string& dotted, const std::string& dflt = "-");
double Num(const json& j, const std::string& dotted, double dflt = 0);
// {"a":"1","b":"2"} -> "a=1,b=2"; `dflt` when empty.
std::string LabelsText(const json& labels, const std::string& dflt = "<none>");
// A number without needless zeros: 2 -> "2", 0.5 -> "0.5".
std::string NumText(double v);

}  // namespace tide::cli
