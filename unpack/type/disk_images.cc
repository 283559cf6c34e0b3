// Disk and file-system images: VHD/VHDX, DMG (UDIF), ISO9660, UDF, HFS+, APFS,
// GPT, FAT, NTFS and MBR. Reads the head, the last 1 KiB, and nothing else
// (the ISO/UDF volume recognition area at 32 KiB lies inside the 64 KiB head).
//
// ISO/UDF bridge images (genisoimage -udf, most DVD authoring tools) carry
// both an ISO9660 primary volume descriptor and a UDF NSR descriptor. We label
// them "iso9660" and keep "udf" for images without an ISO PVD: the ISO side is
// what every archive reader here (libarchive, 7-Zip) opens by default. Caution
// for the disk-image unpacker: Windows mounts the UDF side of a bridge, so the
// two trees can differ; it should read the UDF side too when one is present.
#include "unpack/type/probe.h"

namespace sandgate::type_detail {
namespace {

constexpr uint64_t kVrsStart = 32768;  // ECMA-119 6.2.1 / ECMA-167 2/8.3: system area is 16 x 2 KiB

struct VolumeRecognition {
  bool iso_pvd = false;  // "CD001" with type 1
  bool iso_any = false;  // any "CD001" descriptor
  bool udf = false;      // "BEA01" followed by "NSR02"/"NSR03"
};

// Walks the volume recognition sequence with a 2 KiB and a 4 KiB stride
// (UDF on 4 KiB-sector media), within the head only.
VolumeRecognition read_vrs(std::string_view h) {
  VolumeRecognition v;
  for (size_t stride : {size_t(2048), size_t(4096)}) {
    bool in_bea = false;
    for (size_t off = kVrsStart; off + 6 <= h.size() && off < kVrsStart + 32 * stride;
         off += stride) {
      std::string_view id = h.substr(off + 1, 5);
      uint8_t type = static_cast<uint8_t>(h[off]);
      if (id == "CD001") {
        v.iso_any = true;
        if (type == 1 && stride == 2048) v.iso_pvd = true;
        if (type == 255) continue;  // set terminator; a UDF extended area may follow
      } else if (id == "BEA01") {
        in_bea = true;
      } else if (id == "NSR02" || id == "NSR03") {
        if (in_bea) v.udf = true;
      } else if (id == "TEA01") {
        in_bea = false;
      } else if (id != "BOOT2" && id != "CDW02") {
        break;  // end of the sequence: a descriptor we do not know
      }
    }
  }
  return v;
}

// BIOS parameter block of a FAT boot sector (Microsoft FAT spec, 3.1-3.3).
bool plausible_bpb(std::string_view s) {
  uint8_t j0 = static_cast<uint8_t>(s[0]);
  bool jump = (j0 == 0xEB && static_cast<uint8_t>(s[2]) == 0x90) || j0 == 0xE9;
  uint16_t bytes_per_sector = le16(s, 11);
  uint8_t per_cluster = static_cast<uint8_t>(s[13]);
  uint16_t reserved = le16(s, 14);
  uint8_t fats = static_cast<uint8_t>(s[16]);
  uint8_t media = static_cast<uint8_t>(s[21]);
  bool bps_ok = bytes_per_sector == 512 || bytes_per_sector == 1024 || bytes_per_sector == 2048 ||
                bytes_per_sector == 4096;
  bool spc_ok = per_cluster != 0 && (per_cluster & (per_cluster - 1)) == 0;
  return jump && bps_ok && spc_ok && reserved >= 1 && (fats == 1 || fats == 2) &&
         (media == 0xF0 || media >= 0xF8);
}

// A classic MBR partition table (4 entries at 446): boot flags 0x00/0x80,
// at least one used entry, and every used entry starting inside the image.
bool plausible_mbr(std::string_view s, uint64_t size) {
  int used = 0;
  for (int i = 0; i < 4; ++i) {
    size_t e = 446 + 16 * i;
    uint8_t flag = static_cast<uint8_t>(s[e]), type = static_cast<uint8_t>(s[e + 4]);
    if (flag != 0 && flag != 0x80) return false;
    if (type == 0) continue;
    uint32_t start = le32(s, e + 8), count = le32(s, e + 12);
    if (start == 0 || count == 0 || uint64_t(start) * 512 >= size) return false;
    ++used;
  }
  return used > 0;
}

}  // namespace

std::optional<TypeInfo> detect_disk_trailer(Probe& p) {
  std::string_view h = p.prefix();
  if (bytes_at(h, 0, "vhdxfile")) return make_type("vhdx", "application/x-vhdx");
  // Encrypted disk images (FileVault "encrcdsa" header, v2) and sparse images
  // ("sprs"): still DMGs, so the image reader reports them (image.encrypted,
  // image.unsupported) instead of letting them pass as opaque data.
  if (bytes_at(h, 0, "encrcdsa") || bytes_at(h, 0, "sprs"))
    return make_type("dmg", "application/x-apple-diskimage");
  // VHD spec (Microsoft, 2006) "Hard Disk Footer Format": "conectix" cookie in
  // the last 512 bytes (511 for pre-2004 Virtual PC), copied to offset 0 of
  // dynamic and differencing disks.
  if (bytes_at(h, 0, "conectix") && be32(h, 12) == 0x00010000)
    return make_type("vhd", "application/x-vhd");
  if (p.size() < 512) return std::nullopt;
  std::string_view t = p.tail(512);
  if (bytes_at(t, 0, "conectix") || bytes_at(t, 1, "conectix"))
    return make_type("vhd", "application/x-vhd");
  // UDIF (Apple TN "DMG format", koly block): "koly", version 4, header size 512.
  if (bytes_at(t, 0, "koly") && be32(t, 4) == 4 && be32(t, 8) == 512)
    return make_type("dmg", "application/x-apple-diskimage");
  // Encrypted image, v1: "cdsaencr" in the trailer.
  if (t.size() >= 8 && t.substr(t.size() - 8) == "cdsaencr") return make_type("dmg", "application/x-apple-diskimage");
  return std::nullopt;
}

std::optional<TypeInfo> detect_disk_image(Probe& p) {
  std::string_view h = p.head();
  const uint64_t size = p.size();
  if (h.size() < 512) return std::nullopt;

  if (h.size() > kVrsStart + 6) {
    VolumeRecognition v = read_vrs(h);
    if (v.iso_pvd) return make_type("iso9660", "application/x-iso9660-image");
    if (v.udf) return make_type("udf", "application/x-udf-image");
    if (v.iso_any) return make_type("iso9660", "application/x-iso9660-image");
  }
  // APFS container superblock (Apple File System Reference): "NXSB" at 32.
  if (bytes_at(h, 32, "NXSB")) return make_type("apfs", "application/x-apfs-image");
  // HFS+/HFSX volume header at 1024 (TN1150): signature and version 4/5.
  if ((bytes_at(h, 1024, "H+") && be16(h, 1026) == 4) ||
      (bytes_at(h, 1024, "HX") && be16(h, 1026) == 5))
    return make_type("hfs", "application/x-hfs-image");
  // Apple Partition Map: the first map entry "PM" in block 1 (reserved 0,
  // a plausible entry count), after an optional "ER" driver descriptor.
  if (bytes_at(h, 512, "PM") && be16(h, 514) == 0 && be32(h, 516) >= 1 && be32(h, 516) <= 256)
    return make_type("apm", "application/x-apple-diskimage");
  // GPT header (UEFI 2.x 5.3) at LBA 1 for 512- or 4096-byte sectors.
  if (bytes_at(h, 512, "EFI PART") || bytes_at(h, 4096, "EFI PART"))
    return make_type("gpt", "application/x-raw-disk-image");

  const bool signature =
      static_cast<uint8_t>(h[510]) == 0x55 && static_cast<uint8_t>(h[511]) == 0xAA;
  if (bytes_at(h, 3, "NTFS    ") && signature) return make_type("ntfs", "application/x-ntfs-image");
  if (plausible_bpb(h) && (signature || bytes_at(h, 54, "FAT") || bytes_at(h, 82, "FAT32   ")))
    return make_type("fat", "application/x-fat-image");
  if (signature && plausible_mbr(h, size)) return make_type("mbr", "application/x-raw-disk-image");
  return std::nullopt;
}

}  // namespace sandgate::type_detail
