// The `spec.user` grammar of a Service or Function: who an instance runs as.
//
//   NAME        a user name as useradd accepts it: 1-32 characters from A-Z a-z 0-9 _ . -,
//               not starting with a digit, '-' or '.'; an optional trailing '$'. Resolved on
//               the node (its primary group and supplementary groups come from the node's
//               user database).
//   UID         a number 0-4294967294. Its primary group is the node's passwd entry for it,
//               or the same number when the node has none (never group 0 by accident).
//   UID:GID     both numbers; no supplementary groups.
//
// A name with a group ("www:www") is refused with a hint: groups are given numerically.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tide {

struct UserSpec {
  std::string name;             // set for NAME
  std::optional<uint32_t> uid;  // set for UID and UID:GID
  std::optional<uint32_t> gid;  // set for UID:GID
};

// False with *err naming the problem (no prefix; the caller adds the field).
bool ParseUserSpec(std::string_view text, UserSpec* out, std::string* err);

}  // namespace tide
