// TextDigest: two independent 64-bit hashes of a byte string (std::hash and FNV-1a), 128 bits
// in all. For telling whether something this process itself encoded has changed since last
// time without keeping its text: the agent's saved records (agent/state_store.h) and reported
// statuses (api/agent_delta.h). Not for input an attacker chooses. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>

namespace tide {

using TextDigest = std::pair<uint64_t, uint64_t>;

inline TextDigest DigestText(std::string_view bytes) {
  uint64_t fnv = 14695981039346656037ull;
  for (unsigned char c : bytes) fnv = (fnv ^ c) * 1099511628211ull;
  return {std::hash<std::string_view>{}(bytes), fnv};
}

}  // namespace tide
