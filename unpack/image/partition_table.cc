// MBR and GPT partition tables, and the unpacker that opens a partitioned
// raw disk partition by partition. See partition_table.h for the guarantees.
#include "unpack/image/partition_table.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "unpack/cursor.h"
#include "unpack/image/image_common.h"
#include "unpack/unpacker.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"image.malformed", Severity::high,
     "a disk image's structure is inconsistent (out-of-range or looping references, truncation): "
     "parts of it may be hidden from the scan"},
    {"image.contains_executable", Severity::high,
     "a disk image holds an executable or script (mounting it bypasses the Mark-of-the-Web)"},
});

namespace image {
namespace {

constexpr uint64_t kSector = 512;

std::string hex_byte(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", b);
  return buf;
}

std::string guid_text(std::string_view g) {
  ByteCursor c(g);
  uint32_t a = c.u32le();
  uint16_t b = c.u16le(), d = c.u16le();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08X-%04X-%04X-", a, b, d);
  std::string s = buf;
  for (size_t i = 8; i < 16 && i < g.size(); ++i) {
    if (i == 10) s += '-';
    std::snprintf(buf, sizeof buf, "%02X", uint8_t(g[i]));
    s += buf;
  }
  return s;
}

bool is_extended(uint8_t type) { return type == 0x05 || type == 0x0F || type == 0x85; }

// Clips [start_lba, +count) to the disk; false (and a finding) if nothing is left.
bool place(PartitionScan& out, const ByteSource& disk, int number, uint64_t start_lba,
           uint64_t count, uint64_t sector, Partition& p) {
  uint64_t size = disk.size();
  p.number = number;
  if (start_lba == 0 || count == 0) return false;
  if (start_lba > size / sector) {
    out.findings.push_back(make_finding("image.malformed",
                                        "partition " + std::to_string(number) +
                                            " starts past the end of the disk",
                                        "lba " + std::to_string(start_lba)));
    return false;
  }
  p.offset = start_lba * sector;
  uint64_t avail = size - p.offset;
  p.length = count > avail / sector ? avail : count * sector;
  if (count > avail / sector) {
    out.findings.push_back(make_finding("image.malformed",
                                        "partition " + std::to_string(number) +
                                            " extends past the end of the disk",
                                        std::to_string(count) + " sectors declared"));
  }
  return p.length > 0;
}

}  // namespace

PartitionScan read_mbr(const ByteSource& disk) {
  PartitionScan out;
  std::string s = disk.read_string(0, kSector);
  if (s.size() < kSector || uint8_t(s[510]) != 0x55 || uint8_t(s[511]) != 0xAA) return out;
  out.valid = true;
  uint64_t ext_base = 0;
  for (int i = 0; i < 4; ++i) {
    ByteCursor c(std::string_view(s).substr(446 + 16 * i, 16));
    c.skip(4);
    uint8_t type = c.u8();
    c.skip(3);
    uint32_t start = c.u32le(), count = c.u32le();
    if (type == 0) continue;
    if (is_extended(type)) {
      if (ext_base == 0) ext_base = start;
      continue;
    }
    Partition p;
    p.type = hex_byte(type);
    if (place(out, disk, i + 1, start, count, kSector, p)) out.partitions.push_back(p);
  }
  // Extended boot records: entry 1 is a logical partition relative to this
  // EBR, entry 2 links to the next EBR relative to the extended partition.
  std::set<uint64_t> seen;
  uint64_t ebr = ext_base;
  int number = 5;
  while (ebr != 0) {
    if (number - 5 >= kMaxLogical) {
      out.findings.push_back(make_finding("image.malformed", "too many logical partitions"));
      break;
    }
    if (!seen.insert(ebr).second) {
      out.findings.push_back(make_finding("image.malformed", "extended partition chain loops",
                                          "lba " + std::to_string(ebr)));
      break;
    }
    if (ebr > disk.size() / kSector) {
      out.findings.push_back(make_finding("image.malformed", "extended boot record past the end",
                                          "lba " + std::to_string(ebr)));
      break;
    }
    std::string e = disk.read_string(ebr * kSector, kSector);
    if (e.size() < kSector || uint8_t(e[510]) != 0x55 || uint8_t(e[511]) != 0xAA) {
      out.findings.push_back(make_finding("image.malformed", "extended boot record unreadable",
                                          "lba " + std::to_string(ebr)));
      break;
    }
    ByteCursor c(std::string_view(e).substr(446, 32));
    c.skip(4);
    uint8_t type = c.u8();
    c.skip(3);
    uint32_t start = c.u32le(), count = c.u32le();
    c.skip(4);
    uint8_t next_type = c.u8();
    c.skip(3);
    uint32_t next = c.u32le();
    if (type != 0 && !is_extended(type)) {
      Partition p;
      p.type = hex_byte(type);
      if (place(out, disk, number, ebr + start, count, kSector, p)) out.partitions.push_back(p);
    }
    ++number;
    ebr = (next_type != 0 && next != 0) ? ext_base + next : 0;
  }
  return out;
}

namespace {

// Reads one GPT header at `lba`; fills out on success.
bool read_gpt_at(const ByteSource& disk, uint64_t lba, uint64_t sector, PartitionScan& out) {
  if (lba > disk.size() / sector) return false;
  std::string h = disk.read_string(lba * sector, sector);
  ByteCursor c(h);
  if (!c.starts_with("EFI PART")) return false;
  c.skip(12);
  uint32_t header_size = c.u32le();
  uint32_t header_crc = c.u32le();
  if (header_size < 92 || header_size > h.size()) {
    out.findings.push_back(make_finding("image.malformed", "GPT header size out of range",
                                        std::to_string(header_size)));
    return false;
  }
  std::string copy = h.substr(0, header_size);
  for (int i = 16; i < 20; ++i) copy[i] = 0;
  if (crc32_ieee(copy) != header_crc) {
    out.findings.push_back(make_finding("image.malformed", "GPT header checksum mismatch",
                                        "lba " + std::to_string(lba)));
    return false;
  }
  c.seek(72);
  uint64_t entries_lba = c.u64le();
  uint32_t count = c.u32le(), entry_size = c.u32le(), entries_crc = c.u32le();
  if (entry_size < 128 || entry_size > 4096 || entry_size % 8 != 0 || count > kMaxGptEntries) {
    out.findings.push_back(make_finding("image.malformed", "GPT entry array out of range",
                                        std::to_string(count) + " x " + std::to_string(entry_size)));
    return false;
  }
  if (entries_lba > disk.size() / sector) {
    out.findings.push_back(make_finding("image.malformed", "GPT entry array past the end"));
    return false;
  }
  std::string table = disk.read_string(entries_lba * sector, size_t(count) * entry_size);
  if (table.size() < size_t(count) * entry_size) {
    out.findings.push_back(make_finding("image.malformed", "GPT entry array truncated"));
  } else if (crc32_ieee(table) != entries_crc) {
    out.findings.push_back(make_finding("image.malformed", "GPT entry array checksum mismatch"));
  }
  out.valid = true;
  for (uint32_t i = 0; i < count && size_t(i + 1) * entry_size <= table.size(); ++i) {
    ByteCursor e(std::string_view(table).substr(size_t(i) * entry_size, entry_size));
    std::string_view type = e.bytes(16);
    if (type.find_first_not_of('\0') == std::string_view::npos) continue;
    e.skip(16);
    uint64_t first = e.u64le(), last = e.u64le();
    e.skip(8);
    Partition p;
    p.type = guid_text(type);
    append_utf16le(p.label, e.bytes(72), true);
    int number = static_cast<int>(i) + 1;
    if (last < first) {
      out.findings.push_back(make_finding("image.malformed",
                                          "GPT partition " + std::to_string(number) +
                                              " ends before it starts"));
      continue;
    }
    if (place(out, disk, number, first, last - first + 1, sector, p)) out.partitions.push_back(p);
  }
  return true;
}

}  // namespace

PartitionScan read_gpt(const ByteSource& disk) {
  for (uint64_t sector : {uint64_t(512), uint64_t(4096)}) {
    PartitionScan out;
    if (read_gpt_at(disk, 1, sector, out)) return out;
    if (!out.findings.empty()) {
      // Primary damaged: UEFI 5.3.2 says use the backup header at the last LBA.
      PartitionScan backup;
      uint64_t last = disk.size() / sector;
      if (last > 0 && read_gpt_at(disk, last - 1, sector, backup)) {
        backup.findings.insert(backup.findings.begin(), out.findings.begin(), out.findings.end());
        return backup;
      }
      out.findings.insert(out.findings.end(), backup.findings.begin(), backup.findings.end());
      return out;
    }
  }
  return {};
}

PartitionScan read_apm(const ByteSource& disk) {
  PartitionScan out;
  uint64_t block = kSector;
  std::string b0 = disk.read_string(0, kSector);
  ByteCursor d(b0);
  if (d.starts_with("ER")) {
    d.seek(2);
    uint16_t bs = d.u16be();
    // Block sizes are powers of two from 512 to 4096; anything else is a
    // damaged descriptor, and 512 is what the map then uses.
    if (bs == 512 || bs == 1024 || bs == 2048 || bs == 4096) block = bs;
    else out.findings.push_back(make_finding("image.malformed", "APM driver descriptor block size is invalid",
                                             std::to_string(bs)));
  }
  uint32_t count = 1;
  for (uint32_t i = 1; i <= count && i <= kMaxApmEntries; ++i) {
    if (i > disk.size() / block) {
      out.findings.push_back(make_finding("image.malformed", "APM map runs past the end of the disk",
                                          "entry " + std::to_string(i)));
      break;
    }
    std::string e = disk.read_string(i * block, 512);
    ByteCursor c(e);
    if (!c.starts_with("PM")) {
      if (i == 1) return out;  // not an APM disk
      out.findings.push_back(make_finding("image.malformed", "APM entry without its PM signature",
                                          "entry " + std::to_string(i)));
      break;
    }
    out.valid = true;
    c.seek(4);
    uint32_t map_blocks = c.u32be();
    uint32_t start = c.u32be();
    uint32_t blocks = c.u32be();
    if (i == 1) {
      count = map_blocks;
      if (count > kMaxApmEntries)
        out.findings.push_back(make_finding("image.malformed", "APM declares more entries than allowed",
                                            std::to_string(count)));
    }
    c.seek(48);
    std::string_view type_raw = c.bytes(32);
    std::string type(type_raw.substr(0, type_raw.find('\0')));
    if (type == "Apple_partition_map" || type == "Apple_Free" || type == "Apple_Void") continue;
    Partition p;
    c.seek(16);
    std::string_view name_raw = c.bytes(32);
    p.label = std::string(name_raw.substr(0, name_raw.find('\0')));
    p.type = type;
    if (place(out, disk, static_cast<int>(i), start, blocks, block, p)) out.partitions.push_back(p);
  }
  return out;
}

namespace {

class PartitionUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "partition-table"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    PartitionScan scan;
    if (obj.type.label == "gpt") scan = read_gpt(*obj.bytes);
    if (obj.type.label == "apm") scan = read_apm(*obj.bytes);
    if (!scan.valid && obj.type.label != "apm") {
      for (auto& f : scan.findings) ctx.add_finding(std::move(f));
      scan = read_mbr(*obj.bytes);
      // A protective 0xEE entry is the GPT we could not read, not a partition.
      std::erase_if(scan.partitions, [](const Partition& p) { return p.type == "0xee"; });
    }
    for (auto& f : scan.findings) ctx.add_finding(std::move(f));
    if (!scan.valid) {
      ctx.add_finding(make_finding("image.malformed", "no readable partition table"));
      return;
    }
    bool exec_noted = false;
    for (const auto& p : scan.partitions) {
      if (ctx.should_stop()) return;
      ChildInfo info;
      info.name = "partition" + std::to_string(p.number);
      info.declared_size = static_cast<int64_t>(p.length);
      auto window = slice_source(obj.bytes, p.offset, p.length);
      if (!exec_noted && looks_executable(*window)) {
        exec_noted = true;
        ctx.add_finding(make_finding("image.contains_executable",
                                     "a partition starts with executable code", info.name));
      }
      if (!ctx.emit_child(std::move(info), std::move(window))) return;
    }
  }
};

SANDGATE_REGISTER_UNPACKER(PartitionUnpacker, {"mbr", "gpt", "apm"});

}  // namespace
}  // namespace image
}  // namespace sandgate
