// Zip and the formats built on it, told apart by entry names only (never by
// decompressing anything):
//   odf   first local header is a stored "mimetype" holding
//         application/vnd.oasis.opendocument.* (ODF 1.2 part 3, 3.3); mime = it
//   ooxml central directory holds [Content_Types].xml (ECMA-376 part 2, OPC);
//         MIME by main part folder (word/, xl/, ppt/), macro variants by vbaProject.bin
//   zip   with MIME application/msix(bundle): an OPC package with AppxManifest.xml
//   apk   AndroidManifest.xml + classes.dex;  jar  META-INF/MANIFEST.MF + *.class
//   zip   anything else
// The directory comes from read_zip_directory (at most kMaxEntries names); when
// it is unreadable, the local headers inside the head are walked instead.
#include <cstring>
#include <vector>

#include "unpack/type/probe.h"
#include "unpack/zip/zip_directory.h"

namespace sandgate::type_detail {
namespace {

constexpr size_t kMaxEntries = 4096;
constexpr std::string_view kZipMime = "application/zip";

// The stored "mimetype" member an ODF package must start with.
std::optional<std::string> odf_mimetype(std::string_view h) {
  if (!bytes_at(h, 0, "PK\x03\x04") || le16(h, 8) != 0 || le16(h, 26) != 8 ||
      !bytes_at(h, 30, "mimetype"))
    return std::nullopt;
  uint32_t len = le32(h, 18);
  size_t start = 38 + size_t(le16(h, 28));
  if (len == 0 || len > 128 || start + len > h.size()) return std::nullopt;
  std::string_view value = h.substr(start, len);
  for (char c : value) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '+' || c == '/';
    if (!ok) return std::nullopt;
  }
  return std::string(value);
}

// Names from the local headers inside the head, for zips whose directory is
// missing or damaged (truncated downloads, streamed writers).
std::vector<std::string> local_names(std::string_view h) {
  std::vector<std::string> names;
  size_t off = 0;
  while (names.size() < kMaxEntries && bytes_at(h, off, "PK\x03\x04") && off + 30 <= h.size()) {
    uint16_t flags = le16(h, off + 6);
    uint32_t csize = le32(h, off + 18);
    uint16_t nlen = le16(h, off + 26), xlen = le16(h, off + 28);
    if (off + 30 + nlen > h.size()) break;
    names.emplace_back(h.substr(off + 30, nlen));
    // With a data descriptor the size is unknown here (APPNOTE 4.4.4 bit 3).
    if ((flags & 8) && csize == 0) break;
    uint64_t next = uint64_t(off) + 30 + nlen + xlen + csize;
    if (next > h.size()) break;
    off = static_cast<size_t>(next);
  }
  return names;
}

// "PK\5\6" anywhere in s. memchr on the rare last byte: a generic substring
// search spends ~50 us on 64 KiB of text full of 'P's.
bool has_end_record_signature(std::string_view s) {
  const char* base = s.data();
  for (size_t i = 3; i < s.size();) {
    const void* hit = std::memchr(base + i, 0x06, s.size() - i);
    if (!hit) return false;
    size_t at = static_cast<size_t>(static_cast<const char*>(hit) - base);
    if (s.compare(at - 3, 3, "PK\x05") == 0) return true;
    i = at + 1;
  }
  return false;
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && istarts_with(s.substr(s.size() - suffix.size()), suffix);
}

TypeInfo classify_names(const std::vector<std::string>& names) {
  auto has = [&](std::string_view n) {
    for (const auto& x : names)
      if (iequals(x, n)) return true;
    return false;
  };
  auto has_prefix = [&](std::string_view pre) {
    for (const auto& x : names)
      if (istarts_with(x, pre)) return true;
    return false;
  };

  // OPC part names compare case-insensitively (ECMA-376 part 2, 9.1.1.1.2).
  if (has("[Content_Types].xml")) {
    // App packages are OPC too; labelled zip (what unpacks them), named by MIME.
    if (has("AppxMetadata/AppxBundleManifest.xml"))
      return make_type("zip", "application/msixbundle");
    if (has("AppxManifest.xml")) return make_type("zip", "application/msix");
    // Main parts first; the folder alone when a crafted package renamed them.
    enum class Main { none, word, xl, ppt, visio };
    Main main = Main::none;
    if (has("word/document.xml"))
      main = Main::word;
    else if (has("xl/workbook.xml") || has("xl/workbook.bin"))
      main = Main::xl;
    else if (has("ppt/presentation.xml"))
      main = Main::ppt;
    else if (has_prefix("word/"))
      main = Main::word;
    else if (has_prefix("xl/"))
      main = Main::xl;
    else if (has_prefix("ppt/"))
      main = Main::ppt;
    else if (has_prefix("visio/"))
      main = Main::visio;
    switch (main) {
      case Main::word:
        return make_type("ooxml", has("word/vbaProject.bin")
                                      ? "application/vnd.ms-word.document.macroEnabled.12"
                                      : "application/vnd.openxmlformats-officedocument."
                                        "wordprocessingml.document");
      case Main::xl:
        if (has("xl/workbook.bin"))
          return make_type("ooxml", "application/vnd.ms-excel.sheet.binary.macroEnabled.12");
        return make_type("ooxml", has("xl/vbaProject.bin")
                                      ? "application/vnd.ms-excel.sheet.macroEnabled.12"
                                      : "application/vnd.openxmlformats-officedocument."
                                        "spreadsheetml.sheet");
      case Main::ppt:
        return make_type("ooxml", has("ppt/vbaProject.bin")
                                      ? "application/vnd.ms-powerpoint.presentation.macroEnabled.12"
                                      : "application/vnd.openxmlformats-officedocument."
                                        "presentationml.presentation");
      case Main::visio:
        return make_type("ooxml", "application/vnd.ms-visio.drawing");
      case Main::none:
        break;
    }
    if (has("FixedDocumentSequence.fdseq"))
      return make_type("ooxml", "application/vnd.ms-xpsdocument");
    return make_type("ooxml", kZipMime);
  }
  if (has("AndroidManifest.xml") && has("classes.dex"))
    return make_type("apk", "application/vnd.android.package-archive");
  if (has("META-INF/MANIFEST.MF")) {
    for (const auto& x : names)
      if (iends_with(x, ".class")) return make_type("jar", "application/java-archive");
  }
  return make_type("zip", kZipMime);
}

}  // namespace

std::optional<TypeInfo> detect_zip(Probe& p, bool head_magic) {
  std::string_view h = p.prefix();
  if (head_magic) {
    if (auto mt = odf_mimetype(h)) {
      if (mt->starts_with("application/vnd.oasis.opendocument.")) return make_type("odf", *mt);
      if (*mt == "application/epub+zip") return make_type("zip", *mt);
    }
  } else {
    // No zip magic at 0: only a zip whose end record sits in the tail (bytes
    // prepended: self-extractors, polyglots, "java -jar" shell stubs).
    if (p.size() < 22 || !has_end_record_signature(p.tail(kMaxExtraRead))) return std::nullopt;
  }
  std::string error;
  std::optional<ZipDirectory> dir = read_zip_directory(p.source(), kMaxEntries, &error);
  std::vector<std::string> names;
  if (dir) {
    names.reserve(dir->entries.size());
    for (auto& e : dir->entries) names.push_back(std::move(e.name));
  }
  if (!head_magic && names.empty()) return std::nullopt;
  if (names.empty()) names = local_names(p.head());
  return classify_names(names);
}

}  // namespace sandgate::type_detail
