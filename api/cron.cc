#include "api/cron.h"

#include <charconv>
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

}  // namespace

bool ValidateCron(std::string_view expr, std::string* err) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < expr.size()) {
    while (i < expr.size() && (expr[i] == ' ' || expr[i] == '\t')) ++i;
    size_t start = i;
    while (i < expr.size() && expr[i] != ' ' && expr[i] != '\t') ++i;
    if (i > start) fields.push_back(expr.substr(start, i - start));
  }
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

}  // namespace tide
