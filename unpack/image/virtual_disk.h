// Virtual hard disks: VHD (Microsoft "Virtual Hard Disk Image Format
// Specification" 1.0: fixed, dynamic; differencing is refused since the
// parent is never available) and VHDX ([MS-VHDX] v1: headers, region table,
// metadata, BAT). Both become the virtual disk as an extent view of the file:
// nothing is copied or decompressed, unallocated blocks read as zeros.
//
// Guarantees: footer, headers, table offsets, entry counts and block sizes
// are checked before use; a block table entry pointing past the end of the
// file is reported (image.malformed) and reads as zeros; the number of table
// entries looked at is bounded by kMaxBlocks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "unpack/byte_source.h"
#include "unpack/finding.h"

namespace sandgate::image {

constexpr uint64_t kMaxBlocks = 1u << 22;

struct VirtualDisk {
  ByteSourcePtr disk;              // null when the image cannot be opened
  std::string kind;                // "fixed", "dynamic", "differencing", "vhdx"
  uint64_t virtual_size = 0;
  std::vector<Finding> findings;   // image.malformed, image.unsupported
};

VirtualDisk open_vhd(ByteSourcePtr file);
VirtualDisk open_vhdx(ByteSourcePtr file);

}  // namespace sandgate::image
