// MIME header parsing: header block accumulation with unfolding (RFC 5322
// 2.2.3), Content-Type / Content-Disposition values with parameters (RFC 2045
// 5.1, RFC 2183), RFC 2231 extended and continued parameters with charsets,
// RFC 2047 encoded words, and charset conversion to UTF-8 (glibc iconv).
// Every function is total: malformed input yields a best-effort result, never
// an exception, and every output is bounded by the sizes below. Names returned
// by display_name() are valid UTF-8 without control characters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sandgate {

inline constexpr size_t kMaxFieldBytes = 64 * 1024;  // one unfolded field value kept
inline constexpr size_t kMaxParams = 64;             // parameters kept per field
inline constexpr size_t kMaxNameBytes = 1024;        // a display name, after decoding

// Collects the fields of one header block that the MIME parser needs. Other
// fields are counted but not stored.
class HeaderBlock {
 public:
  // Feeds the first fragment of a header line. Returns false if the line is
  // neither a field ("Name: value") nor a continuation (starts with SP/HT).
  bool add_line(std::string_view line);
  // Feeds more bytes of the current line (an over-long line in pieces).
  void append(std::string_view more);

  bool has_content_type() const { return has_content_type_; }
  const std::string& content_type() const { return content_type_; }
  const std::string& transfer_encoding() const { return transfer_encoding_; }
  const std::string& disposition() const { return disposition_; }
  bool has_mime_version() const { return has_mime_version_; }
  // The first Subject field, raw (RFC 2047 words not decoded); empty if none.
  const std::string& subject() const { return subject_; }
  size_t field_count() const { return fields_; }
  // Names (lowercase) of the MIME fields given more than once; the first wins.
  const std::vector<std::string>& duplicates() const { return duplicates_; }

 private:
  std::string* current_ = nullptr;  // value being unfolded, null if ignored
  std::string content_type_, transfer_encoding_, disposition_, subject_;
  bool has_content_type_ = false, has_cte_ = false, has_disposition_ = false;
  bool has_subject_ = false;
  bool has_mime_version_ = false;
  size_t fields_ = 0;
  std::vector<std::string> duplicates_;
};

// A parsed structured field value: "type/subtype; a=b; ..." or "attachment; ...".
struct HeaderValue {
  std::string value;  // lowercase: "text/plain", "attachment", "base64"
  // Parameter name (lowercase) -> value. RFC 2231 forms are already joined
  // and converted to UTF-8; plain values are as written (unquoted).
  std::map<std::string, std::string> params;
  // Names of the parameters that came in RFC 2231 extended form.
  std::vector<std::string> extended;
  // Names of the parameters given twice with different values (the first
  // one is kept): mail clients disagree on which one counts (at most 8).
  std::vector<std::string> duplicates;
  bool is_extended(std::string_view name) const;
  const std::string* param(std::string_view name) const;
};

// Parses a Content-Type or Content-Disposition value. Comments are skipped,
// quoted strings unescaped, RFC 2231 segments joined in order (a gap ends
// the value) and decoded from their charset.
HeaderValue parse_header_value(std::string_view field);

// Lowercase "type/subtype" of a Content-Type value, or empty if it is not
// syntactically a MIME type.
std::string normalize_mime_type(std::string_view value);

// Decodes RFC 2047 encoded words ("=?charset?B|Q?text?=") anywhere in s,
// dropping whitespace between adjacent encoded words (6.2), converting each
// to UTF-8. Text outside encoded words is kept (invalid UTF-8 is read as
// ISO-8859-1). Only the first 16 KiB of s are read (names are capped anyway).
std::string decode_encoded_words(std::string_view s);

// Converts bytes in charset (an IANA name, optionally "*lang" suffixed) to
// valid UTF-8. Unknown charsets and invalid sequences degrade to ISO-8859-1
// reading / U+FFFD; never fails.
std::string to_utf8(std::string_view charset, std::string_view bytes);

// Turns a decoded name into something safe to show and store: valid UTF-8,
// control characters replaced by '_', at most kMaxNameBytes bytes.
std::string display_name(std::string_view utf8);

}  // namespace sandgate
