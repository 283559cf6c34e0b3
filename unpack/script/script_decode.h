// Decoders for text that hides other content: base64 runs (HTML smuggling,
// PowerShell -EncodedCommand, data: URIs) and the Microsoft Script Encoder
// (screnc.exe: VBE/JSE, "#@~^...^#~@"). Shared by the script unpacker and the
// HTML/script/LNK analyzers. Bounded: every decoder takes an output cap and
// never allocates beyond it; none throws.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sandgate {

// Decodes standard or URL-safe base64, skipping whitespace and stopping at
// the first character that is neither ('=' padding ends it). Output is capped
// at max_out bytes. Returns the decoded bytes.
std::string decode_base64(std::string_view s, size_t max_out);

struct Base64Run {
  size_t offset = 0;  // in the scanned text
  size_t length = 0;  // characters, padding included
};
// Runs of at least min_chars base64 characters (A-Z a-z 0-9 + / and '='
// padding; "\r\n" line breaks inside a run are allowed), at most max_runs.
std::vector<Base64Run> find_base64_runs(std::string_view text, size_t min_chars, size_t max_runs);

// True when text holds a Script Encoder block ("#@~^" + 6 base64 + "==").
bool has_script_encoder_block(std::string_view text);
// Replaces every Script Encoder block of text with its decoded script (text
// outside the blocks is kept, so an HTML or WSF page stays readable). Output
// capped at max_out. Returns false when no block was found.
bool decode_script_encoder(std::string_view text, std::string* out, size_t max_out);
// Encodes plain text as one Script Encoder block (for tests and fuzz seeds).
std::string encode_script_encoder(std::string_view plain);

// Decodes UTF-16LE bytes to UTF-8 (what -EncodedCommand carries), capped.
std::string utf16le_to_utf8(std::string_view bytes, size_t max_out);

}  // namespace sandgate
