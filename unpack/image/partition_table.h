// Partition tables of raw disk images: MBR (with the chain of extended boot
// records) and GPT (UEFI 2.x, chapter 5). Each partition becomes a window of
// the disk; nothing is copied.
//
// Guarantees: every LBA, count and size is checked against the image before
// use; partitions reaching past the end are clipped and reported; the EBR
// chain is followed at most kMaxLogical steps and never revisits a sector.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "unpack/byte_source.h"
#include "unpack/finding.h"

namespace sandgate::image {

struct Partition {
  int number = 0;        // 1-4 primary, 5+ logical (MBR); slot + 1 (GPT)
  uint64_t offset = 0;   // bytes from the start of the disk
  uint64_t length = 0;   // bytes, already clipped to the disk
  std::string type;      // MBR type byte "0x0c" or GPT type GUID
  std::string label;     // GPT partition name (UTF-8), empty for MBR
};

struct PartitionScan {
  std::vector<Partition> partitions;
  std::vector<Finding> findings;  // image.malformed for every inconsistency met
  bool valid = false;             // a table of this kind was found at all
};

constexpr int kMaxLogical = 128;
constexpr uint32_t kMaxGptEntries = 4096;

PartitionScan read_mbr(const ByteSource& disk);
// Tries the primary header (512- then 4096-byte sectors), then the backup at
// the last LBA.
PartitionScan read_gpt(const ByteSource& disk);
// Apple Partition Map (Inside Macintosh: Devices, "The Partition Map"): the
// optional driver descriptor "ER" in block 0 gives the block size; entries
// "PM" from block 1, as many as the first says (at most kMaxApmEntries).
// The map itself and free space are not partitions.
constexpr uint32_t kMaxApmEntries = 256;
PartitionScan read_apm(const ByteSource& disk);

}  // namespace sandgate::image
