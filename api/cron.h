// Validation of the cron expressions in Function triggers (`triggers: [{schedule: "*/5 * * *
// *"}]`).
//
// Five fields separated by blanks: minute (0-59), hour (0-23), day of month (1-31), month (1-12),
// day of week (0-7, 0 and 7 both Sunday). Each field is a comma list of items, each one of
// `*`, `*/N`, `A`, `A-B` or `A-B/N` with A <= B inside the field's range and N >= 1.
// No names (JAN, MON) and no @macros. Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tide {

// True when `expr` is a valid schedule; otherwise false with *err naming the bad field.
bool ValidateCron(std::string_view expr, std::string* err);

}  // namespace tide
