#include "api/user_spec.h"

#include <cctype>

namespace tide {
namespace {

constexpr uint64_t kMaxId = 4294967294ULL;  // (uid_t)-1 means "unchanged" to the kernel

bool ParseId(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > kMaxId) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool NameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
}

}  // namespace

bool ParseUserSpec(std::string_view text, UserSpec* out, std::string* err) {
  std::string shown(1, '"');  // piecewise: GCC 12 -O3 -Wrestrict false positive (bug 105651)
  shown.append(text.substr(0, 64));
  shown += '"';
  const std::string form = "expected NAME, UID or UID:GID (e.g. app, 1000, 1000:1000), got ";
  *out = UserSpec{};
  if (text.empty()) {
    *err = "must not be empty; " + form + "\"\"";
    return false;
  }
  if (size_t colon = text.find(':'); colon != std::string_view::npos) {
    std::string_view u = text.substr(0, colon), g = text.substr(colon + 1);
    if (!AllDigits(u)) {
      *err = "a group can only follow a numeric uid (UID:GID); " + form + shown;
      return false;
    }
    uint32_t uid = 0, gid = 0;
    if (!ParseId(u, &uid) || !AllDigits(g) || !ParseId(g, &gid)) {
      *err = "uid and gid must be numbers from 0 to 4294967294; " + form + shown;
      return false;
    }
    out->uid = uid;
    out->gid = gid;
    return true;
  }
  if (AllDigits(text)) {
    uint32_t uid = 0;
    if (!ParseId(text, &uid)) {
      *err = "uid must be a number from 0 to 4294967294; " + form + shown;
      return false;
    }
    out->uid = uid;
    return true;
  }
  std::string_view body = text.back() == '$' ? text.substr(0, text.size() - 1) : text;
  bool ok = !body.empty() && text.size() <= 32 && body.front() != '-' && body.front() != '.' &&
            !std::isdigit(static_cast<unsigned char>(body.front()));
  for (char c : body) ok = ok && NameChar(c);
  if (!ok) {
    *err =
        "not a valid user name (1-32 characters from letters, digits, '_', '.', '-', not "
        "starting with a digit, '-' or '.'); " +
        form + shown;
    return false;
  }
  out->name = std::string(text);
  return true;
}

}  // namespace tide
