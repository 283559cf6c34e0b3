// OLE2 / Compound File Binary refinement: the label stays "ole2" (one
// unpacker reads them all) while the MIME type names what the container holds,
// read from the root directory's CLSID and the stream names in the first
// directory sector ([MS-CFB] 2.2 header, 2.6 directory entries). Reads at most
// one sector (<= 4096 bytes) besides the head; anything odd keeps the generic MIME.
#include "unpack/type/probe.h"

namespace sandgate::type_detail {
namespace {

constexpr std::string_view kGeneric = "application/x-ole-storage";

// Directory entry name: UTF-16LE, length in bytes including the terminator.
// Only ASCII names matter here; others come back with '?' in place.
std::string entry_name(std::string_view entry) {
  uint16_t len = le16(entry, 0x40);
  if (len < 2 || len > 64) return {};
  std::string out;
  for (size_t i = 0; i + 1 < len - 1u; i += 2) {
    uint16_t c = le16(entry, i);
    out.push_back(c < 0x80 ? static_cast<char>(c) : '?');
  }
  return out;
}

}  // namespace

TypeInfo classify_ole2(Probe& p) {
  std::string_view h = p.prefix();
  TypeInfo generic = make_type("ole2", kGeneric);
  uint16_t shift = le16(h, 0x1E);
  if (shift != 9 && shift != 12) return generic;
  const size_t sector = size_t(1) << shift;
  uint32_t first_dir = le32(h, 0x30);
  if (first_dir >= 0xFFFFFFFA) return generic;  // MAXREGSECT (2.1)
  std::string_view dir = p.view((uint64_t(first_dir) + 1) * sector, sector);
  if (dir.size() != sector) return generic;

  // The root entry (type 5) comes first; its CLSID names the application.
  if (static_cast<uint8_t>(dir[0x42]) == 5) {
    std::string_view clsid = dir.substr(0x50, 16);
    // {000C1084-...-46} MSI package, {000C1086-...} MSP patch, {000C1082-...} MST transform.
    static constexpr std::string_view kMsiTail("\x00\x00\x00\x00\xC0\x00\x00\x00\x00\x00\x00\x46",
                                               12);
    if (clsid.substr(4) == kMsiTail && clsid[2] == '\x0C' && clsid[3] == '\x00' &&
        clsid[1] == '\x10') {
      if (clsid[0] == '\x84') return make_type("ole2", "application/x-msi");
      if (clsid[0] == '\x86') return make_type("ole2", "application/x-ms-patch");
      if (clsid[0] == '\x82') return make_type("ole2", "application/x-ms-transform");
    }
  }
  for (size_t off = 0; off + 128 <= dir.size(); off += 128) {
    std::string_view entry = dir.substr(off, 128);
    uint8_t type = static_cast<uint8_t>(entry[0x42]);
    if (type != 1 && type != 2) continue;
    std::string name = entry_name(entry);
    if (name == "WordDocument") return make_type("ole2", "application/msword");
    if (name == "Workbook" || name == "Book") return make_type("ole2", "application/vnd.ms-excel");
    if (name == "PowerPoint Document") return make_type("ole2", "application/vnd.ms-powerpoint");
    if (name == "VisioDocument") return make_type("ole2", "application/vnd.visio");
    if (name == "__properties_version1.0" || name.starts_with("__substg1.0_"))
      return make_type("ole2", "application/vnd.ms-outlook");
  }
  return generic;
}

}  // namespace sandgate::type_detail
