#include "api/cron.h"

#include <charconv>
#include <ctime>
#include <vector>

namespace tide {
namespace {

struct FieldSpec {
  const char* name;
  int lo;
  int hi;
};

constexpr FieldSpec kFields[5] = {{"minute", 0, 59},
                                  {"hour", 0, 23},
                                  {"day-of-month", 1, 31},
                                  {"month", 1, 12},
                                  {"day-of-week", 0, 7}};

bool ParseInt(std::string_view s, int* out) {
  if (s.empty() || s.size() > 4) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

bool CheckItem(std::string_view item, const FieldSpec& f, std::string* why) {
  std::string range = std::to_string(f.lo) + "-" + std::to_string(f.hi);
  std::string_view base = item;
  size_t slash = item.find('/');
  if (slash != std::string_view::npos) {
    base = item.substr(0, slash);
    int step = 0;
    if (!ParseInt(item.substr(slash + 1), &step) || step < 1 || step > f.hi) {
      *why = "step must be a number from 1 to " + std::to_string(f.hi);
      return false;
    }
    if (base != "*" && base.find('-') == std::string_view::npos) {
      *why = "a step needs * or a range before it (*/N or A-B/N)";
      return false;
    }
  }
  if (base == "*") return true;
  size_t dash = base.find('-');
  int a = 0;
  int b = 0;
  if (dash == std::string_view::npos) {
    if (!ParseInt(base, &a)) {
      *why = "expected *, a number, a range A-B or a step */N";
      return false;
    }
    b = a;
  } else if (!ParseInt(base.substr(0, dash), &a) || !ParseInt(base.substr(dash + 1), &b)) {
    *why = "bad range; expected A-B with numbers";
    return false;
  }
  if (a < f.lo || a > f.hi || b < f.lo || b > f.hi) {
    *why = "out of range " + range;
    return false;
  }
  if (a > b) {
    *why = "range start is after its end";
    return false;
  }
  return true;
}

// The blank-separated fields of a schedule.
std::vector<std::string_view> SplitFields(std::string_view expr) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < expr.size()) {
    while (i < expr.size() && (expr[i] == ' ' || expr[i] == '\t')) ++i;
    size_t start = i;
    while (i < expr.size() && expr[i] != ' ' && expr[i] != '\t') ++i;
    if (i > start) fields.push_back(expr.substr(start, i - start));
  }
  return fields;
}

}  // namespace

bool ValidateCron(std::string_view expr, std::string* err) {
  std::vector<std::string_view> fields = SplitFields(expr);
  if (fields.size() != 5) {
    *err = "a cron schedule has 5 fields (minute hour day-of-month month day-of-week), got " +
           std::to_string(fields.size());
    return false;
  }
  for (int f = 0; f < 5; ++f) {
    for (std::string_view item : Split(fields[f], ',')) {
      std::string why;
      if (!CheckItem(item, kFields[f], &why)) {
        *err = std::string(kFields[f].name) + " field \"" + std::string(fields[f]) + "\": " + why;
        return false;
      }
    }
  }
  return true;
}

namespace {

// Expands one validated field into the values it allows.
std::vector<int> Expand(std::string_view field, const FieldSpec& f) {
  std::vector<int> out;
  for (std::string_view item : Split(field, ',')) {
    int step = 1;
    std::string_view base = item;
    size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      ParseInt(item.substr(slash + 1), &step);
      base = item.substr(0, slash);
    }
    int a = f.lo, b = f.hi;
    if (base != "*") {
      size_t dash = base.find('-');
      if (dash == std::string_view::npos) {
        ParseInt(base, &a);
        b = a;
      } else {
        ParseInt(base.substr(0, dash), &a);
        ParseInt(base.substr(dash + 1), &b);
      }
    }
    for (int v = a; v <= b; v += step) out.push_back(v);
  }
  return out;
}

}  // namespace

bool CronSchedule::Parse(std::string_view expr, CronSchedule* out, std::string* err) {
  if (!ValidateCron(expr, err)) return false;
  std::vector<std::string_view> fields = SplitFields(expr);
  CronSchedule c;
  for (int v : Expand(fields[0], kFields[0])) c.minute_.set(v);
  for (int v : Expand(fields[1], kFields[1])) c.hour_.set(v);
  for (int v : Expand(fields[2], kFields[2])) c.dom_.set(v);
  for (int v : Expand(fields[3], kFields[3])) c.month_.set(v);
  for (int v : Expand(fields[4], kFields[4])) c.dow_.set(v % 7);
  c.dom_star_ = fields[2] == "*";
  c.dow_star_ = fields[4] == "*";
  *out = c;
  return true;
}

int64_t CronSchedule::NextAfter(int64_t wall_ms) const {
  time_t t = static_cast<time_t>(wall_ms / 1000 / 60 * 60 + 60);  // next whole minute
  const time_t limit = t + 5LL * 366 * 24 * 3600;
  while (t < limit) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    if (!month_.test(tm.tm_mon + 1)) {  // jump to the first day of the next month
      tm.tm_mon += 1;
      tm.tm_mday = 1;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      t = timegm(&tm);
      continue;
    }
    bool dom = dom_.test(tm.tm_mday), dow = dow_.test(tm.tm_wday);
    bool day = dom_star_ && dow_star_ ? true : dom_star_ ? dow : dow_star_ ? dom : (dom || dow);
    if (!day) {
      tm.tm_mday += 1;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      t = timegm(&tm);
      continue;
    }
    if (!hour_.test(tm.tm_hour)) {
      tm.tm_hour += 1;
      tm.tm_min = tm.tm_sec = 0;
      t = timegm(&tm);
      continue;
    }
    if (!minute_.test(tm.tm_min)) {
      t += 60;
      continue;
    }
    return static_cast<int64_t>(t) * 1000;
  }
  return -1;
}

}  // namespace tide
