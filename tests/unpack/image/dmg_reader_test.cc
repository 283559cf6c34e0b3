// DMG (UDIF): images from the test UDIF writer around a FAT volume made by
// mtools, with every chunk kind we decode; then broken ones.
#include <doctest/doctest.h>

#include "tests/unpack/image/udif_writer.h"
#include "unpack/image/dmg_reader.h"

using namespace sandgate;
using namespace sandgate::image;
using namespace sandgate::test;

namespace {

std::string fat_disk(Scratch& s) {
  spit(s.path("a.bin"), pattern(300000, 3));
  sh(s.dir(), "truncate -s 1440K f.img && mformat -i f.img -f 1440 :: && mcopy -i f.img a.bin ::/A.BIN");
  return slurp(s.path("f.img"));
}

uint32_t mixed(size_t i, const std::string& piece) {
  if (piece.find_first_not_of('\0') == std::string::npos) return kUdifZero;
  const uint32_t kinds[] = {kUdifZlib, kUdifRaw, kUdifBzip2, kUdifAdc};
  return kinds[i % 4];
}

std::string decode(const std::string& dmg, DmgLayout* layout_out, std::vector<Finding>* findings) {
  auto src = memory_source(dmg);
  DmgLayout layout = read_dmg_layout(*src);
  std::string out;
  *findings = layout.findings;
  if (layout.valid)
    decode_dmg(*src, layout, [&](const char* p, size_t n) { out.append(p, n); return true; }, *findings);
  *layout_out = layout;
  return out;
}

}  // namespace

TEST_CASE("a UDIF image with zero, zlib, raw, bzip2 and ADC chunks decodes to the disk") {
  Scratch s;
  std::string disk = fat_disk(s);
  DmgLayout layout;
  std::vector<Finding> findings;
  std::string out = decode(make_udif(disk, mixed), &layout, &findings);
  CHECK(layout.valid);
  CHECK(findings.empty());
  CHECK(out.size() == disk.size());
  CHECK(out == disk);
  bool kinds[5] = {};
  for (const auto& c : layout.chunks) {
    if (c.type == kUdifZero) kinds[0] = true;
    if (c.type == kUdifZlib) kinds[1] = true;
    if (c.type == kUdifRaw) kinds[2] = true;
    if (c.type == kUdifBzip2) kinds[3] = true;
    if (c.type == kUdifAdc) kinds[4] = true;
  }
  for (bool k : kinds) CHECK(k);
}

TEST_CASE("ADC back references, including overlapping copies") {
  std::string out;
  // literal "abc", then 6 bytes from distance 3 (two-byte code), then
  // 4 bytes from distance 1 (three-byte code).
  std::string in = std::string("\x82" "abc", 4) + std::string("\x0C\x02", 2) +
                   std::string("\x40\x00\x00", 3);
  CHECK(adc_decode(in, out, 1000));
  CHECK(out == "abcabcabccccc");
  std::string bad;
  CHECK_FALSE(adc_decode(std::string("\x0C\x05", 2), bad, 1000));  // reference before the start
  std::string capped;
  CHECK_FALSE(adc_decode(in, capped, 5));
}

TEST_CASE("LZFSE chunks are reported and read as zeros (fail closed)") {
  Scratch s;
  std::string disk = fat_disk(s);
  DmgLayout layout;
  std::vector<Finding> findings;
  std::string out = decode(make_udif(disk, [](size_t i, const std::string& p) {
                             return i == 2 ? kUdifLzfse : mixed(i, p);
                           }), &layout, &findings);
  CHECK(has_finding(findings, "image.unsupported_compression"));
  REQUIRE(out.size() == disk.size());
  CHECK(out.substr(2 * 65536, 65536) == std::string(65536, '\0'));
  CHECK(out.substr(0, 2 * 65536) == disk.substr(0, 2 * 65536));
}

TEST_CASE("broken UDIF images give findings, never a crash") {
  Scratch s;
  std::string disk = fat_disk(s);
  std::string dmg = make_udif(disk, [](size_t, const std::string&) { return kUdifZlib; });
  DmgLayout layout;
  std::vector<Finding> findings;

  SUBCASE("truncated: trailer gone") {
    decode(dmg.substr(0, dmg.size() / 2), &layout, &findings);
    CHECK_FALSE(layout.valid);
    CHECK(has_finding(findings, "image.malformed"));
  }
  SUBCASE("a chunk's compressed bytes damaged") {
    std::string bad = dmg;
    for (size_t i = 100; i < 400; ++i) bad[i] = char(0xAA);
    std::string out = decode(bad, &layout, &findings);
    CHECK(has_finding(findings, "image.malformed"));
    CHECK(out.size() == disk.size());
  }
  SUBCASE("a chunk pointing past the end of the file") {
    size_t xml = dmg.find("<?xml");
    REQUIRE(xml != std::string::npos);
    // Rebuild with the first chunk's offset moved far away.
    std::string koly = dmg.substr(dmg.size() - 512);
    std::string plist = dmg.substr(xml, dmg.size() - 512 - xml);
    size_t d0 = plist.find("<data>") + 6, d1 = plist.find("</data>");
    std::string b64 = plist.substr(d0, d1 - d0);
    // decode, patch, re-encode the mish table
    auto src = memory_source(dmg);
    std::string raw;
    {
      uint32_t acc = 0;
      int bits = 0;
      for (char ch : b64) {
        const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char* p = ch ? std::strchr(t, ch) : nullptr;
        if (!p) continue;
        acc = acc << 6 | uint32_t(p - t);
        bits += 6;
        if (bits >= 8) bits -= 8, raw.push_back(char((acc >> bits) & 0xFF));
      }
    }
    put_be(raw, 204 + 24, 1ull << 40, 8);
    std::string patched = plist.substr(0, d0) + base64(raw) + plist.substr(d1);
    std::string prefix = dmg.substr(0, xml);
    put_be(koly, 224, patched.size(), 8);
    std::string out = decode(prefix + patched + koly, &layout, &findings);
    CHECK(layout.valid);
    CHECK(has_finding(findings, "image.malformed"));
    CHECK(out.size() == disk.size());
    CHECK(out.substr(0, 65536) == std::string(65536, '\0'));
  }
  SUBCASE("plist that is not XML") {
    size_t xml = dmg.find("<?xml");
    std::string bad = dmg;
    bad.replace(xml, 5, "<<<<<");
    decode(bad, &layout, &findings);
    CHECK_FALSE(layout.valid);
    CHECK(has_finding(findings, "image.malformed"));
  }
  SUBCASE("encrypted image") {
    decode("encrcdsa" + std::string(2000, 'x'), &layout, &findings);
    CHECK_FALSE(layout.valid);
    CHECK(has_finding(findings, "image.encrypted"));
  }
}
