// Test helpers: real archives written with libarchive's writer, and a minimal
// but well-formed PE image.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace sandgate::testing {

using Entries = std::vector<std::pair<std::string, std::string>>;

// format: ARCHIVE_FORMAT_ZIP, ARCHIVE_FORMAT_TAR_USTAR, ...; filter: ARCHIVE_FILTER_NONE/GZIP/...
inline std::string make_archive(int format, int filter, const Entries& entries) {
  struct archive* a = archive_write_new();
  archive_write_set_format(a, format);
  if (filter != ARCHIVE_FILTER_NONE) archive_write_add_filter(a, filter);
  archive_write_set_bytes_in_last_block(a, 1);
  std::vector<char> buf(64 << 20);
  size_t used = 0;
  archive_write_open_memory(a, buf.data(), buf.size(), &used);
  for (const auto& [name, data] : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

inline void put16(std::string& s, size_t off, uint16_t v) {
  s[off] = static_cast<char>(v & 0xff);
  s[off + 1] = static_cast<char>(v >> 8);
}
inline void put32(std::string& s, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[off + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// A 1 KiB PE32+ image header: DOS stub, PE signature, COFF header, optional
// header and one section header. Enough for any structural PE check.
inline std::string make_pe() {
  std::string pe(1024, '\0');
  pe[0] = 'M';
  pe[1] = 'Z';
  put32(pe, 0x3c, 0x80);
  pe.replace(0x80, 4, std::string("PE\0\0", 4));
  put16(pe, 0x84, 0x8664);  // Machine: AMD64
  put16(pe, 0x86, 1);       // NumberOfSections
  put16(pe, 0x94, 0xf0);    // SizeOfOptionalHeader
  put16(pe, 0x96, 0x0022);  // EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE
  put16(pe, 0x98, 0x20b);   // PE32+ magic
  put32(pe, 0x98 + 16, 0x1000);  // AddressOfEntryPoint
  put32(pe, 0x98 + 32, 0x1000);  // SectionAlignment
  put32(pe, 0x98 + 36, 0x200);   // FileAlignment
  put32(pe, 0x98 + 56, 0x2000);  // SizeOfImage
  put32(pe, 0x98 + 60, 0x200);   // SizeOfHeaders
  put16(pe, 0x98 + 68, 3);       // Subsystem: console
  put32(pe, 0x98 + 108, 16);     // NumberOfRvaAndSizes
  size_t sec = 0x98 + 0xf0;
  pe.replace(sec, 5, ".text");
  put32(pe, sec + 8, 0x100);
  put32(pe, sec + 12, 0x1000);
  put32(pe, sec + 16, 0x200);
  put32(pe, sec + 20, 0x200);
  put32(pe, sec + 36, 0x60000020);
  return pe;
}

inline std::string write_temp(const std::string& name, const std::string& bytes) {
  const char* tmp = std::getenv("TMPDIR");
  std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/sandgate-test-" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

}  // namespace sandgate::testing
