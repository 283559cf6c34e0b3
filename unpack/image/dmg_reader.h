// Apple disk images in UDIF form (the "koly" trailer, the XML property list
// and its "blkx" block tables; layout as documented by Apple's hdiutil and
// the libdmg/dmg2img notes): the disk is rebuilt in sector order from raw,
// zero-fill, zlib, bzip2 and ADC chunks.
//
// Guarantees: the trailer, the plist (at most kMaxPlist bytes, parsed by a
// SAX handler with external entities off) and every block table are checked
// against the file before use; chunks are decoded one at a time into bounded
// buffers and streamed, never the whole disk; output per chunk is exactly
// what the table declares (short output is padded with zeros, long output cut,
// both reported). LZFSE and LZMA chunks cannot be decoded here: they are
// reported (image.unsupported_compression) and read as zeros, so the image
// never passes on the strength of what was not read.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "unpack/byte_source.h"
#include "unpack/finding.h"

namespace sandgate::image {

constexpr uint64_t kMaxPlist = 16u << 20;
constexpr size_t kMaxChunks = 1u << 20;
constexpr uint64_t kMaxAdcChunk = 16u << 20;

struct DmgChunk {
  uint32_t type = 0;
  uint64_t sector = 0;   // absolute, in 512-byte sectors
  uint64_t sectors = 0;
  uint64_t offset = 0;   // absolute offset of the compressed bytes in the file
  uint64_t length = 0;
};

struct DmgLayout {
  bool valid = false;
  std::vector<DmgChunk> chunks;   // sorted by sector, overlaps removed
  uint64_t sectors = 0;           // end of the last chunk
  std::vector<Finding> findings;  // image.malformed, image.encrypted, image.unsupported
};

DmgLayout read_dmg_layout(const ByteSource& file);

// Writes the disk described by layout, in order, to sink; sink returns false
// to stop. Returns false if stopped. Decoding problems go to findings.
bool decode_dmg(const ByteSource& file, const DmgLayout& layout,
                const std::function<bool(const char*, size_t)>& sink, std::vector<Finding>& findings);

// Apple Data Compression, one chunk. False (out possibly partial) on a
// malformed stream or output beyond max_out.
bool adc_decode(std::string_view in, std::string& out, size_t max_out);

}  // namespace sandgate::image
