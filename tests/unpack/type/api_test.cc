// The label catalogue API, and detect_type's contract: bounded reads, no
// exception escapes, safe to call from several threads at once.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "tests/unpack/type/type_test_util.h"

namespace sandgate::test {

bool contains(std::span<const std::string_view> list, std::string_view x) {
  return std::find(list.begin(), list.end(), x) != list.end();
}

TEST_CASE("known labels, executables and extensions") {
  auto labels = known_type_labels();
  for (std::string_view l :
       {"pe",   "elf",  "macho", "ole2", "ooxml", "odf", "zip",     "pdf",   "iso9660",
        "udf",  "dmg",  "vhd",   "vhdx", "fat",   "lnk", "onenote", "rtf",   "html",
        "svg",  "xml",  "eml",   "7z",   "rar",   "tar", "gzip",    "bzip2", "xz",
        "zstd", "lz4",  "lzip",  "cab",  "cpio",  "lha", "xar",     "ar",    "script",
        "js",   "vbs",  "ps1",   "bat",  "hta",   "wsf", "png",     "jpeg",  "gif",
        "bmp",  "tiff", "webp",  "ico",  "text",  "data"}) {
    CAPTURE(l);
    CHECK(contains(labels, l));
    CHECK(is_known_type_label(l));
  }
  CHECK_FALSE(is_known_type_label("exe"));
  CHECK_FALSE(is_known_type_label(""));
  // No duplicates.
  std::vector<std::string_view> sorted(labels.begin(), labels.end());
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());

  for (std::string_view l :
       {"pe", "elf", "macho", "script", "js", "vbs", "vbe", "ps1", "bat", "hta", "wsf", "jar"})
    CHECK_MESSAGE(is_executable_label(l), l);
  for (std::string_view l : {"lnk", "pdf", "zip", "ooxml", "text", "data", "html", "nonsense"})
    CHECK_MESSAGE(!is_executable_label(l), l);

  auto pe = extensions_for_label("pe");
  for (std::string_view e : {"exe", "dll", "scr", "com", "cpl", "sys", "ocx"})
    CHECK(contains(pe, e));
  CHECK(contains(extensions_for_label("pdf"), "pdf"));
  CHECK(contains(extensions_for_label("ooxml"), "docm"));
  CHECK(contains(extensions_for_label("zip"), "zip"));
  CHECK_FALSE(contains(extensions_for_label("zip"), "exe"));
  CHECK(extensions_for_label("data").empty());
  CHECK(extensions_for_label("text").empty());
  CHECK(extensions_for_label("xml").empty());            // OOXML parts: .xml, .rels, .vml ...
  CHECK(contains(extensions_for_label("ole2"), "bin"));  // vbaProject.bin, oleObject1.bin
  CHECK(extensions_for_label("no-such-label").empty());
  for (std::string_view l : labels)
    for (std::string_view e : extensions_for_label(l)) {
      CAPTURE(e);
      CHECK(std::none_of(e.begin(), e.end(),
                         [](char c) { return c == '.' || (c >= 'A' && c <= 'Z'); }));
    }
}

// A huge source of a repeating pattern that counts what detection reads.
class CountingSource final : public ByteSource {
 public:
  explicit CountingSource(uint64_t size, char fill) : size_(size), fill_(fill) {}
  uint64_t size() const override { return size_; }
  size_t read_at(uint64_t offset, void* buf, size_t n) const override {
    if (offset >= size_) return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    std::memset(buf, fill_, n);
    bytes_ += n;
    ++calls_;
    return n;
  }
  mutable std::atomic<uint64_t> bytes_{0};
  mutable std::atomic<int> calls_{0};

 private:
  uint64_t size_;
  char fill_;
};

// Speed, for orientation only (no timed assertions): on the 2-core build
// machine under a load average of ~11 (so several times slower than idle),
// a 2 KiB XML part took ~7 us, a 200 KiB one ~27 us, a PNG ~1.5 us, 1 KiB of
// plain text ~13 us, a jar's directory ~47 us; a libmagic fallback on 64 KiB of
// random bytes ~1.8 ms, which is why every common format is decided before it.
TEST_CASE("detect_type reads a bounded amount of a huge source") {
  for (char fill : {'\0', 'a', '\x01', '\xFF'}) {
    CountingSource src(uint64_t(1) << 40, fill);  // 1 TiB
    TypeInfo t = detect_type(src);
    CHECK(is_known_type_label(t.label));
    CHECK(src.bytes_ <= 512 * 1024);
    CHECK(src.calls_ <= 16);
  }
  CountingSource text_src(uint64_t(1) << 30, 'a');
  CHECK(detect_type(text_src).label == "text");
}

class ThrowingSource final : public ByteSource {
 public:
  uint64_t size() const override { return 1 << 20; }
  size_t read_at(uint64_t, void*, size_t) const override {
    throw std::runtime_error("disk on fire");
  }
};

class ShrinkingSource final : public ByteSource {
 public:
  uint64_t size() const override { return 1 << 20; }  // claims 1 MiB, holds 10 bytes
  size_t read_at(uint64_t offset, void* buf, size_t n) const override {
    if (offset >= 10) return 0;
    n = std::min<size_t>(n, 10 - offset);
    std::memset(buf, 'x', n);
    return n;
  }
};

TEST_CASE("detect_type never throws, even when the source does or lies about its size") {
  ThrowingSource throwing;
  TypeInfo t;
  CHECK_NOTHROW(t = detect_type(throwing));
  CHECK(t.label == "data");
  ShrinkingSource shrinking;
  CHECK_NOTHROW(t = detect_type(shrinking));
  CHECK(t.label == "text");
}

TEST_CASE("detect_type from several threads gives the same answers") {
  const std::vector<std::pair<std::string, std::string>> samples = {
      {make_pe(), "pe"},
      {make_zip({{"[Content_Types].xml", "x"}, {"word/document.xml", "x"}}), "ooxml"},
      {"hello\n", "text"},
      {std::string("\x00\x01\x02\x03\xFF\xFE\xFD", 7) + std::string(100, '\x05'),
       "data"},  // libmagic path
      {"<html><body>x</body></html>", "html"},
  };
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int round = 0; round < 50; ++round)
        for (const auto& [bytes, label] : samples) {
          auto src = memory_source(bytes);
          if (detect_type(*src).label != label) ++wrong;
        }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
}

}  // namespace sandgate::test
