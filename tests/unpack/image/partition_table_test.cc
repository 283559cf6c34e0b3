// Partition tables: MBR with an extended chain and GPT, made by sfdisk and
// sgdisk at test time, plus hostile tables built byte by byte.
#include <doctest/doctest.h>

#include "tests/unpack/image/image_test_util.h"
#include "unpack/image/partition_table.h"

using namespace sandgate;
using namespace sandgate::image;
using namespace sandgate::test;

TEST_CASE("MBR with primary, extended and logical partitions (sfdisk)") {
  Scratch s;
  sh(s.dir(), "truncate -s 8M d.img && printf 'label: dos\\nd.img1 : start=2048,size=2048,type=c\\n"
              "d.img2 : start=8192,size=8000,type=5\\nd.img5 : size=1024,type=83\\n"
              "d.img6 : size=1024,type=c\\n' | sfdisk -q d.img");
  std::string err;
  auto disk = open_file_source(s.path("d.img"), &err);
  REQUIRE(disk);
  auto scan = read_mbr(*disk);
  CHECK(scan.valid);
  CHECK(scan.findings.empty());
  REQUIRE(scan.partitions.size() == 3);
  CHECK(scan.partitions[0].number == 1);
  CHECK(scan.partitions[0].offset == 2048 * 512);
  CHECK(scan.partitions[0].length == 2048 * 512);
  CHECK(scan.partitions[0].type == "0x0c");
  CHECK(scan.partitions[1].number == 5);
  CHECK(scan.partitions[1].offset == 10240ull * 512);
  CHECK(scan.partitions[1].type == "0x83");
  CHECK(scan.partitions[2].number == 6);
  CHECK(scan.partitions[2].offset == 13312ull * 512);
  CHECK(scan.partitions[2].length == 1024 * 512);
}

TEST_CASE("GPT made by sgdisk, and clipped when the disk is cut short") {
  Scratch s;
  sh(s.dir(), "truncate -s 8M d.img && sgdisk -n 1:2048:+2M -c 1:EFI -n 2:0:0 -t 2:0700 d.img");
  std::string err;
  auto disk = open_file_source(s.path("d.img"), &err);
  REQUIRE(disk);
  auto scan = read_gpt(*disk);
  CHECK(scan.valid);
  CHECK(scan.findings.empty());
  REQUIRE(scan.partitions.size() == 2);
  CHECK(scan.partitions[0].offset == 2048 * 512);
  CHECK(scan.partitions[0].length == 2u << 20);
  CHECK(scan.partitions[0].label == "EFI");
  CHECK(scan.partitions[1].type == "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");
  uint64_t end2 = scan.partitions[1].offset + scan.partitions[1].length;
  CHECK(end2 <= disk->size());

  // Cut in the middle of partition 2: the primary header still reads, the
  // partition is clipped and reported.
  std::string bytes = slurp(s.path("d.img")).substr(0, 5u << 20);
  auto cut = memory_source(bytes);
  auto scan2 = read_gpt(*cut);
  CHECK(scan2.valid);
  REQUIRE(scan2.partitions.size() == 2);
  CHECK(scan2.partitions[1].offset + scan2.partitions[1].length == cut->size());
  CHECK(has_finding(scan2.findings, "image.malformed"));

  // A damaged primary header falls back to the backup at the last LBA.
  std::string broken = slurp(s.path("d.img"));
  broken[512 + 30] ^= 0x55;
  auto scan3 = read_gpt(*memory_source(broken));
  CHECK(scan3.valid);
  CHECK(scan3.partitions.size() == 2);
  CHECK(has_finding(scan3.findings, "image.malformed"));
}

TEST_CASE("MBR extended chain that loops ends with a finding") {
  std::string d(64 * 512, '\0');
  d[510] = char(0x55), d[511] = char(0xAA);
  d[446 + 4] = 0x05;               // extended
  put_le(d, 446 + 8, 4, 4);        // at LBA 4
  put_le(d, 446 + 12, 40, 4);
  size_t ebr = 4 * 512;
  d[ebr + 510] = char(0x55), d[ebr + 511] = char(0xAA);
  d[ebr + 446 + 4] = 0x0c;         // logical at EBR + 2
  put_le(d, ebr + 446 + 8, 2, 4);
  put_le(d, ebr + 446 + 12, 2, 4);
  d[ebr + 462 + 4] = 0x05;         // next EBR at extended base + 4 = LBA 8
  put_le(d, ebr + 462 + 8, 4, 4);
  size_t ebr2 = 8 * 512;
  d[ebr2 + 510] = char(0x55), d[ebr2 + 511] = char(0xAA);
  d[ebr2 + 462 + 4] = 0x05;        // ... whose next EBR is LBA 8 again: a loop
  put_le(d, ebr2 + 462 + 8, 4, 4);
  auto scan = read_mbr(*memory_source(d));
  CHECK(scan.valid);
  CHECK(has_finding(scan.findings, "image.malformed"));
  REQUIRE(scan.partitions.size() == 1);
  CHECK(scan.partitions[0].number == 5);
  CHECK(scan.partitions[0].offset == 6 * 512);
}

TEST_CASE("MBR partition starting past the end is reported, not emitted") {
  std::string d(8 * 512, '\0');
  d[510] = char(0x55), d[511] = char(0xAA);
  d[446 + 4] = 0x0c;
  put_le(d, 446 + 8, 1000000, 4);
  put_le(d, 446 + 12, 10, 4);
  d[462 + 4] = 0x0c;
  put_le(d, 462 + 8, 2, 4);
  put_le(d, 462 + 12, 100, 4);  // runs past the end: clipped
  auto scan = read_mbr(*memory_source(d));
  REQUIRE(scan.partitions.size() == 1);
  CHECK(scan.partitions[0].number == 2);
  CHECK(scan.partitions[0].length == 6 * 512);
  CHECK(scan.findings.size() == 2);
}

TEST_CASE("GPT with an absurd entry count is refused") {
  std::string d(64 * 512, '\0');
  d.replace(512, 8, "EFI PART");
  put_le(d, 512 + 12, 92, 4);
  put_le(d, 512 + 72, 2, 8);
  put_le(d, 512 + 80, 0xFFFFFFFF, 4);
  put_le(d, 512 + 84, 128, 4);
  std::string hdr = d.substr(512, 92);
  // header CRC over the 92 bytes with the CRC field zero
  uint32_t crc = 0xFFFFFFFF;
  for (unsigned char ch : hdr) {
    crc ^= ch;
    for (int k = 0; k < 8; ++k) crc = crc & 1 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
  }
  put_le(d, 512 + 16, ~crc, 4);
  auto scan = read_gpt(*memory_source(d));
  CHECK(scan.partitions.empty());
  CHECK(has_finding(scan.findings, "image.malformed"));
}
