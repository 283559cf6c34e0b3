// Helpers shared by the disk-image readers; see image_common.h.
#include "unpack/image/image_common.h"

#include <array>

#include "unpack/utf8.h"

namespace sandgate::image {

bool looks_executable(const ByteSource& src) {
  unsigned char m[4] = {0, 0, 0, 0};
  size_t n = src.read_at(0, m, 4);
  if (n >= 2 && m[0] == 'M' && m[1] == 'Z') return true;
  if (n >= 2 && m[0] == '#' && m[1] == '!') return true;
  if (n < 4) return false;
  uint32_t be = uint32_t(m[0]) << 24 | uint32_t(m[1]) << 16 | uint32_t(m[2]) << 8 | m[3];
  switch (be) {
    case 0x7F454C46:  // "\x7fELF"
    case 0xFEEDFACE: case 0xFEEDFACF:  // Mach-O, big-endian headers
    case 0xCEFAEDFE: case 0xCFFAEDFE:  // Mach-O, little-endian headers
    case 0xCAFEBABE: case 0xCAFEBABF:  // universal (fat) Mach-O; also Java class
      return true;
    default:
      return false;
  }
}

std::string clean_component(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return "_";
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(c == '/' || c == '\\' || u < 0x20 || u == 0x7F ? '_' : c);
  }
  return out;
}


void append_utf16le(std::string& out, std::string_view b, bool stop_at_nul) {
  for (size_t i = 0; i + 1 < b.size(); i += 2) {
    uint32_t u = uint8_t(b[i]) | uint32_t(uint8_t(b[i + 1])) << 8;
    if (u == 0 && stop_at_nul) return;
    if (u >= 0xD800 && u < 0xDC00 && i + 3 < b.size()) {
      uint32_t lo = uint8_t(b[i + 2]) | uint32_t(uint8_t(b[i + 3])) << 8;
      if (lo >= 0xDC00 && lo < 0xE000) {
        append_utf8(out, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
        i += 2;
        continue;
      }
    }
    if (u >= 0xD800 && u < 0xE000) u = 0xFFFD;
    append_utf8(out, u);
  }
}

namespace {
std::array<uint32_t, 256> make_table(uint32_t poly) {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = c & 1 ? poly ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
uint32_t crc_with(const std::array<uint32_t, 256>& t, std::string_view d, uint32_t crc) {
  crc = ~crc;
  for (char ch : d) crc = t[(crc ^ uint8_t(ch)) & 0xFF] ^ (crc >> 8);
  return ~crc;
}
}  // namespace

uint32_t crc32_ieee(std::string_view data, uint32_t crc) {
  static const auto table = make_table(0xEDB88320u);
  return crc_with(table, data, crc);
}

uint32_t crc32c(std::string_view data, uint32_t crc) {
  static const auto table = make_table(0x82F63B78u);
  return crc_with(table, data, crc);
}

}  // namespace sandgate::image
