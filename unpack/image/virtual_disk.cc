// VHD and VHDX readers and the unpacker for labels "vhd" and "vhdx"; see
// virtual_disk.h for what they guarantee.
#include "unpack/image/virtual_disk.h"

#include <algorithm>
#include <cstring>

#include "unpack/cursor.h"
#include "unpack/image/extent_source.h"
#include "unpack/image/image_common.h"
#include "unpack/unpacker.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"image.malformed", Severity::high,
     "a disk image's structure is inconsistent (out-of-range or looping references, truncation): "
     "parts of it may be hidden from the scan"},
    {"image.unsupported", Severity::high,
     "a disk image (or a part of one) cannot be read by the engine: not inspected, fail closed"},
    {"image.contains_executable", Severity::high,
     "a disk image holds an executable or script (mounting it bypasses the Mark-of-the-Web)"},
});

namespace image {
namespace {

Finding malformed(std::string msg, std::string evidence = {}) {
  return make_finding("image.malformed", std::move(msg), std::move(evidence));
}

bool pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

VirtualDisk open_vhd(ByteSourcePtr file) {
  VirtualDisk out;
  const uint64_t size = file->size();
  if (size < 512) {
    out.findings.push_back(malformed("VHD shorter than its footer"));
    return out;
  }
  // The footer is the last 512 bytes (511 for images made before 2004); a
  // dynamic disk also keeps a copy at offset 0, used when the end is damaged.
  std::string footer = file->read_string(size - 512, 512);
  if (footer.compare(0, 8, "conectix") != 0) {
    std::string alt = file->read_string(size - 511, 511);
    if (alt.compare(0, 8, "conectix") == 0) {
      footer = alt + '\0';
    } else {
      footer = file->read_string(0, 512);
      if (footer.compare(0, 8, "conectix") != 0) {
        out.findings.push_back(malformed("VHD footer not found"));
        return out;
      }
      out.findings.push_back(malformed("VHD footer missing at the end; using the copy at 0"));
    }
  }
  ByteCursor f(footer);
  f.seek(16);
  uint64_t data_offset = f.u64be();
  f.seek(48);
  uint64_t current = f.u64be();
  f.seek(60);
  uint32_t type = f.u32be();
  out.virtual_size = current;
  if (type == 2) {
    out.kind = "fixed";
    uint64_t avail = size - 512;
    if (current > avail) {
      out.findings.push_back(malformed("fixed VHD is truncated",
                                       std::to_string(current) + " bytes declared, " +
                                           std::to_string(avail) + " present"));
    }
    out.disk = slice_source(file, 0, std::min(current, avail));
    return out;
  }
  if (type == 4) {
    out.kind = "differencing";
    out.findings.push_back(make_finding("image.unsupported",
                                        "differencing VHD: its parent disk is not available"));
    return out;
  }
  if (type != 3) {
    out.findings.push_back(malformed("unknown VHD disk type", std::to_string(type)));
    return out;
  }
  out.kind = "dynamic";
  if (data_offset > size - 1024) {
    out.findings.push_back(malformed("VHD dynamic header past the end", std::to_string(data_offset)));
    return out;
  }
  std::string hdr = file->read_string(data_offset, 1024);
  ByteCursor h(hdr);
  if (!h.starts_with("cxsparse")) {
    out.findings.push_back(malformed("VHD dynamic header signature missing"));
    return out;
  }
  h.seek(16);
  uint64_t table = h.u64be();
  h.seek(28);
  uint64_t entries = h.u32be();
  uint64_t block = h.u32be();
  if (!pow2(block) || block < 512 || block > (256u << 20)) {
    out.findings.push_back(malformed("VHD block size out of range", std::to_string(block)));
    return out;
  }
  uint64_t blocks = (current + block - 1) / block;
  if (entries < blocks) {
    out.findings.push_back(malformed("VHD block table shorter than the disk",
                                     std::to_string(entries) + " entries"));
    blocks = entries;
  }
  if (blocks > kMaxBlocks) {
    out.findings.push_back(make_finding("image.unsupported", "VHD has too many blocks to walk",
                                        std::to_string(blocks)));
    return out;
  }
  if (table > size || blocks * 4 > size - table) {
    out.findings.push_back(malformed("VHD block table runs past the end of the file"));
    return out;
  }
  std::string bat = file->read_string(table, blocks * 4);
  // Each block: a sector bitmap (one bit per 512-byte sector, padded to a
  // sector), then the data.
  uint64_t bitmap = ((block / 512 / 8) + 511) / 512 * 512;
  ExtentList list;
  uint64_t past_end = 0;
  ByteCursor b(bat);
  for (uint64_t i = 0; i < blocks; ++i) {
    uint32_t e = b.u32be();
    if (e == 0xFFFFFFFF) {
      list.add_zero(block);
      continue;
    }
    uint64_t at = uint64_t(e) * 512 + bitmap;
    if (at > size || block > size - at) {
      if (++past_end == 1)
        out.findings.push_back(malformed("VHD block table points past the end of the file",
                                         "block " + std::to_string(i) + " at sector " +
                                             std::to_string(e)));
      list.add_zero(block);
      continue;
    }
    list.add(at, block);
  }
  list.truncate(current);
  if (list.size() < current) list.add_zero(current - list.size());
  out.disk = extent_source(file, std::move(list));
  return out;
}

namespace {

// [MS-VHDX] 2.2.2 / 2.2.3 / 2.6.2 identifiers, in their on-disk byte order.
constexpr char kBatGuid[] = "\x66\x77\xC2\x2D\x23\xF6\x00\x42\x9D\x64\x11\x5E\x9B\xFD\x4A\x08";
constexpr char kMetaGuid[] = "\x06\xA2\x7C\x8B\x90\x47\x9A\x4B\xB8\xFE\x57\x5F\x05\x0F\x88\x6E";
constexpr char kFileParams[] = "\x37\x67\xA1\xCA\x36\xFA\x43\x4D\xB3\xB6\x33\xF0\xAA\x44\xE7\x6B";
constexpr char kDiskSize[] = "\x24\x42\xA5\x2F\x1B\xCD\x76\x48\xB2\x11\x5D\xBE\xD8\x3B\xF4\xB8";
constexpr char kSectorSize[] = "\x1D\xBF\x41\x81\x6F\xA9\x09\x47\xBA\x47\xF2\x33\xA8\xFA\xAB\x5F";

bool guid_is(std::string_view g, const char* want) { return g == std::string_view(want, 16); }

// A structure whose CRC-32C covers `len` bytes with its checksum (at 4) zeroed.
bool checksum_ok(std::string s) {
  if (s.size() < 8) return false;
  ByteCursor c(s);
  c.seek(4);
  uint32_t want = c.u32le();
  std::memset(s.data() + 4, 0, 4);
  return crc32c(s) == want;
}

}  // namespace

VirtualDisk open_vhdx(ByteSourcePtr file) {
  VirtualDisk out;
  out.kind = "vhdx";
  const uint64_t size = file->size();
  if (file->read_string(0, 8) != "vhdxfile") {
    out.findings.push_back(malformed("VHDX file identifier missing"));
    return out;
  }
  // 2.2.2: two headers; the valid one with the larger sequence number is current.
  std::string header;
  uint64_t best_seq = 0;
  for (uint64_t off : {uint64_t(64) << 10, uint64_t(128) << 10}) {
    std::string h = file->read_string(off, 4096);
    if (h.size() < 4096 || h.compare(0, 4, "head") != 0 || !checksum_ok(h)) continue;
    ByteCursor c(h);
    c.seek(8);
    uint64_t seq = c.u64le();
    if (header.empty() || seq > best_seq) {
      header = h;
      best_seq = seq;
    }
  }
  if (header.empty()) {
    out.findings.push_back(malformed("no valid VHDX header"));
    return out;
  }
  std::string_view log_guid = std::string_view(header).substr(48, 16);
  if (log_guid.find_first_not_of('\0') != std::string_view::npos) {
    // 2.3: a non-zero LogGuid means log entries may have to be replayed
    // before the BAT and data are current; Windows replays them on mount.
    out.findings.push_back(make_finding("image.unsupported",
                                        "VHDX has a log that was not replayed: what Windows "
                                        "would see may differ from what was read"));
  }
  // 2.2.3: region table at 192 KiB, copy at 256 KiB.
  std::string regions;
  for (uint64_t off : {uint64_t(192) << 10, uint64_t(256) << 10}) {
    std::string r = file->read_string(off, 64 << 10);
    if (r.size() == (64u << 10) && r.compare(0, 4, "regi") == 0 && checksum_ok(r)) {
      regions = r;
      break;
    }
  }
  if (regions.empty()) {
    out.findings.push_back(malformed("no valid VHDX region table"));
    return out;
  }
  ByteCursor rt(regions);
  rt.seek(8);
  uint32_t count = rt.u32le();
  if (count > 2047) {
    out.findings.push_back(malformed("VHDX region table entry count out of range"));
    return out;
  }
  rt.seek(16);
  uint64_t bat_off = 0, bat_len = 0, meta_off = 0, meta_len = 0;
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view guid = rt.bytes(16);
    uint64_t off = rt.u64le();
    uint32_t len = rt.u32le();
    uint32_t required = rt.u32le();
    if (guid_is(guid, kBatGuid)) {
      bat_off = off, bat_len = len;
    } else if (guid_is(guid, kMetaGuid)) {
      meta_off = off, meta_len = len;
    } else if (required & 1) {
      out.findings.push_back(make_finding("image.unsupported", "VHDX requires an unknown region"));
      return out;
    }
  }
  if (bat_len == 0 || meta_len == 0 || bat_off > size || bat_len > size - bat_off ||
      meta_off > size || meta_len > size - meta_off || meta_len > (1u << 20)) {
    out.findings.push_back(malformed("VHDX BAT or metadata region out of range"));
    return out;
  }
  // 2.6: metadata table, then the items it points to.
  std::string meta = file->read_string(meta_off, meta_len);
  ByteCursor mt(meta);
  if (!mt.starts_with("metadata")) {
    out.findings.push_back(malformed("VHDX metadata table signature missing"));
    return out;
  }
  mt.seek(10);
  uint32_t items = mt.u16le();
  if (items > 2047) items = 2047;
  mt.seek(32);
  uint32_t block = 0, sector = 0, flags = 0;
  uint64_t disk_size = 0;
  bool have_block = false, have_size = false, have_sector = false;
  for (uint32_t i = 0; i < items && !mt.failed(); ++i) {
    std::string_view guid = mt.bytes(16);
    uint32_t off = mt.u32le(), len = mt.u32le();
    mt.skip(8);
    if (off > meta.size() || len > meta.size() - off) continue;
    ByteCursor item(std::string_view(meta).substr(off, len));
    if (guid_is(guid, kFileParams) && len >= 8) {
      block = item.u32le();
      flags = item.u32le();
      have_block = true;
    } else if (guid_is(guid, kDiskSize) && len >= 8) {
      disk_size = item.u64le();
      have_size = true;
    } else if (guid_is(guid, kSectorSize) && len >= 4) {
      sector = item.u32le();
      have_sector = true;
    }
  }
  if (!have_block || !have_size || !have_sector) {
    out.findings.push_back(malformed("VHDX metadata incomplete"));
    return out;
  }
  if (flags & 2) {
    out.kind = "differencing";
    out.findings.push_back(make_finding("image.unsupported",
                                        "differencing VHDX: its parent disk is not available"));
    return out;
  }
  // 2.6.2.1: block size 1 MiB..256 MiB, a power of two; sector 512 or 4096.
  if (!pow2(block) || block < (1u << 20) || block > (256u << 20) ||
      (sector != 512 && sector != 4096)) {
    out.findings.push_back(malformed("VHDX block or sector size out of range"));
    return out;
  }
  out.virtual_size = disk_size;
  uint64_t blocks = disk_size / block + (disk_size % block != 0);
  if (blocks > kMaxBlocks) {
    out.findings.push_back(make_finding("image.unsupported", "VHDX has too many blocks to walk"));
    return out;
  }
  // 2.5: a sector bitmap entry follows every chunk_ratio payload entries.
  uint64_t chunk_ratio = (uint64_t(1) << 23) * sector / block;
  uint64_t needed = blocks + (blocks ? (blocks - 1) / chunk_ratio : 0);
  if (needed * 8 > bat_len) {
    out.findings.push_back(malformed("VHDX BAT shorter than the disk"));
    return out;
  }
  std::string bat = file->read_string(bat_off, needed * 8);
  ExtentList list;
  uint64_t bad = 0;
  for (uint64_t i = 0; i < blocks; ++i) {
    uint64_t idx = i + i / chunk_ratio;
    ByteCursor c(std::string_view(bat).substr(idx * 8, 8));
    uint64_t e = c.u64le();
    uint32_t state = e & 7;
    uint64_t at = (e >> 20) << 20;
    if (state == 6) {  // PAYLOAD_BLOCK_FULLY_PRESENT
      if (at > size || block > size - at) {
        if (++bad == 1)
          out.findings.push_back(malformed("VHDX BAT points past the end of the file",
                                           "block " + std::to_string(i)));
        list.add_zero(block);
      } else {
        list.add(at, block);
      }
    } else if (state <= 3) {  // not present, undefined, zero, unmapped: zeros
      list.add_zero(block);
    } else {
      if (++bad == 1)
        out.findings.push_back(malformed("VHDX block state invalid for a disk without parent",
                                         "block " + std::to_string(i) + " state " +
                                             std::to_string(state)));
      list.add_zero(block);
    }
  }
  list.truncate(disk_size);
  out.disk = extent_source(file, std::move(list));
  return out;
}

namespace {

class VirtualDiskUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "virtual-disk"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    VirtualDisk vd = obj.type.label == "vhdx" ? open_vhdx(obj.bytes) : open_vhd(obj.bytes);
    if (!vd.disk && vd.findings.empty())
      vd.findings.push_back(make_finding("image.malformed", "virtual disk could not be opened"));
    for (auto& f : vd.findings) ctx.add_finding(std::move(f));
    if (!vd.disk) return;
    if (looks_executable(*vd.disk))
      ctx.add_finding(make_finding("image.contains_executable",
                                   "the virtual disk starts with executable code"));
    ChildInfo info;
    info.name = "disk";
    info.declared_size = static_cast<int64_t>(vd.disk->size());
    ctx.emit_child(std::move(info), vd.disk);
  }
};

SANDGATE_REGISTER_UNPACKER(VirtualDiskUnpacker, {"vhd", "vhdx"});

}  // namespace
}  // namespace image
}  // namespace sandgate
