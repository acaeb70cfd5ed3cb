#include "cli/format.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <regex>

namespace tide::cli {
namespace {

bool LooksLikeNonString(const std::string& s) {
  if (s.empty()) return true;
  static const std::regex kNumber(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)");
  static const std::regex kSpecial(R"(^(true|false|yes|no|on|off|y|n|null|~|\.inf|-\.inf|\.nan)$)",
                                   std::regex::icase);
  if (std::regex_match(s, kNumber) || std::regex_match(s, kSpecial)) return true;
  if (std::isspace(static_cast<unsigned char>(s.front())) ||
      std::isspace(static_cast<unsigned char>(s.back())))
    return true;
  return s.find_first_of(":#{}[],&*!|>'\"%@`\n") != std::string::npos || s.front() == '-' ||
         s.front() == '?';
}

void Emit(YAML::Emitter& out, const json& j) {
  switch (j.type()) {
    case json::value_t::object:
      out << YAML::BeginMap;
      for (auto it = j.begin(); it != j.end(); ++it) {
        out << YAML::Key;
        if (LooksLikeNonString(it.key())) {
          out << YAML::DoubleQuoted << it.key();
        } else {
          out << it.key();
        }
        out << YAML::Value;
        Emit(out, it.value());
      }
      out << YAML::EndMap;
      break;
    case json::value_t::array:
      if (j.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
      }
      out << YAML::BeginSeq;
      for (const auto& v : j) Emit(out, v);
      out << YAML::EndSeq;
      break;
    case json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      if (s.size() > 1 && s.back() == '\n' && s.find_first_not_of('\n') != std::string::npos) {
        out << YAML::Literal << s;
      } else if (LooksLikeNonString(s)) {
        out << YAML::DoubleQuoted << s;
      } else {
        out << s;
      }
      break;
    }
    case json::value_t::boolean:
      out << (j.get<bool>() ? "true" : "false");
      break;
    case json::value_t::number_integer:
      out << j.get<int64_t>();
      break;
    case json::value_t::number_unsigned:
      out << j.get<uint64_t>();
      break;
    case json::value_t::number_float:
      out << NumText(j.get<double>());
      break;
    default:
      out << YAML::Null;
      break;
  }
}

}  // namespace

std::optional<int64_t> ParseRfc3339(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &consumed) !=
      6) {
    return std::nullopt;
  }
  size_t pos = static_cast<size_t>(consumed);
  int64_t frac_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    int64_t value = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (digits < 3) {
        value = value * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    while (digits < 3) {
      value *= 10;
      ++digits;
    }
    frac_ms = value;
  }
  int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset_s;
  return secs * 1000 + frac_ms;
}

std::optional<int64_t> ParseTimeMs(const json& v) {
  if (v.is_number()) {
    auto ms = v.get<int64_t>();
    if (ms <= 0) return std::nullopt;
    return ms;
  }
  if (v.is_string()) return ParseRfc3339(v.get<std::string>());
  return std::nullopt;
}

std::string FormatAge(int64_t ms) {
  int64_t s = std::max<int64_t>(ms, 0) / 1000;
  auto two = [](int64_t a, const char* ua, int64_t b, const char* ub) {
    std::string r = std::to_string(a) + ua;
    if (b > 0) r += std::to_string(b) + ub;
    return r;
  };
  if (s < 120) return std::to_string(s) + "s";
  int64_t m = s / 60;
  if (m < 10) return two(m, "m", s % 60, "s");
  int64_t h = m / 60;
  if (h < 3) return std::to_string(m) + "m";
  if (h < 8) return two(h, "h", m % 60, "m");
  int64_t d = h / 24;
  if (h < 48) return std::to_string(h) + "h";
  if (d < 8) return two(d, "d", h % 24, "h");
  if (d < 365 * 2) return std::to_string(d) + "d";
  return std::to_string(d / 365) + "y";
}

std::string AgeOf(const json& v, int64_t now_ms) {
  auto t = ParseTimeMs(v);
  if (!t) return "-";
  return FormatAge(now_ms - *t);
}

std::string NumText(double v) {
  if (std::isnan(v) || std::isinf(v)) return "-";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

std::string FormatBytes(double bytes) {
  static const char* kUnits[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
  if (bytes <= 0) return "0";
  int u = 0;
  while (bytes >= 1024 && u < 5) {
    bytes /= 1024;
    ++u;
  }
  if (u == 0) return NumText(std::round(bytes));
  char buf[32];
  if (bytes >= 100 || bytes == std::floor(bytes)) {
    std::snprintf(buf, sizeof buf, "%.0f%s", std::round(bytes), kUnits[u]);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f%s", bytes, kUnits[u]);
    std::string s = buf;
    auto dot = s.find(".0");
    if (dot != std::string::npos) s.erase(dot, 2);
    return s;
  }
  return buf;
}

std::string FormatCpu(double cores) {
  if (cores <= 0) return "0";
  if (cores == std::floor(cores)) return NumText(cores);
  return std::to_string(static_cast<int64_t>(std::llround(cores * 1000))) + "m";
}

std::string FormatSeconds(double seconds) {
  if (seconds > 0 && seconds < 1) {
    return std::to_string(static_cast<int64_t>(std::llround(seconds * 1000))) + "ms";
  }
  auto s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return std::to_string(s) + "s";
  std::string r;
  if (s >= 3600) r += std::to_string(s / 3600) + "h";
  if (s % 3600 >= 60) r += std::to_string(s % 3600 / 60) + "m";
  if (s % 60) r += std::to_string(s % 60) + "s";
  return r;
}

Status ParseDuration(const std::string& text, double* seconds) {
  static const std::regex kPlain(R"(^[0-9]+(\.[0-9]+)?$)");
  if (std::regex_match(text, kPlain)) {
    *seconds = std::stod(text);
    return Status::Ok();
  }
  static const std::regex kPart(R"(([0-9]+(?:\.[0-9]+)?)(ms|h|m|s))");
  double total = 0;
  size_t pos = 0;
  auto begin = std::sregex_iterator(text.begin(), text.end(), kPart);
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    if (static_cast<size_t>(it->position()) != pos) break;
    double v = std::stod((*it)[1].str());
    std::string unit = (*it)[2].str();
    total += unit == "h" ? v * 3600 : unit == "m" ? v * 60 : unit == "s" ? v : v / 1000;
    pos += it->length();
  }
  if (text.empty() || pos != text.size()) {
    return Status::Invalid("invalid duration \"" + text + "\" (examples: 60s, 2m, 1h30m, 500ms)");
  }
  *seconds = total;
  return Status::Ok();
}

std::string JsonToYaml(const json& j) {
  YAML::Emitter out;
  Emit(out, j);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

const json& At(const json& j, const std::string& dotted) {
  static const json kNull;
  if (dotted.empty()) return j;
  const json* cur = &j;
  size_t start = 0;
  while (start <= dotted.size()) {
    size_t dot = dotted.find('.', start);
    std::string key =
        dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return kNull;
    auto it = cur->find(key);
    if (it == cur->end()) return kNull;
    cur = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *cur;
}

std::string Str(const json& j, const std::string& dotted, const std::string& dflt) {
  const json& v = At(j, dotted);
  switch (v.type()) {
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      return s.empty() ? dflt : s;
    }
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return NumText(v.get<double>());
    case json::value_t::array: {
      std::string r;
      for (const auto& e : v) {
        if (!r.empty()) r += ' ';
        r += e.is_string() ? e.get<std::string>() : e.dump();
      }
      return r.empty() ? dflt : r;
    }
    default:
      return dflt;
  }
}

double Num(const json& j, const std::string& dotted, double dflt) {
  const json& v = At(j, dotted);
  return v.is_number() ? v.get<double>() : dflt;
}

std::string LabelsText(const json& labels, const std::string& dflt) {
  if (!labels.is_object() || labels.empty()) return dflt;
  std::string r;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    if (!r.empty()) r += ',';
    r += it.key() + "=" +
         (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
  }
  return r;
}

}  // namespace tide::cli
