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
  double entropy = 0;         // bits per byte over the bytes read
  uint64_t entropy_bytes = 0; // how many bytes entropy covers
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
  bool entropy = true;               // stream section bytes for entropy
  uint64_t entropy_max_per_section = 8ull << 20;
  size_t max_import_dlls = 512;
  uint32_t max_import_functions = 65536;
};

PeInfo parse_pe(const ByteSource& src, const PeParseOptions& options = {});

// Maps an RVA to a file offset through the section table; false if no
// section's raw data holds it (RVAs inside the headers map to themselves).
bool pe_rva_to_offset(const PeInfo& pe, uint32_t rva, uint64_t* offset);

// Shannon entropy in bits per byte of a 256-bin histogram over n bytes.
double entropy_of(const uint64_t (&histogram)[256], uint64_t n);

const char* pe_machine_name(uint16_t machine);

}  // namespace sandgate
