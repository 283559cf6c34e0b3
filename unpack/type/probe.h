// Probe: the bounded window type detection reads a source through, and the
// internal detector functions that share it. Private to unpack/type/.
//
// Guarantees: the prefix (at most kPrefixBytes) is read up front, the head (at
// most kHeadBytes) only when a check asks for it; any other range is read on
// demand, at most kMaxExtraRead bytes per call; every view handed out stays
// valid for the Probe's lifetime. Nothing here reads a whole source.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "unpack/byte_source.h"
#include "unpack/object.h"

namespace sandgate::type_detail {

inline constexpr size_t kPrefixBytes = 4 * 1024;  // enough for every magic-number check
inline constexpr size_t kHeadBytes = 64 * 1024;
inline constexpr size_t kMaxExtraRead = 64 * 1024;

class Probe {
 public:
  explicit Probe(const ByteSource& src);

  uint64_t size() const { return size_; }
  const ByteSource& source() const { return src_; }
  // The first min(size, kPrefixBytes) bytes.
  std::string_view prefix() const { return prefix_; }
  // The first min(size, kHeadBytes) bytes (read on first use).
  std::string_view head();
  // True when the head holds the whole source.
  bool head_is_all() { return head().size() == size_; }

  // Exactly [offset, offset+n), or an empty view when the range is not inside
  // the source or n exceeds kMaxExtraRead.
  std::string_view view(uint64_t offset, size_t n);
  // The last min(n, size) bytes (n at most kMaxExtraRead).
  std::string_view tail(size_t n);

 private:
  const ByteSource& src_;
  uint64_t size_;
  std::string prefix_;
  std::string head_;
  bool head_loaded_ = false;
  std::deque<std::string> reads_;  // deque: references survive push_back
};

// Makes a TypeInfo; the label must be one of known_type_labels().
inline TypeInfo make_type(std::string_view label, std::string_view mime) {
  TypeInfo t;
  t.label = std::string(label);
  t.mime = std::string(mime);
  return t;
}

// Helpers over untrusted bytes (all bounds-checked).
uint16_t le16(std::string_view s, size_t off);  // 0 when out of range
uint32_t le32(std::string_view s, size_t off);
uint16_t be16(std::string_view s, size_t off);
uint32_t be32(std::string_view s, size_t off);
bool bytes_at(std::string_view s, size_t off, std::string_view magic);
// Exact search that skips with memchr (std::string_view::find compares at
// every byte in libstdc++ 12, ~15x slower on markup).
size_t find_bytes(std::string_view hay, std::string_view needle, size_t from = 0);
// ASCII case-insensitive search / prefix test.
size_t ifind(std::string_view hay, std::string_view needle, size_t from = 0);
bool istarts_with(std::string_view s, std::string_view prefix);
inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && istarts_with(a, b);
}

// Detectors. Each returns a type only when its own checks are certain.
// binary_formats.cc: magic numbers with structural validation (executables,
// office containers, archives, compressed streams, images, shortcuts ...).
std::optional<TypeInfo> detect_binary(Probe& p);
// Java class file vs fat Mach-O (both start CAFEBABE).
std::optional<TypeInfo> detect_cafebabe(Probe& p);
// zip_family.cc: zip and what it carries (ooxml, odf, jar, apk, msix).
// `head_magic` is true when the source starts with a zip local/end header;
// otherwise only an end of central directory record near the tail counts.
std::optional<TypeInfo> detect_zip(Probe& p, bool head_magic);
// ole2.cc: the CFB root directory tells Word / Excel / PowerPoint / MSI / msg.
TypeInfo classify_ole2(Probe& p);
// disk_images.cc: ISO9660, UDF, DMG, VHD, VHDX, FAT, NTFS, HFS+, APFS, GPT, MBR.
std::optional<TypeInfo> detect_disk_trailer(Probe& p);  // DMG/VHD footers
std::optional<TypeInfo> detect_disk_image(Probe& p);    // boot sectors, VRS
// text_formats.cc: PDF at an offset, RTF, e-mail, markup, scripts, plain text.
// `text` is the head, transcoded to UTF-8 when it carried a UTF-16 BOM.
std::optional<TypeInfo> detect_text(std::string_view text, bool whole_source);
// magic_fallback.cc: libmagic on the head, mapped to our labels where one fits.
std::optional<TypeInfo> detect_with_libmagic(std::string_view head);
// Maps a MIME type from libmagic to our label ("data"/"text" when none fits).
std::string label_for_magic_mime(std::string_view mime);

}  // namespace sandgate::type_detail
