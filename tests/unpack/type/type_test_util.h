// Helpers for the type detection tests: byte builders for the samples and a
// check that every detected label is in the catalogue.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "unpack/byte_source.h"
#include "unpack/type_detect.h"

namespace sandgate::test {

inline TypeInfo detect(std::string bytes) {
  auto src = memory_source(std::move(bytes));
  TypeInfo t = detect_type(*src);
  CHECK_MESSAGE(is_known_type_label(t.label), "label not in the catalogue: " << t.label);
  return t;
}

inline void put16le(std::string& s, size_t off, uint16_t v) {
  if (s.size() < off + 2) s.resize(off + 2, '\0');
  s[off] = static_cast<char>(v & 0xFF);
  s[off + 1] = static_cast<char>(v >> 8);
}
inline void put32le(std::string& s, size_t off, uint32_t v) {
  if (s.size() < off + 4) s.resize(off + 4, '\0');
  for (int i = 0; i < 4; ++i) s[off + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
inline void put16be(std::string& s, size_t off, uint16_t v) {
  if (s.size() < off + 2) s.resize(off + 2, '\0');
  s[off] = static_cast<char>(v >> 8);
  s[off + 1] = static_cast<char>(v & 0xFF);
}
inline void put32be(std::string& s, size_t off, uint32_t v) {
  if (s.size() < off + 4) s.resize(off + 4, '\0');
  for (int i = 0; i < 4; ++i) s[off + i] = static_cast<char>((v >> (8 * (3 - i))) & 0xFF);
}
inline void put(std::string& s, size_t off, std::string_view bytes) {
  if (s.size() < off + bytes.size()) s.resize(off + bytes.size(), '\0');
  s.replace(off, bytes.size(), bytes);
}

// A zip of stored entries (APPNOTE 4.3.7, 4.3.12, 4.3.16); CRCs are left 0,
// which type detection never checks.
inline std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries,
                            bool with_directory = true) {
  std::string out, cd;
  for (const auto& [name, data] : entries) {
    uint32_t local_off = static_cast<uint32_t>(out.size());
    std::string lh;
    put32le(lh, 0, 0x04034b50);
    put16le(lh, 4, 10);
    put32le(lh, 18, static_cast<uint32_t>(data.size()));
    put32le(lh, 22, static_cast<uint32_t>(data.size()));
    put16le(lh, 26, static_cast<uint16_t>(name.size()));
    put16le(lh, 28, 0);
    out += lh + name + data;
    std::string ch;
    put32le(ch, 0, 0x02014b50);
    put16le(ch, 4, 20);
    put16le(ch, 6, 10);
    put32le(ch, 20, static_cast<uint32_t>(data.size()));
    put32le(ch, 24, static_cast<uint32_t>(data.size()));
    put16le(ch, 28, static_cast<uint16_t>(name.size()));
    put32le(ch, 42, local_off);
    cd += ch + name;
  }
  if (!with_directory) return out;
  uint32_t cd_off = static_cast<uint32_t>(out.size());
  out += cd;
  std::string eocd;
  put32le(eocd, 0, 0x06054b50);
  put16le(eocd, 8, static_cast<uint16_t>(entries.size()));
  put16le(eocd, 10, static_cast<uint16_t>(entries.size()));
  put32le(eocd, 12, static_cast<uint32_t>(cd.size()));
  put32le(eocd, 16, cd_off);
  put16le(eocd, 20, 0);
  return out + eocd;
}

// A minimal PE32 image: DOS header, e_lfanew -> "PE\0\0", COFF header and the
// start of an optional header.
inline std::string make_pe(uint32_t lfanew = 0x80, uint16_t opt_magic = 0x10B, size_t size = 1024) {
  std::string s(size, '\0');
  put(s, 0, "MZ");
  put32le(s, 0x3C, lfanew);
  put(s, lfanew, std::string_view("PE\0\0", 4));
  put16le(s, lfanew + 4, 0x14C);  // i386
  put16le(s, lfanew + 6, 1);      // sections
  put16le(s, lfanew + 20, 0xE0);  // SizeOfOptionalHeader
  put16le(s, lfanew + 22, 0x0102);
  put16le(s, lfanew + 24, opt_magic);
  return s;
}

}  // namespace sandgate::test
