// [MS-SHLLINK] parser: see lnk_parser.h. Section numbers refer to the
// Open Specifications document [MS-SHLLINK] v8.0.
#include "analyzers/lnk/lnk_parser.h"

#include <algorithm>
#include <cstring>

#include "unpack/cursor.h"
#include "unpack/script/script_decode.h"

namespace sandgate {

namespace {

constexpr size_t kMaxString = 32 * 1024;  // characters of any one string
constexpr int kMaxItems = 256;            // shell items walked
constexpr int kMaxBlocks = 64;            // extra data blocks walked

// LinkFlags (2.1.1).
constexpr uint32_t kHasIdList = 1u << 0, kHasLinkInfo = 1u << 1, kHasName = 1u << 2,
                   kHasRelPath = 1u << 3, kHasWorkingDir = 1u << 4, kHasArguments = 1u << 5,
                   kHasIconLocation = 1u << 6, kIsUnicode = 1u << 7;

constexpr unsigned char kLinkClsid[16] = {0x01, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
                                          0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46};

// NUL-terminated ANSI string at off within s (capped, printable ASCII kept).
std::string cstr_at(std::string_view s, size_t off) {
  std::string out;
  for (size_t i = off; i < s.size() && s[i] != '\0' && out.size() < kMaxString; ++i)
    out.push_back(s[i]);
  return out;
}

// NUL-terminated UTF-16LE string at off within s.
std::string wstr_at(std::string_view s, size_t off) {
  size_t end = off;
  while (end + 1 < s.size() && (s[end] != '\0' || s[end + 1] != '\0') && end - off < 2 * kMaxString)
    end += 2;
  if (off > s.size()) return "";
  return utf16le_to_utf8(s.substr(off, end - off), 4 * kMaxString);
}

bool printable_name(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c < 0x20) return false;
  return true;
}

// The long name in a file entry's extension block 0xBEEF0004 (libfwsi
// "file entry extension block": the name's offset depends on the version).
std::string long_name(std::string_view item) {
  for (size_t p = 0; p + 8 <= item.size(); p += 2) {
    ByteCursor c(item.substr(p));
    uint16_t size = c.u16le(), version = c.u16le();
    uint32_t sig = c.u32le();
    if (sig != 0xBEEF0004u || size < 8 || p + size > item.size()) continue;
    std::string_view blk = item.substr(p, size);
    size_t off = version >= 9 ? 46 : version >= 8 ? 42 : version >= 7 ? 38 : 20;
    for (size_t o : {off - 4, off, size_t(18), size_t(20)}) {
      if (o >= blk.size()) continue;
      std::string n = wstr_at(blk, o);
      if (printable_name(n)) return n;
    }
  }
  return "";
}

// Names from the shell item ID list (2.2.2; item formats per libfwsi).
std::string idlist_names(std::string_view list) {
  std::string path;
  ByteCursor c(list);
  for (int i = 0; i < kMaxItems && c.remaining() >= 2; ++i) {
    uint16_t size = c.u16le();
    if (size == 0) break;
    if (size < 2 || !c.has(size - 2u)) break;
    std::string_view item = c.bytes(size - 2u);
    if (item.empty()) continue;
    unsigned char type = static_cast<unsigned char>(item[0]);
    if ((type & 0x70) == 0x20 && item.size() > 1) {  // volume: "C:\"
      std::string v = cstr_at(item, 1);
      if (printable_name(v) && v.size() <= 4) path = v;
    } else if ((type & 0x70) == 0x30 && item.size() > 12) {  // file entry
      std::string n = long_name(item);
      if (n.empty()) n = (type & 0x04) ? wstr_at(item, 12) : cstr_at(item, 12);
      if (!printable_name(n)) continue;
      if (!path.empty() && path.back() != '\\') path += '\\';
      path += n;
    }
    if (path.size() > kMaxString) break;
  }
  return path;
}

}  // namespace

LnkInfo parse_lnk(std::string_view bytes) {
  LnkInfo r;
  ByteCursor c(bytes);
  // ShellLinkHeader (2.1).
  if (c.u32le() != 0x4C) {
    r.error = "HeaderSize is not 0x4C";
    return r;
  }
  std::string_view clsid = c.bytes(16);
  if (clsid.size() != 16 || std::memcmp(clsid.data(), kLinkClsid, 16) != 0) {
    r.error = "LinkCLSID is not 00021401-0000-0000-C000-000000000046";
    return r;
  }
  r.flags = c.u32le();
  if (!c.seek(0x4C)) {
    r.error = "file ends inside the header";
    return r;
  }
  const bool unicode = r.flags & kIsUnicode;

  // LinkTargetIDList (2.2).
  if (r.flags & kHasIdList) {
    uint16_t n = c.u16le();
    std::string_view list = c.bytes(n);
    if (c.failed()) {
      r.error = "IDListSize runs past the end of the file";
      return r;
    }
    r.idlist_path = idlist_names(list);
  }

  // LinkInfo (2.3).
  std::string local_base, suffix, net_name;
  if (r.flags & kHasLinkInfo) {
    size_t start = c.offset();
    uint32_t size = c.u32le();
    if (size < 0x1C || !c.has(size - 4u)) {
      r.error = "LinkInfoSize is out of range";
      return r;
    }
    std::string_view li = bytes.substr(start, size);
    ByteCursor h(li);
    h.skip(4);
    uint32_t header_size = h.u32le(), li_flags = h.u32le();
    h.u32le();  // VolumeIDOffset
    uint32_t base_off = h.u32le(), net_off = h.u32le(), suffix_off = h.u32le();
    uint32_t base_off_u = 0, suffix_off_u = 0;
    if (header_size >= 0x24) {
      base_off_u = h.u32le();
      suffix_off_u = h.u32le();
    }
    if (li_flags & 1) {
      if (base_off_u && base_off_u < size) local_base = wstr_at(li, base_off_u);
      if (local_base.empty() && base_off < size) local_base = cstr_at(li, base_off);
    }
    if ((li_flags & 2) && uint64_t(net_off) + 12 < size) {
      ByteCursor n(li.substr(net_off));
      n.skip(8);
      uint32_t name_off = n.u32le();
      if (!n.failed() && net_off + uint64_t(name_off) < size) net_name = cstr_at(li, net_off + name_off);
    }
    if (suffix_off_u && suffix_off_u < size) suffix = wstr_at(li, suffix_off_u);
    if (suffix.empty() && suffix_off && suffix_off < size) suffix = cstr_at(li, suffix_off);
    c.seek(start + size);
  }

  // StringData (2.4): CountCharacters then that many characters.
  auto read_string = [&](std::string& out) {
    uint16_t count = c.u16le();
    size_t bytes_len = unicode ? 2u * count : count;
    std::string_view s = c.bytes(bytes_len);
    if (c.failed()) return false;
    out = unicode ? utf16le_to_utf8(s, 4 * kMaxString) : std::string(s);
    return true;
  };
  struct Field {
    uint32_t flag;
    std::string* out;
    const char* what;
  } fields[] = {{kHasName, &r.name, "NAME_STRING"},
                {kHasRelPath, &r.relative_path, "RELATIVE_PATH"},
                {kHasWorkingDir, &r.working_dir, "WORKING_DIR"},
                {kHasArguments, &r.arguments, "COMMAND_LINE_ARGUMENTS"},
                {kHasIconLocation, &r.icon_location, "ICON_LOCATION"}};
  for (auto& f : fields) {
    if (!(r.flags & f.flag)) continue;
    if (!read_string(*f.out)) {
      r.error = std::string(f.what) + " runs past the end of the file";
      break;
    }
  }

  // ExtraData (2.5): blocks until a terminal block (size < 4).
  if (r.error.empty()) {
    for (int i = 0; i < kMaxBlocks && c.remaining() >= 4; ++i) {
      size_t start = c.offset();
      uint32_t size = c.u32le();
      if (size < 4) break;
      if (size < 8 || !c.has(size - 4u)) {
        r.error = "an ExtraData block runs past the end of the file";
        break;
      }
      uint32_t sig = c.u32le();
      std::string_view blk = bytes.substr(start, size);
      if (sig == 0xA0000001u && size >= 0x314) {  // EnvironmentVariableDataBlock (2.5.4)
        std::string w = wstr_at(blk, 8 + 260);
        r.env_target = printable_name(w) ? w : cstr_at(blk, 8);
      }
      c.seek(start + size);
    }
  }

  if (!local_base.empty() || !net_name.empty()) {
    std::string base = local_base.empty() ? net_name : local_base;
    if (!suffix.empty() && !base.empty() && base.back() != '\\') base += '\\';
    r.target = base + suffix;
    r.target_source = "linkinfo";
  } else if (!r.env_target.empty()) {
    r.target = r.env_target;
    r.target_source = "environment";
  } else if (!r.idlist_path.empty()) {
    r.target = r.idlist_path;
    r.target_source = "idlist";
  }
  return r;
}

}  // namespace sandgate
