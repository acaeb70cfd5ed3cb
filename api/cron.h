// Validation of the cron expressions in Function triggers (`triggers: [{schedule: "*/5 * * *
// *"}]`).
//
// Five fields separated by blanks: minute (0-59), hour (0-23), day of month (1-31), month (1-12),
// day of week (0-7, 0 and 7 both Sunday). Each field is a comma list of items, each one of
// `*`, `*/N`, `A`, `A-B` or `A-B/N` with A <= B inside the field's range and N >= 1.
// No names (JAN, MON) and no @macros. Pure function; thread-safe.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>

namespace tide {

// True when `expr` is a valid schedule; otherwise false with *err naming the bad field.
bool ValidateCron(std::string_view expr, std::string* err);

// A parsed schedule. Times are UTC. As in classic cron, when both day-of-month and day-of-week
// are restricted (neither is `*`), a day matches if either matches.
class CronSchedule {
 public:
  // False (with *err) when the expression is invalid (same rules as ValidateCron).
  static bool Parse(std::string_view expr, CronSchedule* out, std::string* err);
  // The first whole minute strictly after wall_ms (Unix ms) that matches, in Unix ms; -1 when
  // none within 5 years (e.g. "0 0 31 2 *").
  int64_t NextAfter(int64_t wall_ms) const;

 private:
  std::bitset<60> minute_;
  std::bitset<24> hour_;
  std::bitset<32> dom_;
  std::bitset<13> month_;
  std::bitset<7> dow_;
  bool dom_star_ = true, dow_star_ = true;
};

}  // namespace tide
