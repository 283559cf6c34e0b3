// PE parser: a bounds-checked reading of a Windows Portable Executable's DOS
// header, PE signature, COFF header, optional header (PE32 and PE32+), section
// table, data directories, import summary, overlay and section entropy
// (Microsoft PE/COFF specification, "PE Format", sections 2-6).
//
// Guarantees: reads through ByteSource::read_at only; every offset, size and
// count taken from the file is checked against the file before use; memory
// use is bounded (headers, section table and a capped import walk; section
// bytes are streamed for entropy); never throws. A structure that does not
// fit is reported in PeInfo::errors (fatal) or PeInfo::anomalies.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "unpack/byte_source.h"

namespace sandgate {

struct PeSection {
  std::string name;  // up to 8 bytes, NULs stripped
  uint32_t virtual_address = 0;
  uint32_t virtual_size = 0;
  uint32_t raw_offset = 0;
  uint32_t raw_size = 0;
  uint32_t characteristics = 0;
  double entropy = 0;         // bits per byte over the bytes sampled
  uint64_t entropy_bytes = 0; // how many bytes entropy covers (see PeParseOptions)
};

struct PeDataDirectory {
  uint32_t rva = 0;  // for the certificate table (index 4): a file offset
  uint32_t size = 0;
};

// Data directory indices (PE Format 3.4.3).
inline constexpr int kPeDirImport = 1;
inline constexpr int kPeDirResource = 2;
inline constexpr int kPeDirSecurity = 4;

struct PeInfo {
  bool is_pe = false;      // MZ + PE\0\0 + a known optional header magic
  bool pe32plus = false;   // optional header magic 0x20b
  uint32_t pe_offset = 0;  // e_lfanew
  uint16_t machine = 0;
  uint16_t characteristics = 0;  // COFF characteristics (0x2000: DLL)
  uint16_t subsystem = 0;
  uint32_t entry_rva = 0;
  uint64_t image_base = 0;
  uint32_t size_of_headers = 0;
  uint32_t checksum = 0;
  // File offsets of the fields the Authenticode digest skips (0 if absent).
  uint64_t checksum_offset = 0;
  uint64_t security_dir_offset = 0;  // the 8-byte directory entry itself
  std::vector<PeDataDirectory> directories;
  std::vector<PeSection> sections;
  uint64_t file_size = 0;
  uint64_t end_of_image_data = 0;  // max(size_of_headers, raw end of each section)
  uint64_t overlay_offset = 0;     // bytes after end_of_image_data that are not
  uint64_t overlay_size = 0;       //   the certificate table
  std::vector<std::string> import_dlls;  // capped, in directory order
  uint32_t import_functions = 0;
  bool imports_truncated = false;
  bool has_resources = false;
  bool entry_in_section = false;
  std::vector<std::string> errors;     // the file is not a usable PE
  std::vector<std::string> anomalies;  // parseable, but something is off

  bool is_dll() const { return characteristics & 0x2000; }
  const PeDataDirectory* directory(int i) const {
    return i >= 0 && size_t(i) < directories.size() ? &directories[size_t(i)] : nullptr;
  }
};

struct PeParseOptions {
  bool entropy = true;  // read section bytes for entropy
  // A section up to this size is read whole; a larger one through 64 evenly
  // spaced windows of this size / 64 bytes. The histogram, not the read, is
  // what costs on a signed PE whose bytes are all read for the digest anyway
  // (about 0.13 ms per 256 KiB here, a seventh of a signed 1 MiB PE). A
  // 64 KiB sample's estimate is low by ~255 / (2 N ln 2) = 0.003 bits, far
  // below what separates code (5-6.5 bits/byte) from packed data (> 7.2).
  uint64_t entropy_sample_bytes = 64u << 10;
  size_t max_import_dlls = 512;
  uint32_t max_import_functions = 65536;
};

PeInfo parse_pe(const ByteSource& src, const PeParseOptions& options = {});

// The bytes the Authenticode digest covers: [0, end) without the optional
// header checksum (4 bytes at checksum_offset) and the certificate-table
// directory entry (8 bytes at security_dir_offset); an offset of 0 skips
// nothing. `sink` receives them in file order.
struct PeDigestInput {
  uint64_t end = 0;
  uint64_t checksum_offset = 0;
  uint64_t security_dir_offset = 0;
  std::function<void(const unsigned char*, size_t)> sink;
};

// One sequential read for everything that needs every byte of a PE: the
// entropy of each section (options.entropy; fills PeSection::entropy) and,
// when digest is set, the Authenticode digest input. Reading the file once
// instead of once per consumer is what keeps a signed PE near the cost of
// its hash. Only the byte ranges some consumer needs are read. Returns false
// when a read inside the digest range comes up short.
bool pe_read_pass(const ByteSource& src, PeInfo& pe, const PeParseOptions& options,
                  const PeDigestInput* digest);

// Maps an RVA to a file offset through the section table; false if no
// section's raw data holds it (RVAs inside the headers map to themselves).
bool pe_rva_to_offset(const PeInfo& pe, uint32_t rva, uint64_t* offset);

// Shannon entropy in bits per byte of a 256-bin histogram over n bytes.
double entropy_of(const uint64_t (&histogram)[256], uint64_t n);

const char* pe_machine_name(uint16_t machine);

}  // namespace sandgate
