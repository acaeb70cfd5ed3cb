// Quantities written by people: memory sizes, CPU amounts and durations, as used in manifests
// (`resources: {cpu: 500m, memory: 256Mi}`) and in flags (`--memory 2Gi`, `--node-grace 10s`).
//
// Grammar (no spaces, no sign; a leading '-' is reported as "must not be negative"):
//   memory:   NUMBER [k|K|M|G|T|P (powers of 1000) | Ki|Mi|Gi|Ti|Pi (powers of 1024)]
//             NUMBER is digits with an optional fraction ("1.5Gi"); the result must be a whole
//             number of bytes that fits in int64. A bare "m" (milli) is refused with a hint.
//   cpu:      NUMBER cores ("0.5", "2") or INTEGER "m" millicores ("500m").
//   duration: one or more NUMBER UNIT pairs, UNIT in ms|s|m|h ("250ms", "1.5s", "1m30s", "1h");
//             "0" alone is zero. Rounded to whole milliseconds.
// Format* produce text the matching Parse* reads back to the same value.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tide {

bool ParseMemory(std::string_view text, int64_t* bytes, std::string* err);
bool ParseCpu(std::string_view text, double* cores, std::string* err);
bool ParseDuration(std::string_view text, int64_t* ms, std::string* err);

// The shortest exact form: "256Mi", "128M", "1k", else plain bytes; binary units win ties.
std::string FormatMemory(int64_t bytes);
// "500m" below one core when exact in millicores, else the shortest decimal ("2", "1.5").
std::string FormatCpu(double cores);
// "250ms", "10s", "1.5s", "1m30s", "1h", "0s".
std::string FormatDuration(int64_t ms);

}  // namespace tide
