#include "api/quantity.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace tide {
namespace {

using u128 = unsigned __int128;

// A non-negative decimal number mantissa / 10^scale, read exactly.
struct Decimal {
  u128 mantissa = 0;
  int scale = 0;
};

constexpr int kMaxDigits = 20;  // keeps mantissa * 1024^5 * 3.6e6 well inside 128 bits

u128 Pow10(int n) {
  u128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads DIGITS [. DIGITS] at the front of `s` and advances it. False when there is no number.
bool ReadDecimal(std::string_view* s, Decimal* out, std::string* err) {
  Decimal d;
  size_t i = 0;
  int digits = 0;
  bool any = false;
  while (i < s->size() && IsDigit((*s)[i])) {
    if (d.mantissa != 0 || (*s)[i] != '0') ++digits;
    d.mantissa = d.mantissa * 10 + static_cast<unsigned>((*s)[i] - '0');
    any = true;
    ++i;
    if (digits > kMaxDigits) {
      *err = "number is too large";
      return false;
    }
  }
  if (i < s->size() && (*s)[i] == '.') {
    ++i;
    bool frac = false;
    while (i < s->size() && IsDigit((*s)[i])) {
      ++digits;
      d.mantissa = d.mantissa * 10 + static_cast<unsigned>((*s)[i] - '0');
      ++d.scale;
      frac = true;
      ++i;
      if (digits > kMaxDigits) {
        *err = "number has too many digits";
        return false;
      }
    }
    if (!frac) {
      *err = "expected digits after '.'";
      return false;
    }
  }
  if (!any && d.scale == 0) {
    *err = "expected a number";
    return false;
  }
  s->remove_prefix(i);
  *out = d;
  return true;
}

bool StartsNegative(std::string_view text, std::string* err) {
  if (!text.empty() && text[0] == '-') {
    *err = "must not be negative";
    return true;
  }
  return false;
}

// GCC 12 at -O3 reports a bogus -Wrestrict inside operator+(const char*, std::string&&) (a
// memcpy of 2^63 bytes that "may overlap"): GCC bug 105651. Silenced for this function only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace

bool ParseMemory(std::string_view text, int64_t* bytes, std::string* err) {
  std::string e;
  if (StartsNegative(text, err)) return false;
  std::string_view rest = text;
  Decimal d;
  if (!ReadDecimal(&rest, &d, &e)) {
    *err = Quoted(text) + " is not a memory size (" + e + "); use bytes or a unit: 128Mi, 2Gi, 1G";
    return false;
  }
  struct Unit {
    const char* name;
    u128 mult;
  };
  static const Unit kUnits[] = {
      {"", 1},
      {"k", 1000},
      {"K", 1000},
      {"M", 1000 * 1000},
      {"G", 1000ULL * 1000 * 1000},
      {"T", 1000ULL * 1000 * 1000 * 1000},
      {"P", 1000ULL * 1000 * 1000 * 1000 * 1000},
      {"Ki", 1ULL << 10},
      {"Mi", 1ULL << 20},
      {"Gi", 1ULL << 30},
      {"Ti", 1ULL << 40},
      {"Pi", 1ULL << 50},
  };
  const Unit* unit = nullptr;
  for (const auto& u : kUnits) {
    if (rest == u.name) unit = &u;
  }
  if (unit == nullptr) {
    if (rest == "m" || rest == "mi") {
      *err = Quoted(text) + ": 'm' means milli, not mega; did you mean " +
             std::string(text.substr(0, text.size() - rest.size())) + "Mi?";
    } else {
      *err = Quoted(text) + " has an unknown unit " + Quoted(rest) +
             "; use k, M, G, T, P (x1000) or Ki, Mi, Gi, Ti, Pi (x1024)";
    }
    return false;
  }
  u128 total = d.mantissa * unit->mult;
  u128 div = Pow10(d.scale);
  if (total % div != 0) {
    *err = Quoted(text) + " is not a whole number of bytes";
    return false;
  }
  total /= div;
  if (total > static_cast<u128>(std::numeric_limits<int64_t>::max())) {
    *err = Quoted(text) + " is too large";
    return false;
  }
  *bytes = static_cast<int64_t>(total);
  return true;
}

bool ParseCpu(std::string_view text, double* cores, std::string* err) {
  if (StartsNegative(text, err)) return false;
  std::string_view rest = text;
  Decimal d;
  std::string e;
  if (!ReadDecimal(&rest, &d, &e)) {
    *err =
        Quoted(text) + " is not a CPU amount (" + e + "); use cores (0.5, 2) or millicores (500m)";
    return false;
  }
  double value = static_cast<double>(d.mantissa) / std::pow(10.0, d.scale);
  if (rest == "m") {
    if (d.scale != 0) {
      *err = Quoted(text) + ": millicores must be a whole number";
      return false;
    }
    value /= 1000.0;
  } else if (!rest.empty()) {
    *err = Quoted(text) + " has an unknown unit " + Quoted(rest) +
           "; use cores (0.5, 2) or millicores (500m)";
    return false;
  }
  if (value > 1e6) {
    *err = Quoted(text) + " is too large";
    return false;
  }
  *cores = value;
  return true;
}

bool ParseDuration(std::string_view text, int64_t* ms, std::string* err) {
  if (StartsNegative(text, err)) return false;
  if (text == "0") {
    *ms = 0;
    return true;
  }
  const std::string hint = "; use a number and a unit: 250ms, 10s, 1.5s, 2m, 1h, 1m30s";
  if (text.empty()) {
    *err = "empty duration" + hint;
    return false;
  }
  std::string_view rest = text;
  u128 total = 0;
  constexpr u128 kMax = static_cast<u128>(std::numeric_limits<int64_t>::max() / 2);
  while (!rest.empty()) {
    Decimal d;
    std::string e;
    if (!ReadDecimal(&rest, &d, &e)) {
      *err = Quoted(text) + " is not a duration (" + e + ")" + hint;
      return false;
    }
    u128 unit_ms = 0;
    if (rest.starts_with("ms")) {
      unit_ms = 1;
      rest.remove_prefix(2);
    } else if (rest.starts_with("s")) {
      unit_ms = 1000;
      rest.remove_prefix(1);
    } else if (rest.starts_with("m")) {
      unit_ms = 60 * 1000;
      rest.remove_prefix(1);
    } else if (rest.starts_with("h")) {
      unit_ms = 3600 * 1000;
      rest.remove_prefix(1);
    } else {
      *err = Quoted(text) + (rest.empty() ? " has no unit" : " has an unknown unit") + hint;
      return false;
    }
    u128 div = Pow10(d.scale);
    total += (d.mantissa * unit_ms + div / 2) / div;
    if (total > kMax) {
      *err = Quoted(text) + " is too long";
      return false;
    }
  }
  *ms = static_cast<int64_t>(total);
  return true;
}

std::string FormatMemory(int64_t bytes) {
  if (bytes <= 0) return std::to_string(bytes);
  static const std::pair<const char*, int64_t> kBinary[] = {{"Pi", 1LL << 50},
                                                            {"Ti", 1LL << 40},
                                                            {"Gi", 1LL << 30},
                                                            {"Mi", 1LL << 20},
                                                            {"Ki", 1LL << 10}};
  static const std::pair<const char*, int64_t> kDecimal[] = {{"P", 1000000000000000LL},
                                                             {"T", 1000000000000LL},
                                                             {"G", 1000000000LL},
                                                             {"M", 1000000LL},
                                                             {"k", 1000LL}};
  std::string binary = std::to_string(bytes);
  for (const auto& [name, mult] : kBinary) {
    if (bytes % mult == 0) {
      binary = std::to_string(bytes / mult) + name;
      break;
    }
  }
  std::string decimal = std::to_string(bytes);
  for (const auto& [name, mult] : kDecimal) {
    if (bytes % mult == 0) {
      decimal = std::to_string(bytes / mult) + name;
      break;
    }
  }
  // The shorter text wins (128M rather than 125000Ki); binary on a tie.
  return decimal.size() < binary.size() ? decimal : binary;
}

std::string FormatCpu(double cores) {
  if (!std::isfinite(cores)) return "0";
  double milli = cores * 1000.0;
  if (cores < 1 && cores > 0 && std::fabs(milli - std::round(milli)) < 1e-6) {
    return std::to_string(static_cast<int64_t>(std::llround(milli))) + "m";
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, cores);  // shortest round-trip form
  if (ec != std::errc()) return "0";
  return std::string(buf, end);
}

std::string FormatDuration(int64_t ms) {
  if (ms <= 0) return ms == 0 ? "0s" : std::to_string(ms) + "ms";
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string out;
  int64_t h = ms / 3600000;
  int64_t m = (ms / 60000) % 60;
  int64_t s = (ms / 1000) % 60;
  int64_t frac = ms % 1000;
  if (h > 0) out += std::to_string(h) + "h";
  if (m > 0) out += std::to_string(m) + "m";
  if (s > 0 || frac > 0) {
    out += std::to_string(s);
    if (frac > 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(frac));
      std::string f = buf;
      while (f.back() == '0') f.pop_back();
      out += f;
    }
    out += "s";
  }
  return out;
}

}  // namespace tide
