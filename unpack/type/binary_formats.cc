// Precise checks for formats that start with a magic number: executables
// (PE, ELF, Mach-O, Java class), Office containers (OLE2, zip family), PDF,
// RTF, archives and compressed streams, images, shortcuts and OneNote.
// A magic number alone is trusted only when it is long and specific; short
// ones (MZ, BM, cpio binary, ICO, ARJ...) must also have a plausible header.
// Everything reads through bounds-checked helpers on the Probe's head, plus at
// most one small read for a PE header that lies past the head.
#include <array>
#include <cstring>

#include "unpack/type/probe.h"

namespace sandgate::type_detail {
namespace {

constexpr std::string_view kPeMime = "application/vnd.microsoft.portable-executable";

// PE/COFF (Microsoft PE format spec, "MS-DOS Stub" and "Signature"): the DOS
// header's e_lfanew at 0x3C points to "PE\0\0", a COFF header and an optional
// header whose magic is PE32 (0x10B), PE32+ (0x20B) or ROM (0x107). An "MZ"
// without that chain is a DOS program or junk, not something Windows loads as PE.
std::optional<TypeInfo> detect_pe(Probe& p) {
  std::string_view h = p.prefix();
  if (!bytes_at(h, 0, "MZ") || h.size() < 0x40) return std::nullopt;
  uint32_t lfanew = le32(h, 0x3C);
  std::string_view nt = p.view(lfanew, 26);  // signature + COFF header + opt magic
  if (nt.size() != 26 || !bytes_at(nt, 0, std::string_view("PE\0\0", 4))) return std::nullopt;
  uint16_t opt_size = le16(nt, 20);
  uint16_t opt_magic = le16(nt, 24);
  if (opt_size < 2 || (opt_magic != 0x10B && opt_magic != 0x20B && opt_magic != 0x107))
    return std::nullopt;
  return make_type("pe", kPeMime);
}

// ELF (System V gABI 4.1): e_ident class, data encoding and version must be valid.
std::optional<TypeInfo> detect_elf(Probe& p) {
  std::string_view h = p.prefix();
  if (!bytes_at(h, 0,
                "\x7f"
                "ELF") ||
      h.size() < 52)
    return std::nullopt;
  uint8_t cls = static_cast<uint8_t>(h[4]), data = static_cast<uint8_t>(h[5]);
  if ((cls != 1 && cls != 2) || (data != 1 && data != 2) || h[6] != 1) return std::nullopt;
  const bool le = data == 1, is64 = cls == 2;
  auto u16 = [&](size_t off) { return le ? le16(h, off) : be16(h, off); };
  auto u32 = [&](size_t off) { return le ? le32(h, off) : be32(h, off); };
  uint16_t e_type = u16(16);
  switch (e_type) {
    case 1:
      return make_type("elf", "application/x-object");
    case 4:
      return make_type("elf", "application/x-coredump");
    case 3: {
      // ET_DYN is both a shared library and a PIE executable; a PT_INTERP
      // program header (an interpreter to run it) tells the executable.
      uint64_t phoff = is64 ? (uint64_t(u32(le ? 36 : 32)) << 32 | u32(le ? 32 : 36)) : u32(28);
      uint16_t entsize = u16(is64 ? 54 : 42), phnum = u16(is64 ? 56 : 44);
      if (entsize >= 4) {
        for (uint32_t i = 0; i < phnum; ++i) {
          uint64_t off = phoff + uint64_t(i) * entsize;
          if (off + 4 > h.size()) break;
          if (u32(static_cast<size_t>(off)) == 3)
            return make_type("elf", "application/x-executable");
        }
      }
      return make_type("elf", "application/x-sharedlib");
    }
    default:
      return make_type("elf", "application/x-executable");
  }
}

// Mach-O cputype values from <mach/machine.h>, without the ABI64 flag bits.
bool plausible_mach_cpu(uint32_t cpu) {
  switch (cpu & 0x00FFFFFF) {
    case 1:
    case 6:
    case 7:
    case 10:
    case 11:
    case 12:
    case 13:
    case 14:
    case 15:
    case 18:
      return (cpu & 0xFC000000) == 0;  // only CPU_ARCH_ABI64 / ABI64_32 flags allowed
    default:
      return false;
  }
}

// Thin Mach-O (<mach-o/loader.h>): magic in either byte order, a known cputype
// and a file type in MH_OBJECT..MH_FILESET.
std::optional<TypeInfo> detect_macho_thin(Probe& p) {
  std::string_view h = p.prefix();
  if (h.size() < 28) return std::nullopt;
  uint32_t m = be32(h, 0);
  bool le;
  if (m == 0xFEEDFACE || m == 0xFEEDFACF) {
    le = false;
  } else if (m == 0xCEFAEDFE || m == 0xCFFAEDFE) {
    le = true;
  } else {
    return std::nullopt;
  }
  uint32_t cpu = le ? le32(h, 4) : be32(h, 4);
  uint32_t filetype = le ? le32(h, 12) : be32(h, 12);
  if (!plausible_mach_cpu(cpu) || filetype < 1 || filetype > 12) return std::nullopt;
  return make_type("macho", "application/x-mach-binary");
}

}  // namespace

// 0xCAFEBABE starts both a universal (fat) Mach-O and a Java class file. In a
// class file the next 4 bytes are minor and major version (major >= 45), read
// as a fat header's nfat_arch that is >= 45; real fat files hold a handful of
// architectures, each with a known cputype and a slice inside the file.
std::optional<TypeInfo> detect_cafebabe(Probe& p) {
  std::string_view h = p.prefix();
  uint32_t m = be32(h, 0);
  if (h.size() < 8 || (m != 0xCAFEBABE && m != 0xCAFEBABF)) return std::nullopt;
  const bool fat64 = m == 0xCAFEBABF;
  uint32_t n = be32(h, 4);
  if (n >= 1 && n < 45) {
    const size_t entry = fat64 ? 32 : 20;
    const uint64_t table_end = 8 + uint64_t(n) * entry;
    bool ok = table_end <= h.size();
    for (uint32_t i = 0; ok && i < n; ++i) {
      size_t e = 8 + i * entry;
      uint64_t off = fat64 ? (uint64_t(be32(h, e + 8)) << 32 | be32(h, e + 12)) : be32(h, e + 8);
      uint32_t align = be32(h, e + (fat64 ? 24 : 16));
      ok = plausible_mach_cpu(be32(h, e)) && off >= table_end && off < p.size() && align <= 16;
    }
    if (ok) return make_type("macho", "application/x-mach-binary");
  }
  // JVM spec 4.1: u4 magic, u2 minor_version, u2 major_version (45 = JDK 1.0.2).
  uint16_t major = be16(h, 6);
  if (m == 0xCAFEBABE && major >= 45 && major < 100)
    return make_type("class", "application/java-vm");
  return std::nullopt;
}

namespace {

// POSIX/v7 tar header (POSIX.1-2017 pax, "ustar Interchange Format"): "ustar"
// at 257, or for a pre-POSIX v7 header a checksum (the byte sum with the
// checksum field taken as spaces) that matches the octal value stored at 148.
bool is_tar(std::string_view h) {
  if (h.size() < 512) return false;
  if (bytes_at(h, 257, "ustar")) return true;
  if (h[0] == '\0') return false;
  uint32_t sum = 0;
  for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? 0x20 : static_cast<uint8_t>(h[i]);
  uint32_t stored = 0;
  size_t i = 148;
  while (i < 156 && h[i] == ' ') ++i;
  size_t digits = 0;
  for (; i < 156 && h[i] >= '0' && h[i] <= '7'; ++i, ++digits) stored = stored * 8 + (h[i] - '0');
  if (digits == 0 || (i < 156 && h[i] != '\0' && h[i] != ' ')) return false;
  return stored == sum;
}

bool all_in(std::string_view s, std::string_view allowed) {
  for (char c : s)
    if (allowed.find(c) == std::string_view::npos) return false;
  return true;
}

// cpio (all variants: binary, odc "070707", newc "070701", crc "070702").
bool is_cpio(std::string_view h) {
  if (h.size() >= 110 && (bytes_at(h, 0, "070701") || bytes_at(h, 0, "070702")))
    return all_in(h.substr(6, 104), "0123456789abcdefABCDEF");
  if (h.size() >= 76 && bytes_at(h, 0, "070707")) return all_in(h.substr(6, 70), "01234567");
  // Old binary header: 13 16-bit words; c_namesize is word 10, the name follows.
  if (h.size() < 28) return false;
  bool le = static_cast<uint8_t>(h[0]) == 0xC7 && static_cast<uint8_t>(h[1]) == 0x71;
  bool be = static_cast<uint8_t>(h[0]) == 0x71 && static_cast<uint8_t>(h[1]) == 0xC7;
  if (!le && !be) return false;
  uint16_t namesize = le ? le16(h, 20) : be16(h, 20);
  if (namesize < 2 || namesize > 1024 || 26u + namesize > h.size()) return false;
  std::string_view name = h.substr(26, namesize);
  if (name.back() != '\0') return false;
  for (char c : name.substr(0, namesize - 1))
    if (static_cast<uint8_t>(c) < 0x20) return false;
  return true;
}

// LHA/LZH level 0-3 headers: "-lh?-" / "-lz?-" / "-pm?-" method id at offset 2.
bool is_lha(std::string_view h) {
  if (h.size() < 22 || h[2] != '-' || h[6] != '-') return false;
  std::string_view id = h.substr(3, 3);
  bool lh = id[0] == 'l' && id[1] == 'h' &&
            std::string_view("01234567d").find(id[2]) != std::string_view::npos;
  bool lz = id == "lzs" || id == "lz4" || id == "lz5";
  bool pm = id[0] == 'p' && id[1] == 'm' &&
            std::string_view("012s").find(id[2]) != std::string_view::npos;
  return (lh || lz || pm) && static_cast<uint8_t>(h[20]) <= 3;
}

// ARJ: 0x60 0xEA, a basic header size <= 2600, and the first (main) header
// carries file type 2 ("comment header").
bool is_arj(std::string_view h) {
  if (h.size() < 12 || static_cast<uint8_t>(h[0]) != 0x60 || static_cast<uint8_t>(h[1]) != 0xEA)
    return false;
  uint16_t size = le16(h, 2);
  uint8_t first = static_cast<uint8_t>(h[4]);
  return size >= first && size <= 2600 && first >= 26 && h[10] == 2;
}

// BMP: "BM", then a BITMAPINFOHEADER family size we know and a pixel offset
// past the headers.
bool is_bmp(std::string_view h, uint64_t size) {
  if (h.size() < 26 || !bytes_at(h, 0, "BM")) return false;
  uint32_t pixels = le32(h, 10), dib = le32(h, 14);
  static constexpr std::array<uint32_t, 8> kDib = {12, 16, 40, 52, 56, 64, 108, 124};
  bool known = false;
  for (uint32_t d : kDib) known = known || d == dib;
  return known && pixels >= 14 + dib && pixels <= size;
}

// ICO (ICONDIR, type 1): every directory entry must be sane and point inside.
bool is_ico(std::string_view h, uint64_t size) {
  if (h.size() < 22 || !bytes_at(h, 0, std::string_view("\0\0\1\0", 4))) return false;
  uint16_t count = le16(h, 4);
  if (count == 0 || 6u + 16u * count > h.size()) return false;
  for (uint16_t i = 0; i < count; ++i) {
    size_t e = 6 + 16 * size_t(i);
    uint16_t planes = le16(h, e + 4), bpp = le16(h, e + 6);
    uint32_t bytes = le32(h, e + 8), off = le32(h, e + 12);
    if (h[e + 3] != 0 || planes > 1 ||
        (bpp != 0 && bpp != 1 && bpp != 2 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 &&
         bpp != 32))
      return false;
    if (bytes == 0 || off < 6u + 16u * count || uint64_t(off) + bytes > size) return false;
  }
  return true;
}

// Formats we have no label for but that fill documents and mail (metafiles,
// fonts, media, databases): naming them here keeps them away from libmagic,
// which costs a millisecond a call. Label "data", the format's own MIME.
std::optional<TypeInfo> detect_common_data(std::string_view h) {
  auto data = [](std::string_view mime) { return make_type("data", mime); };
  // EMF: EMR_HEADER record type 1 and " EMF" signature at 40 ([MS-EMF] 2.2.9).
  if (le32(h, 0) == 1 && bytes_at(h, 40, " EMF")) return data("image/emf");
  // WMF: placeable header key, or a META_HEADER with type 1/2 and size 9 words.
  if (le32(h, 0) == 0x9AC6CDD7) return data("image/wmf");
  if ((le16(h, 0) == 1 || le16(h, 0) == 2) && le16(h, 2) == 9 &&
      (le16(h, 4) == 0x100 || le16(h, 4) == 0x300))
    return data("image/wmf");
  // Fonts: TrueType version 1.0 / 'true' with a sane table count, CFF, WOFF.
  if ((be32(h, 0) == 0x00010000 || bytes_at(h, 0, "true")) && be16(h, 4) >= 4 && be16(h, 4) <= 64)
    return data("font/ttf");
  if (bytes_at(h, 0, "OTTO") && be16(h, 4) >= 4 && be16(h, 4) <= 64) return data("font/otf");
  if (bytes_at(h, 0, "wOFF")) return data("font/woff");
  if (bytes_at(h, 0, "wOF2")) return data("font/woff2");
  if (bytes_at(h, 36, "acsp")) return data("application/vnd.iccprofile");
  // ISO base media (MP4, MOV, HEIF...): a 'ftyp' box first.
  if (bytes_at(h, 4, "ftyp") && be32(h, 0) >= 8 && be32(h, 0) <= 4096) {
    std::string_view brand = h.substr(8, 4);
    if (brand == "heic" || brand == "heix" || brand == "mif1") return data("image/heic");
    if (brand == "M4A ") return data("audio/mp4");
    if (brand == "qt  ") return data("video/quicktime");
    return data("video/mp4");
  }
  if (bytes_at(h, 0, "RIFF") && bytes_at(h, 8, "WAVE")) return data("audio/x-wav");
  if (bytes_at(h, 0, "RIFF") && bytes_at(h, 8, "AVI ")) return data("video/x-msvideo");
  if (bytes_at(h, 0, "OggS")) return data("audio/ogg");
  if (bytes_at(h, 0, "fLaC")) return data("audio/flac");
  if (bytes_at(h, 0, "ID3") && h.size() >= 10 && static_cast<uint8_t>(h[3]) <= 4)
    return data("audio/mpeg");
  if (bytes_at(h, 0, "\x1A\x45\xDF\xA3")) return data("video/x-matroska");
  if (bytes_at(h, 0, std::string_view("SQLite format 3\0", 16)))
    return data("application/vnd.sqlite3");
  if (bytes_at(h, 0, std::string_view("\0asm\x01\0\0\0", 8))) return data("application/wasm");
  return std::nullopt;
}

// LZMA "alone" (.lzma, LZMA SDK lzma.txt 1.2): a properties byte
// (pb * 5 + lp) * 9 + lc < 225, a dictionary size of 2^n or 2^n + 2^(n-1)
// (what every encoder writes), and an uncompressed size that is either
// unknown (all ones) or below 2^48. Thirteen bytes with no magic number, so
// all three must hold.
bool is_lzma_alone(std::string_view h) {
  if (h.size() < 14 || static_cast<uint8_t>(h[0]) >= 225) return false;
  uint32_t dict = le32(h, 1);
  if (dict < 4096 || dict > (3u << 29)) return false;  // 4 KiB .. 1.5 GiB
  bool shape = (dict & (dict - 1)) == 0;
  for (int n = 12; !shape && n < 32; ++n) shape = dict == (1u << n) + (1u << (n - 1));
  if (!shape) return false;
  uint64_t size = uint64_t(le32(h, 5)) | (uint64_t(le32(h, 9)) << 32);
  return size == ~uint64_t(0) || size < (uint64_t(1) << 48);
}

struct Magic {
  std::string_view bytes;
  std::string_view label;
  std::string_view mime;
};

// Long, specific magics at offset 0 that need no further checks.
constexpr Magic kSimple[] = {
    {"\x89PNG\r\n\x1a\n", "png", "image/png"},
    {"GIF87a", "gif", "image/gif"},
    {"GIF89a", "gif", "image/gif"},
    {"7z\xBC\xAF\x27\x1C", "7z", "application/x-7z-compressed"},
    {std::string_view("Rar!\x1A\x07\x00", 7), "rar", "application/vnd.rar"},
    {std::string_view("Rar!\x1A\x07\x01\x00", 8), "rar", "application/vnd.rar"},
    {std::string_view("\xFD"
                      "7zXZ\0",
                      6),
     "xz", "application/x-xz"},
    {"!<arch>\n", "ar", "application/x-archive"},
    {"!<thin>\n", "ar", "application/x-archive"},
    {std::string_view("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8), "ole2", "application/x-ole-storage"},
    {"\xE4\x52\x5C\x7B\x8C\xD8\xA7\x4D\xAE\xB1\x53\x78\xD0\x29\x96\xD3", "onenote",
     "application/onenote"},
    {"%PDF-", "pdf", "application/pdf"},
};

}  // namespace

std::optional<TypeInfo> detect_binary(Probe& p) {
  std::string_view h = p.prefix();
  const uint64_t size = p.size();
  if (h.empty()) return std::nullopt;

  if (auto t = detect_pe(p)) return t;
  if (auto t = detect_elf(p)) return t;
  if (auto t = detect_macho_thin(p)) return t;
  if (auto t = detect_cafebabe(p)) return t;

  for (const Magic& m : kSimple) {
    if (!bytes_at(h, 0, m.bytes)) continue;
    if (m.label == "ole2") return classify_ole2(p);
    if (m.label == "ar" && bytes_at(h, 8, "debian-binary"))
      return make_type("ar", "application/vnd.debian.binary-package");
    return make_type(m.label, m.mime);
  }
  // Zip: a local file header, an empty archive's end record, or the spanning
  // marker that precedes the first local header (APPNOTE 4.3.7, 8.5.3).
  if (bytes_at(h, 0, "PK\x03\x04") || bytes_at(h, 0, "PK\x05\x06") || bytes_at(h, 0, "PK\x07\x08"))
    return detect_zip(p, true);
  // MS-OXTNEF 2.1.3.1: signature 0x223E9F78, a 2-byte legacy key, then the
  // first attribute, whose level byte is 1 (message) or 2 (attachment).
  if (bytes_at(h, 0, "\x78\x9F\x3E\x22") && h.size() >= 15 && (h[6] == 1 || h[6] == 2))
    return make_type("tnef", "application/vnd.ms-tnef");
  // Word opens anything starting "{\rt" as RTF (not only "{\rtf1"); so do we.
  if (bytes_at(h, 0, "{\\rt")) return make_type("rtf", "application/rtf");
  // [MS-SHLLINK] 2.1: HeaderSize 0x4C, then LinkCLSID 00021401-0000-0000-C000-000000000046.
  if (le32(h, 0) == 0x4C &&
      bytes_at(
          h, 4,
          std::string_view("\x01\x14\x02\x00\x00\x00\x00\x00\xC0\x00\x00\x00\x00\x00\x00\x46", 16)))
    return make_type("lnk", "application/x-ms-shortcut");

  const uint8_t b0 = static_cast<uint8_t>(h[0]);
  if (b0 == 0x1F && h.size() >= 4 && static_cast<uint8_t>(h[1]) == 0x8B && h[2] == 8 &&
      (static_cast<uint8_t>(h[3]) & 0xE0) == 0)  // RFC 1952 2.3.1: FLG reserved bits zero
    return make_type("gzip", "application/gzip");
  if (bytes_at(h, 0, "BZh") && h.size() >= 10 && h[3] >= '1' && h[3] <= '9' &&
      (bytes_at(h, 4, "\x31\x41\x59\x26\x53\x59") || bytes_at(h, 4, "\x17\x72\x45\x38\x50\x90")))
    return make_type("bzip2", "application/x-bzip2");
  // RFC 8878 3.1.1: zstd frame magic; Frame_Header_Descriptor bit 3 is reserved (0).
  if (bytes_at(h, 0, "\x28\xB5\x2F\xFD") && h.size() >= 5 && (h[4] & 0x08) == 0)
    return make_type("zstd", "application/zstd");
  // LZ4 frame format 1.6.x: FLG version bits must be 01; also the legacy frame.
  if ((bytes_at(h, 0, "\x04\x22\x4D\x18") && h.size() >= 5 &&
       (static_cast<uint8_t>(h[4]) >> 6) == 1) ||
      bytes_at(h, 0, "\x02\x21\x4C\x18"))
    return make_type("lz4", "application/x-lz4");
  if (bytes_at(h, 0, "LZIP") && h.size() >= 6 && static_cast<uint8_t>(h[4]) <= 1)
    return make_type("lzip", "application/x-lzip");
  // Unix compress (.Z): 1F 9D, then flags: reserved bits 5-6 zero, 9-16 code bits.
  if (h.size() >= 3 && b0 == 0x1F && static_cast<uint8_t>(h[1]) == 0x9D && (h[2] & 0x60) == 0 &&
      (h[2] & 0x1F) >= 9 && (h[2] & 0x1F) <= 16)
    return make_type("compress", "application/x-compress");
  // [MS-CAB] 2.1 CFHEADER: reserved1 = 0, reserved2 = 0, version 1.3.
  if (bytes_at(h, 0, "MSCF") && h.size() >= 36 && le32(h, 4) == 0 && le32(h, 12) == 0 &&
      h[24] == 3 && h[25] == 1)
    return make_type("cab", "application/vnd.ms-cab-compressed");
  if (bytes_at(h, 0, "xar!") && be16(h, 4) >= 28 && be16(h, 6) == 1)
    return make_type("xar", "application/x-xar");
  if (bytes_at(h, 0, "ITSF") && le32(h, 4) == 3)
    return make_type("chm", "application/vnd.ms-htmlhelp");
  if (is_cpio(h)) return make_type("cpio", "application/x-cpio");
  if (is_lha(h)) return make_type("lha", "application/x-lzh-compressed");
  if (is_arj(h)) return make_type("arj", "application/x-arj");
  if (is_tar(h)) return make_type("tar", "application/x-tar");

  if (bytes_at(h, 0, "\xFF\xD8\xFF")) return make_type("jpeg", "image/jpeg");
  if ((bytes_at(h, 0, std::string_view("II*\0", 4)) && le32(h, 4) >= 8) ||
      (bytes_at(h, 0, std::string_view("MM\0*", 4)) && be32(h, 4) >= 8) ||
      (bytes_at(h, 0, std::string_view("II+\0\x08\0\0\0", 8))) ||
      (bytes_at(h, 0, std::string_view("MM\0+\0\x08\0\0", 8))))
    return make_type("tiff", "image/tiff");
  if (bytes_at(h, 0, "RIFF") && bytes_at(h, 8, "WEBPVP8")) return make_type("webp", "image/webp");
  if (is_bmp(h, size)) return make_type("bmp", "image/bmp");
  if (is_ico(h, size)) return make_type("ico", "image/vnd.microsoft.icon");

  if (auto t = detect_common_data(h)) return t;
  // Last of the binary checks: its header has no magic number at all.
  if (is_lzma_alone(h)) return make_type("lzma", "application/x-lzma");

  // PDF readers accept the header anywhere in the first 1024 bytes
  // (ISO 32000-1 annex H.3 note; Acrobat's own rule).
  std::string_view first = h.substr(0, 1024 + 4);
  size_t pos = find_bytes(first, "%PDF-");
  if (pos != std::string_view::npos && pos < 1024) return make_type("pdf", "application/pdf");
  return std::nullopt;
}

}  // namespace sandgate::type_detail
