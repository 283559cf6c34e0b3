// Our own reader of FAT12/16/32 volumes (Microsoft "FAT: General Overview of
// On-Disk Format" 1.03), with long file names (VFAT LFN entries).
//
// Guarantees: the boot sector's geometry is checked before use; each cluster
// is used at most once per walk (a bitmap over the clusters the image really
// holds), so looping and cross-linked chains stop instead of hanging, and are
// reported; clusters outside the image or the FAT are reported and the file
// is cut there; directories are bounded in entries and nesting. The FAT is
// read through a small page cache (at most 1 MiB held), files are exposed as
// extent views of the volume: nothing is copied.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "unpack/byte_source.h"
#include "unpack/finding.h"

namespace sandgate::image {

struct FatFile {
  std::string path;     // "DIR/Sub/name.ext", long names when present
  uint64_t size = 0;    // bytes in `bytes` (may be less than declared if cut)
  uint32_t declared_size = 0;
  bool hidden = false;  // hidden or system attribute, here or on a parent directory
  ByteSourcePtr bytes;
};

struct FatWalk {
  bool valid = false;           // a usable FAT boot sector was found
  int fat_bits = 0;             // 12, 16 or 32
  uint64_t files = 0;
  uint64_t directories = 0;
  std::vector<Finding> findings;  // image.malformed
};

struct FatWalkLimits {
  uint64_t max_entries = 1u << 20;  // directory entries looked at in total
  int max_depth = 64;               // directory nesting
};

// Walks every directory; calls visit for each regular file in directory
// order. visit returns false to stop the walk.
FatWalk walk_fat(ByteSourcePtr volume, const std::function<bool(FatFile&)>& visit,
                 FatWalkLimits limits = {});

}  // namespace sandgate::image
