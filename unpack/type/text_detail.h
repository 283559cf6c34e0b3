// Internal pieces of text classification shared by text_formats.cc and
// scripts.cc. Private to unpack/type/.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "unpack/object.h"

namespace sandgate::type_detail {

// Bytes of the head that script heuristics look at (lowercased copy).
inline constexpr size_t kScriptSample = 8 * 1024;

// `text` starts at the first byte after a BOM; only its first kScriptSample
// bytes are read.
std::optional<TypeInfo> detect_script(std::string_view text);

// True when s is well-formed UTF-8; a sequence cut by the end of s counts as
// valid when allow_cut_end (s is a prefix of a longer source).
bool is_valid_utf8(std::string_view s, bool allow_cut_end);

// UTF-16 (after its BOM) to UTF-8; nullopt on unpaired surrogates or U+0000.
std::optional<std::string> utf16_to_utf8(std::string_view s, bool little_endian);

}  // namespace sandgate::type_detail
