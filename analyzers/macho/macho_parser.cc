// Mach-O parser implementation (see macho_parser.h).
#include "analyzers/macho/macho_parser.h"

#include <algorithm>

#include "unpack/cursor.h"

namespace sandgate {
namespace {

constexpr uint32_t kMhMagic = 0xfeedface, kMhMagic64 = 0xfeedfacf;
constexpr uint32_t kMhCigam = 0xcefaedfe, kMhCigam64 = 0xcffaedfe;
constexpr uint32_t kFatMagic = 0xcafebabe, kFatMagic64 = 0xcafebabf;
constexpr uint32_t kLcCodeSignature = 0x1d;
// cs_blobs.h magics and SuperBlob slot types.
constexpr uint32_t kCsSuperBlob = 0xfade0cc0;
constexpr uint32_t kCsCodeDirectory = 0xfade0c02;
constexpr uint32_t kCsEntitlements = 0xfade7171;
constexpr uint32_t kCsBlobWrapper = 0xfade0b01;
constexpr uint32_t kSlotCodeDirectory = 0;
constexpr uint32_t kSlotEntitlements = 5;
constexpr uint32_t kSlotCms = 0x10000;
constexpr size_t kMaxEntitlements = 64 * 1024;

std::string read_exact(const ByteSource& src, uint64_t off, size_t n) {
  std::string s(n, '\0');
  s.resize(src.read_at(off, s.data(), n));
  return s;
}

// A NUL-terminated printable string at off inside blob, capped.
std::string c_string(std::string_view blob, size_t off) {
  if (off >= blob.size()) return {};
  std::string s(blob.substr(off, std::min<size_t>(256, blob.size() - off)));
  if (auto z = s.find('\0'); z != std::string::npos) s.resize(z);
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return s;
}

void parse_code_directory(std::string_view cd, MachoSignature& sig, std::vector<std::string>& errors) {
  ByteCursor c(cd);
  c.skip(8);  // magic, length (checked by the caller)
  sig.cd_version = c.u32be();
  sig.cd_flags = c.u32be();
  c.skip(4);  // hashOffset
  uint32_t ident = c.u32be();
  c.skip(4 + 4 + 4);  // nSpecialSlots, nCodeSlots, codeLimit
  c.u8();             // hashSize
  sig.hash_type = c.u8();
  c.skip(1 + 1 + 4);  // platform, pageSize, spare2
  uint32_t team = 0;
  if (sig.cd_version >= 0x20100) c.skip(4);  // scatterOffset
  if (sig.cd_version >= 0x20200) team = c.u32be();
  if (c.failed()) {
    errors.push_back("CodeDirectory is truncated");
    return;
  }
  sig.has_code_directory = true;
  sig.identifier = c_string(cd, ident);
  if (team) sig.team_id = c_string(cd, team);
}

void parse_signature(std::string_view blob, MachoSignature& sig, std::vector<std::string>& errors) {
  ByteCursor c(blob);
  uint32_t magic = c.u32be();
  uint32_t length = c.u32be();
  uint32_t count = c.u32be();
  if (c.failed() || magic != kCsSuperBlob) {
    errors.push_back("code signature is not a SuperBlob");
    return;
  }
  if (length > blob.size() || length < 12) {
    errors.push_back("SuperBlob length " + std::to_string(length) + " is out of range");
    return;
  }
  blob = blob.substr(0, length);
  if (uint64_t(count) * 8 > length - 12) {
    errors.push_back("SuperBlob index of " + std::to_string(count) + " entries does not fit");
    return;
  }
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t type = c.u32be();
    uint32_t off = c.u32be();
    if (off > length - 8) {
      errors.push_back("signature blob " + std::to_string(i) + " lies outside the SuperBlob");
      continue;
    }
    ByteCursor b(blob.substr(off));
    uint32_t bmagic = b.u32be();
    uint32_t blen = b.u32be();
    if (blen < 8 || blen > length - off) {
      errors.push_back("signature blob " + std::to_string(i) + " has a bad length");
      continue;
    }
    std::string_view body = blob.substr(off, blen);
    if (type == kSlotCodeDirectory && bmagic == kCsCodeDirectory) {
      sig.code_directory.assign(body);
      parse_code_directory(body, sig, errors);
    } else if (type == kSlotEntitlements && bmagic == kCsEntitlements) {
      sig.entitlements.assign(body.substr(8, kMaxEntitlements));
    } else if (type == kSlotCms && bmagic == kCsBlobWrapper) {
      sig.cms.assign(body.substr(8));
    }
  }
  if (!sig.has_code_directory) errors.push_back("code signature has no CodeDirectory");
}

}  // namespace

const char* macho_cpu_name(uint32_t cputype) {
  switch (cputype) {
    case 7: return "x86";
    case 0x01000007: return "x86_64";
    case 12: return "arm";
    case 0x0100000c: return "arm64";
    case 0x0200000c: return "arm64_32";
    case 18: return "ppc";
    case 0x01000012: return "ppc64";
    default: return "other";
  }
}

const char* macho_filetype_name(uint32_t filetype) {
  switch (filetype) {
    case 1: return "object";
    case 2: return "execute";
    case 6: return "dylib";
    case 7: return "dylinker";
    case 8: return "bundle";
    case 10: return "dsym";
    case 11: return "kext";
    default: return "other";
  }
}

MachoSlice parse_macho_slice(const ByteSource& src, uint64_t offset, uint64_t size) {
  MachoSlice s;
  s.offset = offset;
  s.size = size;
  std::string hdr = read_exact(src, offset, static_cast<size_t>(std::min<uint64_t>(size, 32)));
  if (hdr.size() < 28) {
    s.errors.push_back("file ends inside the Mach-O header");
    return s;
  }
  ByteCursor m(hdr);
  uint32_t magic = m.u32le();
  if (magic == kMhMagic || magic == kMhMagic64) {
    s.big_endian = false;
  } else if (magic == kMhCigam || magic == kMhCigam64) {
    s.big_endian = true;
  } else {
    s.errors.push_back("no Mach-O magic");
    return s;
  }
  s.is64 = magic == kMhMagic64 || magic == kMhCigam64;
  size_t hsize = s.is64 ? 32 : 28;
  if (hdr.size() < hsize) {
    s.errors.push_back("file ends inside the Mach-O header");
    return s;
  }
  auto u32 = [&](ByteCursor& c) { return s.big_endian ? c.u32be() : c.u32le(); };
  s.cputype = u32(m);
  u32(m);  // cpusubtype
  s.filetype = u32(m);
  s.ncmds = u32(m);
  uint32_t sizeofcmds = u32(m);
  if (sizeofcmds > kMaxMachoCommandsBytes || hsize + uint64_t(sizeofcmds) > size) {
    s.errors.push_back("load commands (" + std::to_string(sizeofcmds) +
                       " bytes) do not fit in the file");
    return s;
  }
  std::string cmds = read_exact(src, offset + hsize, sizeofcmds);
  if (cmds.size() != sizeofcmds) {
    s.errors.push_back("load commands cannot be read");
    return s;
  }
  ByteCursor c(cmds);
  for (uint32_t i = 0; i < s.ncmds; ++i) {
    size_t at = c.offset();
    uint32_t cmd = u32(c);
    uint32_t cmdsize = u32(c);
    if (c.failed() || cmdsize < 8 || cmdsize > cmds.size() - at) {
      s.errors.push_back("load command " + std::to_string(i) + " runs past sizeofcmds");
      return s;
    }
    if (cmd == kLcCodeSignature) {
      ByteCursor lc(std::string_view(cmds).substr(at + 8, cmdsize - 8));
      uint32_t dataoff = u32(lc);
      uint32_t datasize = u32(lc);
      s.signature.present = true;
      if (lc.failed()) {
        s.errors.push_back("LC_CODE_SIGNATURE is truncated");
      } else if (datasize > kMaxMachoSignatureBytes || uint64_t(dataoff) + datasize > size) {
        s.errors.push_back("code signature (offset " + std::to_string(dataoff) + ", size " +
                           std::to_string(datasize) + ") lies outside the file");
      } else {
        std::string blob = read_exact(src, offset + dataoff, datasize);
        parse_signature(blob, s.signature, s.errors);
      }
    }
    c.seek(at + cmdsize);
  }
  return s;
}

MachoInfo parse_macho(const ByteSource& src) {
  MachoInfo info;
  std::string head = read_exact(src, 0, 8);
  ByteCursor h(head);
  uint32_t be = h.u32be();
  if (head.size() >= 4 && (be == kFatMagic || be == kFatMagic64)) {
    info.fat = true;
    info.is_macho = true;
    uint32_t n = h.u32be();
    if (h.failed()) {
      info.errors.push_back("file ends inside the fat header");
      return info;
    }
    if (n == 0 || n > kMaxFatSlices) {
      info.errors.push_back("fat header declares " + std::to_string(n) + " slices");
      return info;
    }
    size_t entry = be == kFatMagic64 ? 32 : 20;
    std::string table = read_exact(src, 8, n * entry);
    if (table.size() != n * entry) {
      info.errors.push_back("fat slice table runs past the end of the file");
      return info;
    }
    ByteCursor t(table);
    for (uint32_t i = 0; i < n; ++i) {
      t.skip(8);  // cputype, cpusubtype
      uint64_t off = entry == 32 ? t.u64be() : t.u32be();
      uint64_t sz = entry == 32 ? t.u64be() : t.u32be();
      t.skip(entry == 32 ? 8 : 4);  // align (+ reserved)
      if (off > src.size() || sz > src.size() - off) {
        info.errors.push_back("fat slice " + std::to_string(i) + " lies outside the file");
        continue;
      }
      info.slices.push_back(parse_macho_slice(src, off, sz));
    }
    return info;
  }
  MachoSlice s = parse_macho_slice(src, 0, src.size());
  info.is_macho = s.errors.empty() || s.cputype || s.ncmds;
  info.slices.push_back(std::move(s));
  return info;
}

}  // namespace sandgate
