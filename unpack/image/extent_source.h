// ExtentSource: a ByteSource stitched from extents of another source, or of
// zeros. Disk images describe files and virtual disks as lists of runs (FAT
// cluster chains, VHD/VHDX blocks); exposing them as one ByteSource lets the
// engine read a file inside an image without the image ever being copied.
//
// Guarantees: reads never leave the base source (an extent that runs past the
// base reads as zeros, which the builder has already reported), the extent
// list is searched by binary search, and the object owns nothing but the list.
#pragma once

#include <cstdint>
#include <vector>

#include "unpack/byte_source.h"

namespace sandgate {

struct Extent {
  uint64_t logical = 0;  // offset in the stitched view
  uint64_t length = 0;
  bool zero = false;     // no backing bytes: reads as zeros
  uint64_t base = 0;     // offset in the base source when !zero
};

// Builds an extent list in logical order, merging adjacent runs.
class ExtentList {
 public:
  // Appends length bytes read from base offset `base`.
  void add(uint64_t base, uint64_t length);
  // Appends length zero bytes.
  void add_zero(uint64_t length);
  uint64_t size() const { return size_; }
  const std::vector<Extent>& extents() const { return extents_; }
  // Keeps only the first n bytes.
  void truncate(uint64_t n);

 private:
  std::vector<Extent> extents_;
  uint64_t size_ = 0;
};

// A view of `base` through the extents. A list of one extent that covers a
// plain window becomes a slice_source.
ByteSourcePtr extent_source(ByteSourcePtr base, ExtentList list);

}  // namespace sandgate
