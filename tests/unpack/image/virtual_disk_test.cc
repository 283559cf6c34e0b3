// VHD (fixed, dynamic) and VHDX made by qemu-img at test time from a raw
// disk; then block tables pointing past the end, differencing disks.
#include <doctest/doctest.h>

#include "tests/unpack/image/image_test_util.h"
#include "unpack/image/virtual_disk.h"

using namespace sandgate;
using namespace sandgate::image;
using namespace sandgate::test;

namespace {

// A 3 MiB raw disk with recognisable bytes in several blocks.
std::string make_raw(Scratch& s) {
  std::string raw(3u << 20, '\0');
  raw.replace(0, 4096, pattern(4096, 7));
  raw.replace(2u << 20, 100000, pattern(100000, 8));
  spit(s.path("raw.img"), raw);
  return raw;
}

void check_same(const VirtualDisk& vd, const std::string& raw) {
  REQUIRE(vd.disk);
  CHECK(vd.disk->size() >= raw.size());
  CHECK(vd.disk->read_string(0, raw.size()) == raw);
  std::string rest = vd.disk->read_string(raw.size(), 1 << 20);
  CHECK(rest.find_first_not_of('\0') == std::string::npos);
}

}  // namespace

TEST_CASE("fixed, dynamic VHD and VHDX from qemu-img read back as the raw disk") {
  Scratch s;
  std::string raw = make_raw(s);
  sh(s.dir(), "qemu-img convert -f raw -O vpc -o subformat=fixed raw.img fixed.vhd"
              " && qemu-img convert -f raw -O vpc raw.img dyn.vhd"
              " && qemu-img convert -f raw -O vhdx raw.img d.vhdx"
              " && qemu-img convert -f raw -O vhdx -o block_size=1M raw.img small.vhdx");
  std::string err;
  auto fixed = open_vhd(open_file_source(s.path("fixed.vhd"), &err));
  CHECK(fixed.kind == "fixed");
  CHECK(fixed.findings.empty());
  check_same(fixed, raw);
  auto dyn = open_vhd(open_file_source(s.path("dyn.vhd"), &err));
  CHECK(dyn.kind == "dynamic");
  CHECK(dyn.findings.empty());
  check_same(dyn, raw);
  for (const char* name : {"d.vhdx", "small.vhdx"}) {
    CAPTURE(name);
    auto x = open_vhdx(open_file_source(s.path(name), &err));
    CHECK(x.findings.empty());
    CHECK(x.virtual_size == raw.size());
    check_same(x, raw);
  }
}

TEST_CASE("a VHD block table entry past the end is reported and reads as zeros") {
  Scratch s;
  std::string raw = make_raw(s);
  sh(s.dir(), "qemu-img convert -f raw -O vpc raw.img dyn.vhd");
  std::string img = slurp(s.path("dyn.vhd"));
  // Footer copy at 0: data offset (16) -> dynamic header; its table offset at 16.
  uint64_t hdr = 0, table = 0;
  for (int i = 0; i < 8; ++i) hdr = hdr << 8 | uint8_t(img[16 + i]);
  for (int i = 0; i < 8; ++i) table = table << 8 | uint8_t(img[hdr + 16 + i]);
  put_be(img, table, 0x7FFFFFF0, 4);  // block 0 at sector 0x7FFFFFF0: far past the end
  auto vd = open_vhd(memory_source(img));
  REQUIRE(vd.disk);
  CHECK(has_finding(vd.findings, "image.malformed"));
  CHECK(vd.disk->read_string(0, 4096) == std::string(4096, '\0'));
  CHECK(vd.disk->read_string(2u << 20, 100000) == pattern(100000, 8));

  SUBCASE("block table itself beyond the file") {
    put_be(img, hdr + 16, 0x7FFFFFFFFFFFull, 8);
    auto v2 = open_vhd(memory_source(img));
    CHECK_FALSE(v2.disk);
    CHECK(has_finding(v2.findings, "image.malformed"));
  }
  SUBCASE("differencing disk") {
    put_be(img, img.size() - 512 + 60, 4, 4);
    auto v3 = open_vhd(memory_source(img));
    CHECK_FALSE(v3.disk);
    CHECK(has_finding(v3.findings, "image.unsupported"));
  }
  SUBCASE("truncated file") {
    // The footer copy at 0 still opens it; every block lies past the end.
    auto v4 = open_vhd(memory_source(img.substr(0, 3000)));
    CHECK(has_finding(v4.findings, "image.malformed"));
    if (v4.disk) CHECK(v4.disk->read_string(0, 1 << 20) == std::string(1 << 20, '\0'));
    auto v5 = open_vhd(memory_source(img.substr(0, 700)));
    CHECK_FALSE(v5.disk);
    CHECK(has_finding(v5.findings, "image.malformed"));
  }
}

TEST_CASE("a VHDX BAT entry past the end is reported; damaged headers refuse the file") {
  Scratch s;
  std::string raw = make_raw(s);
  sh(s.dir(), "qemu-img convert -f raw -O vhdx -o block_size=1M raw.img d.vhdx");
  std::string img = slurp(s.path("d.vhdx"));
  // Region table at 192 KiB: find the BAT region's file offset.
  size_t rt = 192 << 10;
  uint64_t bat = 0;
  for (int i = 0; i < 2; ++i) {
    size_t e = rt + 16 + 32 * i;
    if (uint8_t(img[e]) == 0x66) {
      for (int k = 7; k >= 0; --k) bat = bat << 8 | uint8_t(img[e + 16 + k]);
    }
  }
  REQUIRE(bat != 0);
  put_le(img, bat, (uint64_t(0xFFFFF) << 20) | 6, 8);  // block 0 present at ~1 TiB
  auto vd = open_vhdx(memory_source(img));
  REQUIRE(vd.disk);
  CHECK(has_finding(vd.findings, "image.malformed"));
  CHECK(vd.disk->read_string(0, 4096) == std::string(4096, '\0'));
  CHECK(vd.disk->read_string(2u << 20, 100000) == pattern(100000, 8));

  std::string broken = img;
  broken[(64 << 10) + 20] ^= 1;
  broken[(128 << 10) + 20] ^= 1;
  auto v2 = open_vhdx(memory_source(broken));
  CHECK_FALSE(v2.disk);
  CHECK(has_finding(v2.findings, "image.malformed"));
}
