// Small helpers shared by the disk-image readers: name hygiene, UTF-16 to
// UTF-8, and the magic check behind image.contains_executable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "unpack/byte_source.h"

namespace sandgate::image {

// True when the bytes start like a native executable (MZ, ELF, Mach-O,
// universal binary) or a script with a shebang line. Reads 4 bytes.
bool looks_executable(const ByteSource& src);

// A file-name component from an image, made safe to join with "/": path
// separators and control characters become '_'; "." and ".." become "_".
std::string clean_component(std::string_view name);

// Appends the UTF-8 form of a UTF-16LE code unit sequence (unpaired
// surrogates become U+FFFD). Stops at the first NUL when stop_at_nul.
void append_utf16le(std::string& out, std::string_view bytes, bool stop_at_nul);

// CRC-32 (IEEE, as zlib) and CRC-32C (Castagnoli, as VHDX) of a span.
uint32_t crc32_ieee(std::string_view data, uint32_t crc = 0);
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace sandgate::image
