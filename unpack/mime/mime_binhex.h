// BinHex 4.0 (RFC 1741 appendix, "BinHex 4.0 definition" by Peter Lewis):
// the Macintosh encoding found in mail as application/mac-binhex40 or as text
// after "(This file must be converted with BinHex 4.0)". A decoder that turns
// the 6-bit text into the file's data fork (the resource fork is ignored), and
// a scanner that finds BinHex files in a mail body and emits each data fork as
// a child object named from the BinHex header.
//
// Guarantees: O(1) memory besides the caller's output (the run-length
// expansion emits at most 254 bytes per encoded byte, in bounded pieces);
// never fails: bad characters are skipped and counted, CRC mismatches and
// truncation are reported in BinHexDefects, and the bytes are still passed on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "unpack/byte_source.h"
#include "unpack/unpacker.h"

namespace sandgate {

// CRC-16/XMODEM (polynomial 0x1021, initial value 0), what BinHex uses.
uint16_t binhex_crc16(std::string_view data, uint16_t crc = 0);

struct BinHexHeader {
  std::string name;  // raw bytes (Mac OS Roman), 1-63 bytes by the format
  uint32_t type = 0, creator = 0;
  uint16_t flags = 0;
  uint32_t data_length = 0;
  uint32_t resource_length = 0;
};

struct BinHexDefects {
  uint64_t bad_chars = 0;   // characters outside the alphabet (skipped)
  bool header_crc = false;  // header CRC mismatch
  bool data_crc = false;    // data fork CRC mismatch
  bool truncated = false;   // ended before the header or data fork was complete
  bool no_header = false;   // ended before a whole header was read
};

// Decodes the characters between the opening and the closing ':'.
class BinHexDecoder {
 public:
  // on_header: once the header is complete (and its CRC checked). Return
  // false to discard the data fork. on_data: pieces of the data fork, in
  // order; return false to stop passing data (decoding still checks nothing
  // more).
  using HeaderFn = std::function<bool(const BinHexHeader&)>;
  using DataFn = std::function<bool(std::string_view)>;

  BinHexDecoder(HeaderFn on_header, DataFn on_data);

  // Feeds encoded text (without the ':' delimiters). Whitespace is skipped.
  void feed(std::string_view text);
  // The closing ':' (or the end of input) was reached: settles the defects.
  void finish();
  // True once the data fork and its CRC are complete (the rest is ignored).
  bool data_done() const { return state_ == State::kDone; }
  bool header_done() const { return state_ > State::kHeaderCrc; }
  const BinHexDefects& defects() const { return defects_; }

 private:
  enum class State { kNameLength, kName, kHeaderRest, kHeaderCrc, kData, kDataCrc, kDone };
  void sextet(uint8_t v);
  void rle(uint8_t b);
  void emit(uint8_t b, size_t count);
  void byte(uint8_t b);
  void flush_data();

  HeaderFn on_header_;
  DataFn on_data_;
  State state_ = State::kNameLength;
  BinHexDefects defects_;
  uint32_t bits_ = 0;
  int nbits_ = 0;
  bool marker_ = false;  // saw 0x90, the count byte is next
  uint8_t last_ = 0;     // last byte output by the run-length stage
  bool have_last_ = false;
  std::string header_;  // header bytes (at most 1 + 255 + 19)
  size_t name_length_ = 0;
  std::string crc_bytes_;
  uint16_t data_crc_ = 0;
  uint64_t data_left_ = 0;
  BinHexHeader header_info_;
  bool want_data_ = true;
  std::string pending_;  // data fork bytes not yet passed to on_data
};

// Finds BinHex files in body and emits each data fork as a child of the
// object being unpacked: a "(This file must be converted with BinHex" line,
// then data from the next ':' to the closing ':'. With banner_optional (the
// part is declared application/mac-binhex40) a line starting with ':' also
// starts a file. At most max_files files. Findings: mime.binhex.crc on a
// child whose header or data CRC is wrong, mime.binhex.malformed on a child
// (or, when no header could be read, on the container) for bad characters
// and truncation; `where` names the part for evidence. Returns the number
// emitted; sets *stop when the context refused a child or asked to stop.
size_t scan_binhex(const ByteSource& body, UnpackContext& ctx, size_t max_files,
                   bool banner_optional, const std::string& where, bool* stop);

// True when text contains the BinHex banner line, for a cheap check before a scan.
bool has_binhex_banner(std::string_view text);
// True when text (after leading white space) is BinHex data without the
// banner: a ':' and then 64 characters of the BinHex alphabet, as a part
// declared application/mac-binhex40 often is.
bool starts_with_binhex_data(std::string_view text);

}  // namespace sandgate
