// Shared by the disk-image fuzz targets: reads a bounded prefix of every
// source a reader produced, so extent maps are exercised without walking a
// virtual disk of terabytes.
#pragma once

#include <algorithm>
#include <string>

#include "unpack/byte_source.h"

namespace sandgate::fuzz {

inline void touch(const ByteSource& src, uint64_t max = 1 << 20) {
  char buf[4096];
  uint64_t n = std::min<uint64_t>(src.size(), max);
  for (uint64_t off = 0; off < n; off += sizeof buf) src.read_at(off, buf, sizeof buf);
  if (src.size() > 0) src.read_at(src.size() - 1, buf, 1);
}

}  // namespace sandgate::fuzz
