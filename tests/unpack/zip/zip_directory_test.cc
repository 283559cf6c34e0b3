// Tests for unpack/zip/zip_directory: zips made by the real `zip` tool at test
// time, and hostile zips built byte by byte with the small writer below.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "unpack/zip/zip_directory.h"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace sandgate {
namespace {

// ---------------------------------------------------------------------------
// Byte helpers and a tiny zip writer (APPNOTE 4.3.7, 4.3.12, 4.3.14-16).

void put16(std::string& s, uint16_t v) {
  s += static_cast<char>(v & 0xff);
  s += static_cast<char>(v >> 8);
}
void put32(std::string& s, uint32_t v) {
  put16(s, static_cast<uint16_t>(v & 0xffff));
  put16(s, static_cast<uint16_t>(v >> 16));
}
void put64(std::string& s, uint64_t v) {
  put32(s, static_cast<uint32_t>(v & 0xffffffffu));
  put32(s, static_cast<uint32_t>(v >> 32));
}

uint32_t crc32_of(std::string_view data) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char ch : data) {
    crc ^= ch;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

// The fields a local header and a central record share.
struct Header {
  std::string name;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint32_t csize = 0;
  uint32_t usize = 0;
  uint32_t offset = 0;  // central only
  std::string extra;
};

struct EndOptions {
  std::optional<uint16_t> entries;
  std::optional<uint32_t> cd_offset;
  std::optional<uint32_t> cd_size;
  std::optional<uint16_t> comment_length;
  std::string comment;
  std::string between_directory_and_end;  // hidden bytes
  bool zip64 = false;                     // write a zip64 end record and locator
  std::optional<uint64_t> zip64_entries;
};

template <typename F>
EndOptions opts(F set) {
  EndOptions o;
  set(o);
  return o;
}

class ZipWriter {
 public:
  std::string bytes;
  std::vector<Header> central;

  void raw(std::string_view data) { bytes += data; }

  // Appends a local header (and nothing else); returns its offset.
  uint32_t local(const Header& h) {
    const uint32_t at = static_cast<uint32_t>(bytes.size());
    put32(bytes, 0x04034b50);
    put16(bytes, 20);
    put16(bytes, h.flags);
    put16(bytes, h.method);
    put16(bytes, 0);
    put16(bytes, 0);
    put32(bytes, h.crc);
    put32(bytes, h.csize);
    put32(bytes, h.usize);
    put16(bytes, static_cast<uint16_t>(h.name.size()));
    put16(bytes, static_cast<uint16_t>(h.extra.size()));
    bytes += h.name;
    bytes += h.extra;
    return at;
  }

  // A well-formed stored entry: local header, data, and its central record.
  Header& stored(const std::string& name, const std::string& data) {
    Header h;
    h.name = name;
    h.crc = crc32_of(data);
    h.csize = h.usize = static_cast<uint32_t>(data.size());
    h.offset = local(h);
    bytes += data;
    central.push_back(h);
    return central.back();
  }

  std::string finish(const EndOptions& opt = {}) {
    const uint64_t cd_offset = bytes.size();
    for (const Header& h : central) {
      put32(bytes, 0x02014b50);
      put16(bytes, 20);
      put16(bytes, 20);
      put16(bytes, h.flags);
      put16(bytes, h.method);
      put16(bytes, 0);
      put16(bytes, 0);
      put32(bytes, h.crc);
      put32(bytes, h.csize);
      put32(bytes, h.usize);
      put16(bytes, static_cast<uint16_t>(h.name.size()));
      put16(bytes, static_cast<uint16_t>(h.extra.size()));
      put16(bytes, 0);  // comment
      put16(bytes, 0);
      put16(bytes, 0);
      put32(bytes, 0);
      put32(bytes, h.offset);
      bytes += h.name;
      bytes += h.extra;
    }
    const uint64_t cd_size = bytes.size() - cd_offset;
    bytes += opt.between_directory_and_end;
    if (opt.zip64) {
      const uint64_t record = bytes.size();
      put32(bytes, 0x06064b50);
      put64(bytes, 44);
      put16(bytes, 45);
      put16(bytes, 45);
      put32(bytes, 0);
      put32(bytes, 0);
      put64(bytes, opt.zip64_entries.value_or(central.size()));
      put64(bytes, opt.zip64_entries.value_or(central.size()));
      put64(bytes, cd_size);
      put64(bytes, cd_offset);
      put32(bytes, 0x07064b50);
      put32(bytes, 0);
      put64(bytes, record);
      put32(bytes, 1);
    }
    put32(bytes, 0x06054b50);
    put16(bytes, 0);
    put16(bytes, 0);
    const uint16_t n = opt.entries.value_or(opt.zip64 ? 0xffff : central.size());
    put16(bytes, n);
    put16(bytes, n);
    put32(bytes, opt.cd_size.value_or(opt.zip64 ? 0xffffffffu : cd_size));
    put32(bytes, opt.cd_offset.value_or(opt.zip64 ? 0xffffffffu : cd_offset));
    put16(bytes, opt.comment_length.value_or(static_cast<uint16_t>(opt.comment.size())));
    bytes += opt.comment;
    return bytes;
  }
};

// ---------------------------------------------------------------------------
// Running the pieces.

struct Result {
  std::optional<ZipDirectory> dir;
  std::vector<Finding> findings;
  std::string error;
};

Result scan(const ByteSource& src, size_t max_entries = 100000) {
  Result r;
  r.dir = read_zip_directory(src, max_entries, &r.error);
  if (r.dir) r.findings = check_zip_structure(src, *r.dir);
  return r;
}

Result scan_bytes(const std::string& bytes, size_t max_entries = 100000) {
  return scan(*memory_source(bytes), max_entries);
}

size_t count(const std::vector<Finding>& fs, std::string_view id) {
  size_t n = 0;
  for (const Finding& f : fs) n += f.id == id;
  return n;
}

const Finding* first(const std::vector<Finding>& fs, std::string_view id) {
  for (const Finding& f : fs)
    if (f.id == id) return &f;
  return nullptr;
}

bool contains(const std::string& hay, std::string_view needle) {
  return hay.find(needle) != std::string::npos;
}

std::string dump(const std::vector<Finding>& fs) {
  std::string out;
  for (const Finding& f : fs) out += f.id + ": " + f.message + " [" + f.evidence + "]\n";
  return out;
}

// A scratch directory for zips made by the real tool; removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sandgate-zip-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  void write(const std::string& name, const std::string& data) const {
    std::filesystem::create_directories((path_ / name).parent_path());
    std::ofstream(file(name), std::ios::binary) << data;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(file(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Runs a shell command inside the directory.
  void run(const std::string& command) const {
    const std::string full = "cd '" + path_.string() + "' && " + command;
    REQUIRE_MESSAGE(std::system(full.c_str()) == 0, full);
  }

 private:
  std::filesystem::path path_;
};

std::string text_of(size_t n) {
  std::string s;
  while (s.size() < n) s += "All work and no play makes Jack a dull boy. ";
  s.resize(n);
  return s;
}

std::string noise_of(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 0x12345678;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

// ---------------------------------------------------------------------------
// Zips made by the real tool.

TEST_CASE("a zip made by zip reads back with its names, sizes and methods and no findings") {
  TempDir t;
  t.write("a.txt", text_of(10000));
  t.write("dir/b.bin", noise_of(3000));
  t.write("empty", "");
  t.run("zip -q -r t.zip a.txt dir empty");
  std::string err;
  auto src = open_file_source(t.file("t.zip"), &err);
  REQUIRE(src);
  Result r = scan(*src);
  REQUIRE(r.dir);
  CHECK_FALSE(r.dir->zip64);
  CHECK_FALSE(r.dir->truncated);
  CHECK(r.dir->declared_entries == 4);
  REQUIRE(r.dir->entries.size() == 4);
  CHECK(r.dir->entries[0].name == "a.txt");
  CHECK(r.dir->entries[0].method == 8);  // deflate
  CHECK(r.dir->entries[0].uncompressed_size == 10000);
  CHECK(r.dir->entries[0].compressed_size < 10000);
  CHECK(r.dir->entries[0].local_header_offset == 0);
  CHECK(r.dir->entries[0].crc32 == crc32_of(text_of(10000)));
  CHECK(r.dir->entries[1].name == "dir/");
  CHECK(r.dir->entries[2].name == "dir/b.bin");
  CHECK(r.dir->entries[2].method == 0);  // noise does not compress: stored
  CHECK(r.dir->entries[2].compressed_size == 3000);
  CHECK(r.dir->entries[3].name == "empty");
  CHECK(r.dir->entries[3].uncompressed_size == 0);
  CHECK(r.dir->eocd_offset + 22 == src->size());
  CHECK_MESSAGE(r.findings.empty(), dump(r.findings));
}

TEST_CASE("zip -fz writes zip64 end records that are followed") {
  TempDir t;
  t.write("a.txt", text_of(5000));
  t.write("b.txt", "short");
  t.run("zip -q -fz t.zip a.txt b.txt");
  std::string err;
  auto src = open_file_source(t.file("t.zip"), &err);
  REQUIRE(src);
  Result r = scan(*src);
  REQUIRE(r.dir);
  CHECK(r.dir->zip64);
  REQUIRE(r.dir->entries.size() == 2);
  CHECK(r.dir->entries[0].name == "a.txt");
  CHECK(r.dir->entries[0].uncompressed_size == 5000);
  CHECK(r.dir->entries[1].name == "b.txt");
  CHECK(r.dir->entries[1].uncompressed_size == 5);
  CHECK(r.dir->entries[1].local_header_offset > 0);
  CHECK_MESSAGE(r.findings.empty(), dump(r.findings));
}

TEST_CASE("a streamed zip with zip64 data descriptors has no findings") {
  TempDir t;
  // Writing to a pipe makes zip stream: bit 3 set, sizes in a data descriptor.
  t.run("printf 'streamed data streamed data' | zip -q - - | cat > s.zip");
  std::string err;
  auto src = open_file_source(t.file("s.zip"), &err);
  REQUIRE(src);
  Result r = scan(*src);
  REQUIRE(r.dir);
  REQUIRE(r.dir->entries.size() == 1);
  CHECK(r.dir->entries[0].name == "-");
  CHECK((r.dir->entries[0].flags & 8) != 0);
  CHECK(r.dir->entries[0].uncompressed_size == 27);
  CHECK_MESSAGE(r.findings.empty(), dump(r.findings));
}

TEST_CASE("a zip with bytes prepended is still read, and the prefix is reported") {
  TempDir t;
  t.write("a.txt", text_of(2000));
  t.write("b.txt", "bee");
  t.run("zip -q t.zip a.txt b.txt");
  const std::string prefix = "MZ" + noise_of(1234);
  t.write("sfx.zip", prefix + t.read("t.zip"));
  std::string err;
  auto plain_src = open_file_source(t.file("t.zip"), &err);
  auto src = open_file_source(t.file("sfx.zip"), &err);
  REQUIRE(plain_src);
  REQUIRE(src);
  Result plain = scan(*plain_src);
  Result r = scan(*src);
  REQUIRE(plain.dir);
  REQUIRE(r.dir);
  REQUIRE(r.dir->entries.size() == 2);
  CHECK(r.dir->entries[0].name == "a.txt");
  CHECK(r.dir->entries[1].name == "b.txt");
  CHECK(r.dir->cd_offset == plain.dir->cd_offset + prefix.size());
  CHECK(r.dir->entries[0].local_header_offset == prefix.size());
  CHECK(r.dir->entries[1].local_header_offset ==
        plain.dir->entries[1].local_header_offset + prefix.size());
  REQUIRE_MESSAGE(r.findings.size() == 1, dump(r.findings));
  CHECK(r.findings[0].id == "archive.zip.hidden_data");
  CHECK(r.findings[0].severity == Severity::medium);
  CHECK(contains(r.findings[0].evidence, "1236 bytes at offset 0"));
}

TEST_CASE("a zip64 zip with bytes prepended is still read") {
  TempDir t;
  t.write("a.txt", text_of(2000));
  t.write("b.txt", "bee");
  t.run("zip -q -fz t.zip a.txt b.txt");
  t.write("sfx.zip", std::string(777, 'p') + t.read("t.zip"));
  std::string err;
  auto src = open_file_source(t.file("sfx.zip"), &err);
  REQUIRE(src);
  Result r = scan(*src);
  REQUIRE(r.dir);
  CHECK(r.dir->zip64);
  REQUIRE(r.dir->entries.size() == 2);
  CHECK(r.dir->entries[0].local_header_offset == 777);
  CHECK(r.dir->entries[1].name == "b.txt");
  REQUIRE_MESSAGE(r.findings.size() == 1, dump(r.findings));
  CHECK(r.findings[0].id == "archive.zip.hidden_data");
  CHECK(contains(r.findings[0].evidence, "777 bytes at offset 0"));
}

TEST_CASE("truncating a real zip at every length never crashes and never looks clean") {
  TempDir t;
  t.write("a.txt", text_of(300));
  t.write("b.txt", "bee");
  t.run("echo 'an archive comment' | zip -q -z t.zip a.txt b.txt");
  const std::string whole = t.read("t.zip");
  REQUIRE(scan_bytes(whole).findings.empty());
  for (size_t len = 0; len < whole.size(); ++len) {
    CAPTURE(len);
    Result r = scan_bytes(whole.substr(0, len));
    if (r.dir)
      CHECK_FALSE(r.findings.empty());
    else
      CHECK_FALSE(r.error.empty());
    // And the same with the front cut off.
    Result s = scan_bytes(whole.substr(whole.size() - len));
    if (s.dir) CHECK_FALSE(s.findings.empty());
  }
}

// ---------------------------------------------------------------------------
// Zips built byte by byte.

TEST_CASE("the test writer makes a clean zip") {
  ZipWriter w;
  w.stored("one.txt", "first");
  w.stored("two.txt", "second entry");
  Result r = scan_bytes(w.finish());
  REQUIRE(r.dir);
  REQUIRE(r.dir->entries.size() == 2);
  CHECK(r.dir->entries[1].name == "two.txt");
  CHECK(r.dir->entries[1].compressed_size == 12);
  CHECK_MESSAGE(r.findings.empty(), dump(r.findings));
}

TEST_CASE("not a zip gives nullopt and a reason") {
  for (const std::string& bytes :
       {std::string(), std::string("PK"), noise_of(100000), std::string(70000, 'P')}) {
    std::string err;
    CHECK_FALSE(read_zip_directory(*memory_source(bytes), 100, &err));
    CHECK_FALSE(err.empty());
  }
}

TEST_CASE("local and central headers that disagree are header_mismatch") {
  struct Case {
    const char* field;
    void (*tamper)(Header&);
  };
  const Case cases[] = {
      {"field name", [](Header& h) { h.name = "invoice.pdf"; }},
      {"field method", [](Header& h) { h.method = 8; }},
      {"field crc32", [](Header& h) { h.crc ^= 1; }},
      {"field compressed size", [](Header& h) { h.csize = 3; }},
      {"field uncompressed size", [](Header& h) { h.usize = 99999; }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.field);
    ZipWriter w;
    w.stored("a.txt", "aaaa");
    // Local header says one thing, the central record another.
    Header local;
    local.name = "evil.exe";
    local.crc = crc32_of("payload");
    local.csize = local.usize = 7;
    Header central = local;
    c.tamper(central);
    central.offset = w.local(local);
    w.raw("payload");
    w.central.push_back(central);
    Result r = scan_bytes(w.finish());
    REQUIRE(r.dir);
    const Finding* f = first(r.findings, "archive.zip.header_mismatch");
    REQUIRE_MESSAGE(f, dump(r.findings));
    CHECK(f->severity == Severity::high);
    CHECK(contains(f->evidence, c.field));
    CHECK(contains(f->evidence, "entry 1"));
    CHECK(count(r.findings, "archive.zip.header_mismatch") == 1);
    CHECK(count(r.findings, "archive.zip.overlap") == 0);
  }
}

TEST_CASE("a data descriptor excuses zero local sizes but not a wrong name") {
  for (bool with_signature : {true, false}) {
    CAPTURE(with_signature);
    ZipWriter w;
    const std::string data = "described later";
    Header h;
    h.name = "d.txt";
    h.flags = 8;
    h.offset = w.local(h);  // crc and sizes zero in the local header
    w.raw(data);
    std::string desc;
    if (with_signature) put32(desc, 0x08074b50);
    put32(desc, crc32_of(data));
    put32(desc, static_cast<uint32_t>(data.size()));
    put32(desc, static_cast<uint32_t>(data.size()));
    w.raw(desc);
    h.crc = crc32_of(data);
    h.csize = h.usize = static_cast<uint32_t>(data.size());
    w.central.push_back(h);
    w.stored("after.txt", "after");
    Result r = scan_bytes(w.finish());
    REQUIRE(r.dir);
    CHECK_MESSAGE(r.findings.empty(), dump(r.findings));
  }
}

TEST_CASE("two central records pointing at one local header overlap") {
  ZipWriter w;
  Header& h = w.stored("kernel", "compressed kernel bytes");
  Header twin = h;
  w.central.push_back(twin);
  Result r = scan_bytes(w.finish());
  REQUIRE(r.dir);
  REQUIRE(r.dir->entries.size() == 2);
  const Finding* f = first(r.findings, "archive.zip.overlap");
  REQUIRE_MESSAGE(f, dump(r.findings));
  CHECK(f->severity == Severity::high);
  CHECK(count(r.findings, "archive.zip.overlap") == 1);
  CHECK(count(r.findings, "archive.zip.hidden_data") == 0);
}

TEST_CASE("an entry whose data covers the next local header overlaps it (Fifield's layout)") {
  ZipWriter w;
  const std::string inner_data = "kernel";
  Header inner;
  inner.name = "B";
  inner.crc = crc32_of(inner_data);
  inner.csize = inner.usize = static_cast<uint32_t>(inner_data.size());
  // Outer entry A whose stored data quotes B's local header and data.
  std::string quoted;
  {
    ZipWriter tmp;
    tmp.local(inner);
    quoted = tmp.bytes + inner_data;
  }
  Header outer;
  outer.name = "A";
  outer.crc = crc32_of(quoted);
  outer.csize = outer.usize = static_cast<uint32_t>(quoted.size());
  outer.offset = w.local(outer);
  inner.offset = static_cast<uint32_t>(w.bytes.size());
  w.raw(quoted);
  w.central.push_back(outer);
  w.central.push_back(inner);
  Result r = scan_bytes(w.finish());
  REQUIRE(r.dir);
  const Finding* f = first(r.findings, "archive.zip.overlap");
  REQUIRE_MESSAGE(f, dump(r.findings));
  CHECK(contains(f->evidence, "'A'"));
  CHECK(contains(f->evidence, "'B'"));
  CHECK(count(r.findings, "archive.zip.header_mismatch") == 0);
}

TEST_CASE("a hundred thousand entries on one local header: few findings, fast") {
  ZipWriter w;
  Header h = w.stored("kernel", text_of(1000));
  for (int i = 0; i < 99999; ++i) w.central.push_back(h);
  const std::string bytes = w.finish(opts([&](EndOptions& o) { o.entries = 0xffff; }));
  const auto start = std::chrono::steady_clock::now();
  Result r = scan_bytes(bytes, 200000);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(r.dir);
  CHECK(r.dir->entries.size() == 100000);
  CHECK(r.findings.size() <= 12);
  // Five listed and one summary with the total.
  CHECK(count(r.findings, "archive.zip.overlap") == 6);
  CHECK(contains(r.findings.back().evidence, "total=99999"));
  CHECK(seconds < 10.0);
}

TEST_CASE("many entries sharing a header with a huge name and extra field stay cheap") {
  ZipWriter w;
  Header h;
  h.name = std::string(65535, 'n');
  h.csize = h.usize = 0xffffffffu;
  h.extra = std::string(65535, '\0');
  h.offset = w.local(h);
  Header c;
  c.name = "short";
  for (int i = 0; i < 50000; ++i) w.central.push_back(c);
  const std::string bytes = w.finish(opts([&](EndOptions& o) { o.entries = 50000 & 0xffff; }));
  const auto start = std::chrono::steady_clock::now();
  Result r = scan_bytes(bytes, 100000);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(r.dir);
  CHECK(r.dir->entries.size() == 50000);
  CHECK(count(r.findings, "archive.zip.header_mismatch") == 6);
  CHECK(count(r.findings, "archive.zip.overlap") == 6);
  CHECK(seconds < 5.0);
}

TEST_CASE("max_entries caps the directory and marks it truncated") {
  ZipWriter w;
  for (int i = 0; i < 50; ++i) w.stored("f" + std::to_string(i), "x");
  Result r = scan_bytes(w.finish(), 10);
  REQUIRE(r.dir);
  CHECK(r.dir->entries.size() == 10);
  CHECK(r.dir->truncated);
  CHECK(r.dir->declared_entries == 50);
  // Entries 10..49 are not described: their bytes show up as unaccounted for.
  CHECK(count(r.findings, "archive.zip.overlap") == 0);
  CHECK(count(r.findings, "archive.zip.header_mismatch") == 0);
}

TEST_CASE("bytes between entries are hidden_data with offset and length") {
  ZipWriter w;
  w.stored("a", "alpha");
  const size_t gap_at = w.bytes.size();
  w.raw("HIDDEN-PAYLOAD");
  w.stored("b", "beta");
  Result r = scan_bytes(w.finish());
  REQUIRE(r.dir);
  REQUIRE_MESSAGE(r.findings.size() == 1, dump(r.findings));
  CHECK(r.findings[0].id == "archive.zip.hidden_data");
  CHECK(r.findings[0].severity == Severity::medium);
  CHECK(contains(r.findings[0].evidence, "14 bytes at offset " + std::to_string(gap_at)));
}

TEST_CASE("bytes between the central directory and the end record are hidden_data") {
  ZipWriter w;
  w.stored("a", "alpha");
  Result r =
      scan_bytes(w.finish(opts([&](EndOptions& o) { o.between_directory_and_end = "smuggled"; })));
  REQUIRE(r.dir);
  CHECK(r.dir->entries.size() == 1);
  REQUIRE_MESSAGE(r.findings.size() == 1, dump(r.findings));
  CHECK(r.findings[0].id == "archive.zip.hidden_data");
  CHECK(contains(r.findings[0].evidence, "8 bytes"));
  CHECK(contains(r.findings[0].evidence, "central directory"));
}

TEST_CASE("bytes after the end record's comment are hidden_data") {
  ZipWriter w;
  w.stored("a", "alpha");
  std::string bytes = w.finish(opts([&](EndOptions& o) { o.comment = "hello"; })) + "trailing";
  Result r = scan_bytes(bytes);
  REQUIRE(r.dir);
  REQUIRE_MESSAGE(r.findings.size() == 1, dump(r.findings));
  CHECK(r.findings[0].id == "archive.zip.hidden_data");
  CHECK(contains(r.findings[0].evidence, "8 bytes at offset " + std::to_string(bytes.size() - 8)));
}

TEST_CASE("a constructed zip64 archive reads its 64-bit fields") {
  ZipWriter w;
  const std::string data = "zip64 data";
  Header h;
  h.name = "big.bin";
  h.crc = crc32_of(data);
  h.csize = h.usize = 0xffffffffu;
  put16(h.extra, 1);
  put16(h.extra, 16);
  put64(h.extra, data.size());
  put64(h.extra, data.size());
  h.offset = w.local(h);
  w.raw(data);
  // Central: offset saturated too, so the extra carries three values.
  Header c = h;
  c.extra.clear();
  put16(c.extra, 1);
  put16(c.extra, 24);
  put64(c.extra, data.size());
  put64(c.extra, data.size());
  put64(c.extra, h.offset);
  c.offset = 0xffffffffu;
  w.central.push_back(c);
  Result r = scan_bytes(w.finish(opts([&](EndOptions& o) { o.zip64 = true; })));
  REQUIRE(r.dir);
  CHECK(r.dir->zip64);
  REQUIRE(r.dir->entries.size() == 1);
  CHECK(r.dir->entries[0].compressed_size == data.size());
  CHECK(r.dir->entries[0].uncompressed_size == data.size());
  CHECK(r.dir->entries[0].local_header_offset == 0);
  CHECK_MESSAGE(r.findings.empty(), dump(r.findings));
}

TEST_CASE("an end record claiming 2^32 entries allocates nothing for them") {
  ZipWriter w;
  w.stored("only", "one");
  Result r = scan_bytes(w.finish(opts([&](EndOptions& o) {
    o.zip64 = true;
    o.zip64_entries = 1ull << 32;
  })));
  REQUIRE(r.dir);
  CHECK(r.dir->declared_entries == (1ull << 32));
  CHECK(r.dir->entries.size() == 1);
  CHECK(r.dir->entries.capacity() <= 1024);
  const Finding* f = first(r.findings, "archive.zip.malformed");
  REQUIRE_MESSAGE(f, dump(r.findings));
  CHECK(contains(f->evidence, "declared 4294967296"));

  ZipWriter w16;
  w16.stored("only", "one");
  Result r16 = scan_bytes(w16.finish(opts([&](EndOptions& o) { o.entries = 0xffff; })));
  REQUIRE(r16.dir);
  CHECK(r16.dir->entries.size() == 1);
  CHECK(count(r16.findings, "archive.zip.malformed") == 1);
}

TEST_CASE("a directory offset beyond the file is malformed") {
  ZipWriter w;
  w.stored("a", "alpha");
  Result r = scan_bytes(w.finish(opts([&](EndOptions& o) { o.cd_offset = 0x7fff0000; })));
  // The directory is found right before the end record, but the offsets it
  // holds cannot be placed: that is malformed.
  REQUIRE(r.dir);
  CHECK(r.dir->entries.size() == 1);
  CHECK_MESSAGE(count(r.findings, "archive.zip.malformed") >= 1, dump(r.findings));
  CHECK(count(r.findings, "archive.zip.overlap") == 0);
  ZipWriter w2;
  w2.stored("a", "alpha");
  Result r2 = scan_bytes(w2.finish(opts([&](EndOptions& o) { o.cd_size = 0x7fff0000; })));
  REQUIRE(r2.dir);
  CHECK_MESSAGE(count(r2.findings, "archive.zip.malformed") >= 1, dump(r2.findings));
  CHECK(count(r2.findings, "archive.zip.overlap") == 0);
}

TEST_CASE("a comment length beyond the file is malformed") {
  ZipWriter w;
  w.stored("a", "alpha");
  Result r = scan_bytes(w.finish(opts([&](EndOptions& o) {
    o.comment_length = 5000;
    o.comment = "short";
  })));
  REQUIRE(r.dir);
  CHECK(r.dir->entries.size() == 1);
  const Finding* f = first(r.findings, "archive.zip.malformed");
  REQUIRE_MESSAGE(f, dump(r.findings));
  CHECK(contains(f->message, "comment"));
}

TEST_CASE("an end record signature inside the comment does not hide the real one") {
  ZipWriter decoy;
  decoy.stored("decoy", "decoy");
  const std::string fake = decoy.finish();
  ZipWriter w;
  w.stored("real.exe", "MZ");
  // The real end record's comment holds a whole fake end record (and more).
  const std::string fake_end = fake.substr(fake.size() - 22);
  Result r = scan_bytes(w.finish(opts([&](EndOptions& o) { o.comment = fake_end + "x"; })));
  REQUIRE(r.dir);
  REQUIRE(r.dir->entries.size() == 1);
  CHECK(r.dir->entries[0].name == "real.exe");
}

TEST_CASE("local headers outside the file or without a signature are malformed") {
  ZipWriter w;
  w.stored("a", "alpha");
  Header ghost;
  ghost.name = "ghost";
  ghost.offset = 0x10000000;
  w.central.push_back(ghost);
  Header bad;
  bad.name = "bad";
  bad.offset = 2;  // inside a's local header
  w.central.push_back(bad);
  Result r = scan_bytes(w.finish());
  REQUIRE(r.dir);
  CHECK_MESSAGE(count(r.findings, "archive.zip.malformed") == 2, dump(r.findings));
  bool outside = false, signature = false;
  for (const Finding& f : r.findings) {
    outside |= contains(f.evidence, "'ghost'") && contains(f.message, "outside");
    signature |= contains(f.evidence, "'bad'") && contains(f.message, "signature");
  }
  CHECK(outside);
  CHECK(signature);
}

TEST_CASE("entry data running past the end of the file is malformed") {
  ZipWriter w;
  Header h;
  h.name = "long";
  h.csize = h.usize = 1000000;
  h.offset = w.local(h);
  w.raw("short");
  w.central.push_back(h);
  Result r = scan_bytes(w.finish());
  REQUIRE(r.dir);
  CHECK_MESSAGE(count(r.findings, "archive.zip.malformed") >= 1, dump(r.findings));
  // It also runs over the central directory.
  CHECK(count(r.findings, "archive.zip.overlap") >= 1);
}

TEST_CASE("names in evidence are escaped and bounded") {
  ZipWriter w;
  Header local;
  local.name = std::string("a\n\x01", 3) + std::string(500, 'z');
  local.offset = w.local(local);
  Header central = local;
  central.name = "b";
  w.central.push_back(central);
  Result r = scan_bytes(w.finish());
  REQUIRE(r.dir);
  const Finding* f = first(r.findings, "archive.zip.header_mismatch");
  REQUIRE(f);
  CHECK(contains(f->evidence, "a\\x0a\\x01zzz"));
  CHECK(f->evidence.size() < 400);
}

TEST_CASE("truncating a constructed zip at every length never crashes") {
  ZipWriter w;
  w.stored("one", "1111");
  Header d;
  d.name = "desc";
  d.flags = 8;
  d.offset = w.local(d);
  w.raw("dd");
  std::string desc;
  put32(desc, 0x08074b50);
  put32(desc, crc32_of("dd"));
  put32(desc, 2);
  put32(desc, 2);
  w.raw(desc);
  d.crc = crc32_of("dd");
  d.csize = d.usize = 2;
  w.central.push_back(d);
  const std::string whole = w.finish(opts([&](EndOptions& o) { o.zip64 = true; }));
  REQUIRE_MESSAGE(scan_bytes(whole).findings.empty(), dump(scan_bytes(whole).findings));
  for (size_t len = 0; len < whole.size(); ++len) {
    CAPTURE(len);
    Result r = scan_bytes(whole.substr(0, len));
    if (r.dir) CHECK_FALSE(r.findings.empty());
    Result s = scan_bytes(whole.substr(whole.size() - len));
    if (s.dir) CHECK_FALSE(s.findings.empty());
  }
}

}  // namespace
}  // namespace sandgate

namespace sandgate {
namespace {

TEST_CASE("a directory capped by max_entries does not report the unread entries as hidden") {
  TempDir dir;
  for (int i = 0; i < 20; ++i) dir.write("f" + std::to_string(i) + ".txt", text_of(100 + i));
  dir.run("zip -q all.zip f*.txt");
  std::string err;
  auto src = open_file_source(dir.file("all.zip"), &err);
  REQUIRE(src);
  auto capped = read_zip_directory(*src, 5, &err);
  REQUIRE(capped);
  CHECK(capped->truncated);
  CHECK(capped->entries.size() == 5);
  for (const auto& f : check_zip_structure(*src, *capped)) CHECK(f.id != "archive.zip.hidden_data");
}

}  // namespace
}  // namespace sandgate
