// Mach-O parser: thin (32/64-bit, either byte order) and fat/universal files,
// load commands with bounds checks, and the LC_CODE_SIGNATURE SuperBlob:
// CodeDirectory (identifier, team id, flags, hash type), entitlements and the
// CMS signature blob (<mach-o/loader.h>, <mach-o/fat.h>; the code signing
// blob layout of xnu's osfmk/kern/cs_blobs.h).
//
// Guarantees: reads through ByteSource::read_at only; load commands and the
// signature are read into memory only up to fixed caps; every offset, size and
// count is checked before use; never throws. Problems land in `errors`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "unpack/byte_source.h"

namespace sandgate {

inline constexpr uint32_t kCsAdhoc = 0x2;  // CodeDirectory flag CS_ADHOC

struct MachoSignature {
  bool present = false;           // LC_CODE_SIGNATURE found
  bool has_code_directory = false;
  uint32_t cd_version = 0;
  uint32_t cd_flags = 0;
  uint8_t hash_type = 0;          // 1 sha1, 2 sha256, 3 sha256-truncated, 4 sha384
  std::string identifier;
  std::string team_id;
  std::string code_directory;     // the CodeDirectory blob bytes (what CMS signs)
  std::string cms;                // the CMS blob payload (DER), empty if none
  std::string entitlements;       // XML entitlements, capped
  bool adhoc() const { return cd_flags & kCsAdhoc; }
};

struct MachoSlice {
  uint64_t offset = 0;  // in the whole file (0 for a thin file)
  uint64_t size = 0;
  bool is64 = false;
  bool big_endian = false;
  uint32_t cputype = 0;
  uint32_t filetype = 0;
  uint32_t ncmds = 0;
  MachoSignature signature;
  std::vector<std::string> errors;
};

struct MachoInfo {
  bool is_macho = false;
  bool fat = false;
  std::vector<MachoSlice> slices;
  std::vector<std::string> errors;  // file-level (fat header) problems
};

inline constexpr uint32_t kMaxFatSlices = 64;
inline constexpr uint32_t kMaxMachoCommandsBytes = 16u << 20;
inline constexpr uint32_t kMaxMachoSignatureBytes = 16u << 20;

MachoInfo parse_macho(const ByteSource& src);
// Parses one thin image at [offset, offset+size) of src.
MachoSlice parse_macho_slice(const ByteSource& src, uint64_t offset, uint64_t size);

const char* macho_cpu_name(uint32_t cputype);
const char* macho_filetype_name(uint32_t filetype);

}  // namespace sandgate
