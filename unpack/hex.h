// Lowercase hex of a byte string: digests, thumbprints, ids. One definition
// for every layer (the engine's hashes, certificate thumbprints, policy and
// token hashes, quarantine ids).
#pragma once

#include <cstddef>
#include <string>

namespace sandgate {

inline std::string hex_lower(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(kDigits[p[i] >> 4]);
    s.push_back(kDigits[p[i] & 15]);
  }
  return s;
}

}  // namespace sandgate
