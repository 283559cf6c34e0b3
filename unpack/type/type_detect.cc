// detect_type: content type detection by bytes alone (see unpack/type_detect.h).
//
// Order, cheapest and most specific first:
//   1. magic numbers at offset 0 with structural checks (binary_formats.cc),
//      zip family by directory names (zip_family.cc), OLE2 refinement (ole2.cc);
//   2. disk images by trailer (VHD, DMG) and by boot sector / volume
//      descriptors (disk_images.cc);
//   3. a zip whose end record is in the tail though its start is not a zip;
//   4. BinHex 4.0 by its banner; text formats: e-mail, markup, scripts,
//      plain text (text_formats.cc);
//   5. libmagic on the head only, when nothing above decided (magic_fallback.cc).
// Reads: the first 4 KiB, for what the magic checks leave undecided the first
// 64 KiB and the last 512 bytes, the last 64 KiB only when
// looking for a zip end record, a PE/OLE2 header or directory sector, and the
// zip central directory. Never the whole source. Exceptions (a throwing
// ByteSource, bad_alloc) end in "data", never escape.
#include "unpack/type_detect.h"

#include "unpack/mime/mime_binhex.h"
#include "unpack/type/probe.h"
#include "unpack/type/text_detail.h"

namespace sandgate {

using namespace type_detail;

namespace {

TypeInfo detect(const ByteSource& src) {
  Probe p(src);
  if (p.prefix().empty()) return make_type("data", "application/x-empty");

  // A compressed DMG (UDBZ, and UDZO whose first chunk looks like a stream)
  // begins with its first chunk's compressor magic: the koly trailer wins
  // over a compressor label, so the whole image is read, not one chunk.
  auto binary = detect_binary(p);
  if (!binary || binary->label == "bzip2" || binary->label == "gzip" || binary->label == "xz" ||
      binary->label == "zstd" || binary->label == "lzma" || binary->label == "lz4" || binary->label == "zlib") {
    if (auto t = detect_disk_trailer(p)) return *t;
  }
  if (binary) return *binary;
  if (auto t = detect_disk_image(p)) return *t;
  if (auto t = detect_zip(p, false)) return *t;
  // BinHex 4.0 text: its banner in the first 4 KiB, or BinHex data from the
  // start (the "binhex" unpacker decodes the file it carries, whatever
  // container or transfer encoding held it).
  if (has_binhex_banner(p.prefix()) || starts_with_binhex_data(p.prefix()))
    return make_type("binhex", "application/mac-binhex40");

  // UTF-16 with a BOM is transcoded so the text checks read it as UTF-8.
  std::string_view head = p.head();
  std::optional<std::string> utf16;
  if (head.starts_with("\xFF\xFE") || head.starts_with("\xFE\xFF"))
    utf16 = utf16_to_utf8(head.substr(2), head[0] == '\xFF');
  if (utf16) {
    if (auto t = detect_text(*utf16, p.head_is_all())) return *t;
  } else if (auto t = detect_text(head, p.head_is_all())) {
    return *t;
  }

  if (auto t = detect_with_libmagic(head)) return *t;
  return TypeInfo{};
}

}  // namespace

TypeInfo detect_type(const ByteSource& src) {
  try {
    return detect(src);
  } catch (...) {
    return TypeInfo{};
  }
}

}  // namespace sandgate
