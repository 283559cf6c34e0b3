// Streaming, lenient decoders for MIME content transfer encodings: base64
// (RFC 2045 6.8), quoted-printable (RFC 2045 6.7) and uuencode (POSIX uuencode
// "historical" format). They never fail: a character that does not belong is
// skipped (base64) or kept literally (quoted-printable), counted, and decoding
// goes on, so one bad byte never hides the rest of a part. Memory is O(1)
// besides the caller's output string, which grows by at most the input size.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sandgate {

class Base64Decoder {
 public:
  // Appends the bytes decoded from in to *out. Whitespace is skipped silently.
  void decode(std::string_view in, std::string* out);
  // Flushes a final partial group (2 or 3 characters without padding).
  void finish(std::string* out);
  // Characters that are not base64, not whitespace and not well-placed padding.
  uint64_t bad_chars() const { return bad_; }
  // Offset (in the decoder's input) of the first bad character, if any.
  uint64_t first_bad_offset() const { return first_bad_; }

 private:
  void bad(uint64_t at);
  uint32_t quad_ = 0;
  int count_ = 0;           // characters in quad_
  bool after_pad_ = false;  // just saw padding: more '=' are expected
  uint64_t bad_ = 0;
  uint64_t first_bad_ = 0;
  uint64_t consumed_ = 0;
};

// Quoted-printable decoder driven line by line: the caller passes a line's
// data (possibly in several pieces) and then either line_break() with the
// terminator to reproduce, or finish() at the end of the part. Trailing
// whitespace is deleted and "=" at the end of a line is a soft break (6.7 (3)
// and (5)).
class QuotedPrintableDecoder {
 public:
  void decode(std::string_view in, std::string* out);
  void line_break(std::string_view term, std::string* out);
  void finish(std::string* out);
  // "=" not followed by two hex digits or a line end.
  uint64_t bad_sequences() const { return bad_; }

 private:
  void end_line(std::string* out);
  void flush_hold(std::string* out);
  enum class State { kNormal, kEq, kEqHex, kEqSpace };
  State state_ = State::kNormal;
  std::string hold_;  // whitespace (and "=", "=X", "= ") held back, bounded
  uint64_t bad_ = 0;
};

// Decodes one uuencoded line (its first character encodes the byte count).
// Appends to *out and returns the number of invalid characters. Sets *is_end
// when the line is the zero-length line that precedes "end".
uint64_t uudecode_line(std::string_view line, std::string* out, bool* is_end);

// Value of a hex digit (either case), -1 if not one.
int hex_value(char c);

}  // namespace sandgate
