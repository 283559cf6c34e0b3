// FAT12/16/32 reader: volumes made by mtools at test time (long names,
// nested directories, hidden files), then corrupted on purpose: looping
// chains, clusters outside the image, truncation.
#include <doctest/doctest.h>

#include <map>

#include "tests/unpack/image/image_test_util.h"
#include "unpack/image/fat_reader.h"

using namespace sandgate;
using namespace sandgate::image;
using namespace sandgate::test;

namespace {

struct Seen {
  std::map<std::string, std::string> files;
  std::map<std::string, bool> hidden;
};

FatWalk walk(ByteSourcePtr v, Seen& seen) {
  return walk_fat(v, [&](FatFile& f) {
    seen.files[f.path] = f.bytes->read_string(0, f.size);
    seen.hidden[f.path] = f.hidden;
    CHECK(f.bytes->size() == f.size);
    return true;
  });
}

// Builds a volume with mtools: `format` is the mformat argument list.
std::string make_volume(Scratch& s, const std::string& size, const std::string& format) {
  spit(s.path("big.bin"), pattern(70000, 1));
  spit(s.path("small.txt"), "hello from a FAT volume\n");
  spit(s.path("hidden.exe"), "MZ hidden payload");
  sh(s.dir(), "rm -f v.img && truncate -s " + size + " v.img && mformat -i v.img " + format + " ::"
              " && mmd -i v.img ::/Documents ::/Documents/Deeper"
              " && mcopy -i v.img big.bin '::/Documents/Deeper/A rather long file name.bin'"
              " && mcopy -i v.img small.txt ::/README.TXT"
              " && mcopy -i v.img hidden.exe ::/Documents/payload.exe"
              " && mattrib -i v.img +h ::/Documents/payload.exe");
  return s.path("v.img");
}

void check_tree(const Seen& seen) {
  CHECK(seen.files.size() == 3);
  CHECK(seen.files.at("Documents/Deeper/A rather long file name.bin") == pattern(70000, 1));
  CHECK(seen.files.at("README.TXT") == "hello from a FAT volume\n");
  CHECK(seen.files.at("Documents/payload.exe") == "MZ hidden payload");
  CHECK(seen.hidden.at("Documents/payload.exe"));
  CHECK_FALSE(seen.hidden.at("README.TXT"));
}

// Offset of the short directory entry whose 11-byte name is `name83`.
size_t find_entry(const std::string& img, const std::string& name83) {
  size_t at = img.find(name83);
  REQUIRE(at != std::string::npos);
  return at;
}

}  // namespace

TEST_CASE("FAT12, FAT16 and FAT32 volumes made by mformat are walked completely") {
  struct Kind {
    const char* size;
    const char* format;
    int bits;
  } kinds[] = {{"1440K", "-f 1440", 12}, {"16M", "-h 4 -s 32 -t 256", 16}, {"40M", "-F", 32}};
  for (const auto& k : kinds) {
    CAPTURE(k.bits);
    Scratch s;
    std::string err;
    auto vol = open_file_source(make_volume(s, k.size, k.format), &err);
    REQUIRE(vol);
    Seen seen;
    FatWalk w = walk(vol, seen);
    CHECK(w.valid);
    CHECK(w.fat_bits == k.bits);
    CHECK(w.findings.empty());
    check_tree(seen);
  }
}

namespace {

// A floppy holding one 70000-byte file BIG.BIN (137 clusters of 512 bytes).
std::string floppy_with_big(Scratch& s, size_t* entry, uint32_t* start) {
  spit(s.path("big.bin"), pattern(70000, 2));
  sh(s.dir(), "truncate -s 1440K f.img && mformat -i f.img -f 1440 :: && mcopy -i f.img big.bin ::/BIG.BIN");
  std::string img = slurp(s.path("f.img"));
  *entry = find_entry(img, "BIG     BIN");
  *start = uint8_t(img[*entry + 26]) | uint32_t(uint8_t(img[*entry + 27])) << 8;
  return img;
}

uint32_t get_fat12(const std::string& img, uint32_t n) {
  size_t off = 512 + n + n / 2;
  uint16_t cur = uint8_t(img[off]) | uint16_t(uint8_t(img[off + 1])) << 8;
  return n & 1 ? cur >> 4 : cur & 0xFFF;
}

void set_fat12(std::string& img, uint32_t n, uint32_t v) {
  for (size_t fat : {size_t(512), size_t(512 + 9 * 512)}) {  // both copies
    size_t off = fat + n + n / 2;
    uint16_t cur = uint8_t(img[off]) | uint16_t(uint8_t(img[off + 1])) << 8;
    cur = n & 1 ? uint16_t((cur & 0x000F) | (v << 4)) : uint16_t((cur & 0xF000) | (v & 0xFFF));
    img[off] = char(cur & 0xFF);
    img[off + 1] = char(cur >> 8);
  }
}

}  // namespace

TEST_CASE("a looping cluster chain is reported and the walk ends") {
  Scratch s;
  size_t entry;
  uint32_t start;
  std::string img = floppy_with_big(s, &entry, &start);
  set_fat12(img, start + 3, start);  // the fourth cluster leads back to the first
  Seen seen;
  FatWalk w = walk(memory_source(img), seen);
  CHECK(w.valid);
  CHECK(has_finding(w.findings, "image.malformed"));
  REQUIRE(seen.files.count("BIG.BIN"));
  CHECK(seen.files["BIG.BIN"] == pattern(70000, 2).substr(0, 4 * 512));
}

TEST_CASE("a directory whose chain loops onto itself ends the walk") {
  Scratch s;
  // 30 entries plus "." and ".." fill two 512-byte clusters exactly.
  sh(s.dir(), "truncate -s 1440K f.img && mformat -i f.img -f 1440 :: && mmd -i f.img ::/LOOP"
              " && for i in $(seq 1 30); do echo $i > F$i.TXT; mcopy -i f.img F$i.TXT ::/LOOP/; done");
  std::string img = slurp(s.path("f.img"));
  size_t e = find_entry(img, "LOOP       ");
  uint32_t c = uint8_t(img[e + 26]) | uint32_t(uint8_t(img[e + 27])) << 8;
  Seen before;
  walk(memory_source(img), before);
  CHECK(before.files.size() == 30);
  // The directory's second cluster leads back to its first.
  uint32_t second = get_fat12(img, c);
  REQUIRE(second >= 2);
  REQUIRE(second < 0xFF0);
  set_fat12(img, second, c);
  Seen seen;
  FatWalk w = walk(memory_source(img), seen);
  CHECK(w.valid);
  CHECK(has_finding(w.findings, "image.malformed"));
  CHECK(seen.files.size() == 30);
}

TEST_CASE("clusters outside the FAT or outside the image are reported") {
  Scratch s;
  size_t entry;
  uint32_t start;
  std::string img = floppy_with_big(s, &entry, &start);
  SUBCASE("start cluster beyond the FAT") {
    put_le(img, entry + 26, 0xF00, 2);
    Seen seen;
    FatWalk w = walk(memory_source(img), seen);
    CHECK(has_finding(w.findings, "image.malformed"));
    CHECK(seen.files["BIG.BIN"].empty());
  }
  SUBCASE("chain running into a free cluster") {
    set_fat12(img, start + 1, 0);
    Seen seen;
    FatWalk w = walk(memory_source(img), seen);
    CHECK(has_finding(w.findings, "image.malformed"));
    CHECK(seen.files["BIG.BIN"] == pattern(70000, 2).substr(0, 2 * 512));
  }
  SUBCASE("image cut inside the file") {
    size_t data = (1 + 18 + 14) * 512;  // reserved + 2 FATs + root directory
    size_t keep = data + (start - 2 + 10) * 512;
    Seen seen;
    FatWalk w = walk(memory_source(img.substr(0, keep)), seen);
    CHECK(w.valid);
    CHECK(has_finding(w.findings, "image.malformed"));
    CHECK(seen.files["BIG.BIN"] == pattern(70000, 2).substr(0, 10 * 512));
  }
  SUBCASE("boot sector garbage") {
    img[11] = 3;  // bytes per sector
    Seen seen;
    FatWalk w = walk(memory_source(img), seen);
    CHECK_FALSE(w.valid);
    CHECK(seen.files.empty());
  }
}
