// Our own bounded reader of a zip file's structure (APPNOTE.TXT 6.3.x): the end
// of central directory record (also zip64), the central directory and the local
// headers. libarchive reads either the central directory or the local headers
// but never compares them; attackers hide content in the difference. This reader
// is used for those structural checks and for telling OOXML/ODF/JAR from a
// plain zip. It never decompresses anything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "unpack/byte_source.h"
#include "unpack/finding.h"

namespace sandgate {

struct ZipEntryRecord {
  std::string name;               // raw bytes of the name as stored
  uint16_t flags = 0;             // general purpose bit flags
  uint16_t method = 0;            // compression method
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;   // zip64 values applied
  uint64_t uncompressed_size = 0;
  uint64_t local_header_offset = 0;
  bool encrypted() const { return flags & 1; }
};

struct ZipDirectory {
  uint64_t eocd_offset = 0;       // where the end of central directory record starts
  uint64_t cd_offset = 0;         // where the central directory starts
  uint64_t cd_size = 0;
  uint64_t declared_entries = 0;  // count the EOCD claims
  bool zip64 = false;
  bool truncated = false;         // stopped at max_entries or at a broken record
  std::vector<ZipEntryRecord> entries;
};

// Reads the end record and the central directory, at most max_entries entries.
// Returns nullopt when no end of central directory record can be found (not a
// zip, or too damaged); *error then says why. Reads only the tail and the
// directory, bounded by the source size.
std::optional<ZipDirectory> read_zip_directory(const ByteSource& src, size_t max_entries,
                                               std::string* error);

// Compares every central directory entry with its local header and checks the
// layout of the whole file. Findings:
//   archive.zip.header_mismatch  local and central headers disagree (name, sizes, method, crc)
//   archive.zip.overlap          two entries' data ranges overlap (overlapping-entry bomb)
//   archive.zip.hidden_data      bytes before the first entry, between entries, or
//                                between the directory and the end record
//   archive.zip.malformed        a header points outside the file or is unreadable
std::vector<Finding> check_zip_structure(const ByteSource& src, const ZipDirectory& dir);

}  // namespace sandgate
