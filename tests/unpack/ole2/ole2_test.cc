// Tests for unpack/ole2 (compound file reader, MS-OVBA, Ole10Native/OLE1,
// the OLE2 unpacker) and unpack/rtf (object scanner, RTF unpacker), on files
// built by the writer in cfb_writer.h, hostile variants of them, and the
// oletools corpus when ../shared/testdata is present. The robustness case at
// the end truncates and bit-flips every fixture in-process so ASan sees it.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/unpack/ole2/cfb_writer.h"
#include "unpack/ole2/cfb.h"
#include "unpack/ole2/ole_native.h"
#include "unpack/ole2/vba_project.h"
#include "unpack/rtf/rtf_objects.h"
#include "unpack/unpacker.h"

namespace sandgate {
namespace {

using testing::CfbWriter;

// Collects children and findings the way the engine would, without typing them.
class FakeContext final : public UnpackContext {
 public:
  struct Child {
    std::string name;
    std::string bytes;
    std::vector<Finding> findings;
  };
  std::vector<Child> children;
  std::vector<Finding> findings;
  Limits lim;

  class Writer final : public ChildWriter {
   public:
    Writer(FakeContext& ctx, std::string name) : ctx_(ctx) { child_.name = std::move(name); }
    bool write(const void* data, size_t n) override {
      if (child_.bytes.size() + n > ctx_.lim.max_object_bytes) return false;
      child_.bytes.append(static_cast<const char*>(data), n);
      return true;
    }
    void add_finding(Finding f) override { child_.findings.push_back(std::move(f)); }
    void finish() override { ctx_.children.push_back(std::move(child_)); }

   private:
    FakeContext& ctx_;
    Child child_;
  };

  std::unique_ptr<ChildWriter> begin_child(ChildInfo info) override {
    if (children.size() >= 1000) return nullptr;
    return std::make_unique<Writer>(*this, info.name);
  }
  bool emit_child(ChildInfo info, ByteSourcePtr bytes) override {
    auto w = begin_child(std::move(info));
    if (!w) return false;
    std::string b = bytes->read_string(0, static_cast<size_t>(bytes->size()));
    w->write(b.data(), b.size());
    w->finish();
    return true;
  }
  void add_finding(Finding f) override { findings.push_back(std::move(f)); }
  bool should_stop() const override { return false; }
  const Limits& limits() const override { return lim; }
  bool account_output(uint64_t) override { return true; }

  bool has_finding(std::string_view id) const {
    for (const auto& f : findings)
      if (f.id == id) return true;
    return false;
  }
};

FakeContext run_unpacker(std::string_view label, const std::string& bytes) {
  FakeContext ctx;
  Object obj;
  obj.type.label = std::string(label);
  obj.bytes = memory_source(bytes);
  obj.size = bytes.size();
  auto u = UnpackerRegistry::instance().create(label);
  REQUIRE(u);
  u->unpack(obj, ctx);
  return ctx;
}

std::string big_text(size_t n) {
  std::string s;
  for (size_t i = 0; s.size() < n; ++i) s += "line " + std::to_string(i) + " of a long stream\n";
  s.resize(n);
  return s;
}

std::string simple_cfb() {
  CfbWriter w;
  w.add_stream("small", "hello compound world");
  w.add_stream("Dir1/big", big_text(10000));
  w.add_stream("Dir1/Sub/tiny", "x");
  return w.build();
}

std::string hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

// ---------------------------------------------------------------------------
TEST_CASE("cfb: reads mini and regular streams through the directory tree") {
  std::string error;
  auto f = cfb::CompoundFile::open(memory_source(simple_cfb()), &error);
  REQUIRE_MESSAGE(f, error);
  CHECK(f->problems().empty());
  int small = f->find_child(0, "SMALL");  // case-insensitive
  REQUIRE(small > 0);
  CHECK(f->read_stream(f->entries()[small], 1 << 20) == "hello compound world");
  int dir1 = f->find_child(0, "Dir1");
  REQUIRE(dir1 > 0);
  CHECK(f->entries()[dir1].is_storage());
  int big = f->find_child(dir1, "big");
  REQUIRE(big > 0);
  CHECK(f->entries()[big].path == "Dir1/big");
  bool complete = false;
  CHECK(f->read_stream(f->entries()[big], 1 << 20, &complete) == big_text(10000));
  CHECK(complete);
  // Cut by max_bytes: incomplete, exactly max bytes.
  CHECK(f->read_stream(f->entries()[big], 100, &complete).size() == 100);
  CHECK_FALSE(complete);
  int sub = f->find_child(dir1, "Sub");
  REQUIRE(sub > 0);
  CHECK(f->entries()[f->find_child(sub, "tiny")].path == "Dir1/Sub/tiny");
}

TEST_CASE("cfb: refuses what is not a compound file") {
  std::string error;
  CHECK_FALSE(cfb::CompoundFile::open(memory_source("not a cfb"), &error));
  CHECK_FALSE(error.empty());
  std::string bad = simple_cfb();
  bad[0x1E] = 7;  // sector shift
  CHECK_FALSE(cfb::CompoundFile::open(memory_source(bad), &error));
}

// Finds the FAT sector of a file written by CfbWriter (the first DIFAT slot).
uint32_t first_fat_sector(const std::string& f) {
  return uint32_t(uint8_t(f[0x4C])) | uint32_t(uint8_t(f[0x4D])) << 8;
}

TEST_CASE("cfb: a FAT chain that loops stops instead of spinning") {
  std::string f = simple_cfb();
  std::string error;
  auto ok = cfb::CompoundFile::open(memory_source(f), &error);
  REQUIRE(ok);
  const auto& big = ok->entries()[ok->find_child(ok->find_child(0, "Dir1"), "big")];
  // Point the big stream's second sector back to its first.
  size_t fat_at = (size_t(first_fat_sector(f)) + 1) * 512;
  testing::set32(f, fat_at + 4 * (big.start + 1), big.start);
  auto looped = cfb::CompoundFile::open(memory_source(f), &error);
  REQUIRE(looped);
  const auto& e = looped->entries()[looped->find_child(looped->find_child(0, "Dir1"), "big")];
  bool complete = true;
  std::string got = looped->read_stream(e, 1 << 20, &complete);
  CHECK_FALSE(complete);
  CHECK(got.size() == 1024);  // two sectors, then the loop is seen
}

TEST_CASE("cfb: a directory tree that loops or points outside is reported, not followed") {
  std::string f = simple_cfb();
  std::string error;
  auto good = cfb::CompoundFile::open(memory_source(f), &error);
  REQUIRE(good);
  // Find the directory: the root entry's name "R\0o\0o\0t".
  size_t root = f.find(std::string("R\0o\0o\0t", 7));
  REQUIRE(root != std::string::npos);
  // Make entry 1's right sibling the root's child (entry 1 itself) -> loop;
  // and its left sibling a huge id.
  size_t e1 = root + 128;
  testing::set32(f, e1 + 0x48, 1);
  testing::set32(f, e1 + 0x44, 0x7FFFFFF0);
  auto bad = cfb::CompoundFile::open(memory_source(f), &error);
  REQUIRE(bad);
  CHECK_FALSE(bad->problems().empty());
}

TEST_CASE("cfb: header claims beyond the file are clamped") {
  std::string f = simple_cfb();
  testing::set32(f, 0x2C, 0xFFFFFFF0);  // number of FAT sectors
  testing::set32(f, 0x44, 0x00001000);  // first DIFAT sector, outside the file
  testing::set32(f, 0x48, 0xFFFFFFFF);
  std::string error;
  auto c = cfb::CompoundFile::open(memory_source(f), &error);
  REQUIRE(c);
  CHECK_FALSE(c->problems().empty());
  CHECK(c->read_stream(c->entries()[c->find_child(0, "small")], 100) == "hello compound world");
}

// ---------------------------------------------------------------------------
TEST_CASE("ovba: the MS-OVBA 3.2 example with copy tokens") {
  // [MS-OVBA] 3.2.3 "Compressed Container" example.
  const unsigned char c[] = {0x01, 0x2F, 0xB0, 0x00, 0x23, 0x61, 0x61, 0x61, 0x62, 0x63, 0x64,
                             0x65, 0x82, 0x66, 0x00, 0x70, 0x61, 0x67, 0x68, 0x69, 0x6A, 0x01,
                             0x38, 0x08, 0x61, 0x6B, 0x6C, 0x00, 0x30, 0x6D, 0x6E, 0x6F, 0x70,
                             0x06, 0x71, 0x02, 0x70, 0x04, 0x10, 0x72, 0x73, 0x74, 0x75, 0x76,
                             0x10, 0x77, 0x78, 0x79, 0x7A, 0x00, 0x3C};
  std::string out;
  CHECK(ovba::decompress(std::string_view(reinterpret_cast<const char*>(c), sizeof c), 1 << 20, &out));
  CHECK(out == "#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa");
}

TEST_CASE("ovba: literal and raw chunks round-trip, output is capped") {
  std::string text = big_text(9000);
  std::string out;
  CHECK(ovba::decompress(testing::ovba_compress(text), 1 << 20, &out));
  CHECK(out == text);
  out.clear();
  bool truncated = false;
  CHECK(ovba::decompress(testing::ovba_compress(text), 5000, &out, &truncated));
  CHECK(truncated);
  CHECK(out.size() == 5000);
}

TEST_CASE("ovba: malformed containers are refused without reading out of bounds") {
  std::string out;
  CHECK_FALSE(ovba::decompress("", 100, &out));
  CHECK_FALSE(ovba::decompress("\x02" "abc", 100, &out));
  // A copy token as the very first token: nothing to copy from.
  std::string first_copy("\x01\x03\xB0\x01\x00\x00", 6);
  out.clear();
  CHECK_FALSE(ovba::decompress(first_copy, 100, &out));
  // Offset reaching before the chunk start: "a" then copy with offset 16.
  std::string far("\x01\x04\xB0\x02" "a" "\x00\xF0", 7);
  out.clear();
  CHECK_FALSE(ovba::decompress(far, 100, &out));
  CHECK(out == "a");
}

TEST_CASE("ovba: a VBA project's modules come back by name with their source") {
  CfbWriter w;
  testing::add_vba_project(w, "Macros",
                           {{"ThisDocument", "Attribute VB_Name = \"ThisDocument\"\r\nSub AutoOpen()\r\nEnd Sub\r\n"},
                            {"Module1", "Attribute VB_Name = \"Module1\"\r\n" + big_text(6000)}});
  w.add_stream("WordDocument", std::string(600, 'w'));
  std::string error;
  auto f = cfb::CompoundFile::open(memory_source(w.build()), &error);
  REQUIRE(f);
  auto projects = ovba::read_projects(*f);
  REQUIRE(projects.size() == 1);
  CHECK(projects[0].storage_path == "Macros/VBA");
  CHECK(projects[0].problems.empty());
  REQUIRE(projects[0].modules.size() == 2);
  CHECK(projects[0].modules[0].name == "ThisDocument");
  CHECK(projects[0].modules[0].source.find("Sub AutoOpen()") != std::string::npos);
  CHECK(projects[0].modules[1].name == "Module1");
  CHECK(projects[0].modules[1].source.size() == 6000 + 31);
}

TEST_CASE("ovba: with a destroyed dir stream, modules are found by their signature") {
  CfbWriter w;
  testing::add_vba_project(w, "", {{"Module1", "Attribute VB_Name = \"Module1\"\r\nSub Document_Open()\r\n"}});
  w.add_stream("VBA/dir", "garbage that is not compressed");
  std::string error;
  auto f = cfb::CompoundFile::open(memory_source(w.build()), &error);
  REQUIRE(f);
  auto projects = ovba::read_projects(*f);
  REQUIRE(projects.size() == 1);
  CHECK_FALSE(projects[0].problems.empty());
  REQUIRE(projects[0].modules.size() == 1);
  CHECK(projects[0].modules[0].source.find("Document_Open") != std::string::npos);
}

TEST_CASE("ovba: dir records running past the end are malformed, not fatal") {
  std::string dir;
  testing::put16(dir, 0x0019);
  testing::put32(dir, 0xFFFFFF00);
  dir += "short";
  auto info = ovba::parse_dir(dir);
  CHECK(info.malformed);
  CHECK(info.modules.empty());
}

// ---------------------------------------------------------------------------
TEST_CASE("ole native: Ole10Native with and without the size prefix") {
  std::string payload = "MZ payload bytes";
  // The package's data is a view of the bytes parsed: keep them alive.
  const std::string with_prefix = testing::ole10native("invoice.exe", payload, true);
  auto p = ole::parse_native_package(with_prefix, true);
  REQUIRE(p);
  CHECK(p->label == "invoice.exe");
  CHECK(p->file_name() == "invoice.exe");
  CHECK(p->data == payload);
  CHECK_FALSE(p->data_truncated);
  const std::string without_prefix = testing::ole10native("a.txt", "abc", false);
  auto q = ole::parse_native_package(without_prefix, false);
  REQUIRE(q);
  CHECK(q->data == "abc");
  // A declared size beyond the bytes: truncated, not over-read.
  std::string cut = testing::ole10native("a.txt", "abcdef", false);
  cut.resize(cut.size() - 6);
  auto r = ole::parse_native_package(cut, false);
  REQUIRE(r);
  CHECK(r->data_truncated);
  CHECK(ole::parse_native_package("\x02\x00no-terminator", false) == std::nullopt);
}

TEST_CASE("ole native: OLE1 embedded object header") {
  const std::string bytes = testing::ole1_object("Package", "native!");  // viewed by the result
  auto o = ole::parse_ole1_object(bytes);
  REQUIRE(o);
  CHECK(o->format_id == 2);
  CHECK(o->class_name == "Package");
  CHECK(o->native_data == "native!");
  CHECK_FALSE(ole::parse_ole1_object("\x01\x05\x00\x00\x07\x00\x00\x00"));
}

// ---------------------------------------------------------------------------
TEST_CASE("ole2 unpacker: an Ole10Native package becomes the embedded file under its name") {
  CfbWriter w;
  std::string exe = testing::tiny_pe();
  w.add_stream("\x01Ole10Native", testing::ole10native("calc.exe", exe, true));
  w.add_stream("\x01" "CompObj", "compobj");
  auto ctx = run_unpacker("ole2", w.build());
  REQUIRE(ctx.children.size() == 1);
  CHECK(ctx.children[0].name == "calc.exe");
  CHECK(ctx.children[0].bytes == exe);
  CHECK(ctx.findings.empty());
}

TEST_CASE("ole2 unpacker: Package streams, payload-looking streams and nested storages") {
  CfbWriter w;
  std::string docx = "PK\x03\x04" + big_text(5000);
  w.add_stream("ObjectPool/_1234/Package", docx);
  w.add_stream("ObjectPool/_5678/\x01Ole10Native", testing::ole10native("run.bat", "echo hi", true));
  w.add_stream("Hidden/blob", "MZ" + std::string(100, 'q'));
  w.add_stream("WordDocument", "MZ but the document stream itself");
  w.add_stream("Data", "plain data");
  auto ctx = run_unpacker("ole2", w.build());
  std::vector<std::string> names;
  for (auto& c : ctx.children) names.push_back(c.name);
  REQUIRE(ctx.children.size() == 3);
  CHECK(std::find(names.begin(), names.end(), "Package") != names.end());
  CHECK(std::find(names.begin(), names.end(), "run.bat") != names.end());
  CHECK(std::find(names.begin(), names.end(), "Hidden/blob") != names.end());
  for (auto& c : ctx.children)
    if (c.name == "Package") CHECK(c.bytes == docx);
}

TEST_CASE("ole2 unpacker: damage is a finding") {
  auto ctx = run_unpacker("ole2", "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1 truncated");
  CHECK(ctx.has_finding("ole2.malformed"));
  CHECK(ctx.children.empty());
}

// ---------------------------------------------------------------------------
std::string rtf_with(const std::string& objdata_body, const std::string& extra = "") {
  return "{\\rtf1\\ansi{\\fonttbl{\\f0 Arial;}}Hello {\\object\\objemb" + extra +
         "{\\*\\objclass Package}\\objw100\\objh100{\\*\\objdata " + objdata_body + "}}\\par}";
}

TEST_CASE("rtf: objdata hex with whitespace, junk bytes and \\bin decodes exactly") {
  std::string data = "ABCDEFGH";
  std::string h = hex(data);
  // Whitespace and CR/LF between nibbles, a junk byte, \bin for the tail.
  std::string body = h.substr(0, 3) + " \r\n\t" + h.substr(3, 5) + "z" + h.substr(8, 4) +
                     "\\bin4 " + data.substr(6, 2) + "XY";
  auto r = rtf::scan_objects(*memory_source(rtf_with(body)));
  REQUIRE(r.objects.size() == 1);
  CHECK(r.objects[0].class_name == "Package");
  CHECK(r.objects[0].in_object_group);
  CHECK(r.objects[0].data == "ABCDEF" + data.substr(6, 2) + "XY");
  CHECK_FALSE(r.unbalanced);
}

TEST_CASE("rtf: ignorable groups inside objdata are skipped, \\objupdate is seen") {
  std::string body = "4142{\\*\\junk 4344}45{\\f1 46}";
  auto r = rtf::scan_objects(*memory_source(rtf_with(body, "\\objupdate")));
  REQUIRE(r.objects.size() == 1);
  CHECK(r.objects[0].objupdate);
  CHECK(r.objects[0].data == "ABEF");
}

TEST_CASE("rtf: objdata outside an object group, many objects, unbalanced input") {
  auto r = rtf::scan_objects(*memory_source("{\\rtf1 {\\*\\objdata 414243}"));
  REQUIRE(r.objects.size() == 1);
  CHECK_FALSE(r.objects[0].in_object_group);
  CHECK(r.objects[0].data == "ABC");
  CHECK(r.unbalanced);
  std::string many = "{\\rtf1";
  for (int i = 0; i < 50; ++i) many += "{\\object{\\*\\objdata 41}}";
  many += "}";
  rtf::ScanLimits lim;
  lim.max_objects = 10;
  auto m = rtf::scan_objects(*memory_source(many), lim);
  CHECK(m.objects.size() == 10);
  CHECK(m.too_many_objects);
  // Deep nesting does not grow without bound or crash.
  std::string deep = "{\\rtf1" + std::string(100000, '{') + "\\object{\\*\\objdata 4142}" +
                     std::string(100000, '}') + "}";
  auto d = rtf::scan_objects(*memory_source(deep));
  CHECK(d.objects.size() == 1);
  // A \bin larger than the file just ends.
  auto b = rtf::scan_objects(*memory_source("{\\rtf1{\\object{\\*\\objdata \\bin999999999 AB"));
  REQUIRE(b.objects.size() == 1);
  CHECK(b.objects[0].data == "AB");
}

TEST_CASE("rtf unpacker: a Package object yields the embedded executable") {
  std::string exe = testing::tiny_pe();
  std::string obj = testing::ole1_object("Package", testing::ole10native("setup.exe", exe, false));
  auto ctx = run_unpacker("rtf", rtf_with(hex(obj), "\\objupdate"));
  REQUIRE(ctx.children.size() == 1);
  CHECK(ctx.children[0].name == "setup.exe");
  CHECK(ctx.children[0].bytes == exe);
  CHECK(ctx.has_finding("rtf.object"));
  CHECK(ctx.has_finding("rtf.objupdate"));
}

TEST_CASE("rtf unpacker: a compound-file object is handed on to the OLE2 path") {
  CfbWriter w;
  std::string exe = testing::tiny_pe();
  w.add_stream("\x01Ole10Native", testing::ole10native("calc.exe", exe, true));
  std::string cfb_bytes = w.build();
  std::string obj = testing::ole1_object("Word.Document.8", cfb_bytes);
  auto ctx = run_unpacker("rtf", rtf_with(hex(obj)));
  REQUIRE(ctx.children.size() == 1);
  CHECK(ctx.children[0].bytes == cfb_bytes);
  CHECK(ctx.has_finding("rtf.object"));
  CHECK_FALSE(ctx.has_finding("rtf.objupdate"));
  // ... and the OLE2 unpacker then finds the executable.
  auto inner = run_unpacker("ole2", ctx.children[0].bytes);
  REQUIRE(inner.children.size() == 1);
  CHECK(inner.children[0].name == "calc.exe");
}

TEST_CASE("rtf unpacker: Equation Editor objects are flagged") {
  std::string obj = testing::ole1_object("Equation.3", "junk");
  auto ctx = run_unpacker("rtf", "{\\rtf1{\\object{\\*\\objdata " + hex(obj) + "}}}");
  CHECK(ctx.has_finding("rtf.suspicious_class"));
}

// ---------------------------------------------------------------------------
// Robustness: truncations and bit flips of every fixture, through every parser.

std::vector<std::string> fixtures() {
  std::vector<std::string> out;
  out.push_back(simple_cfb());
  CfbWriter w;
  testing::add_vba_project(w, "Macros", {{"M1", "Attribute VB_Name = \"M1\"\r\nSub AutoOpen()\r\nShell \"calc\"\r\nEnd Sub\r\n"}});
  w.add_stream("\x01Ole10Native", testing::ole10native("calc.exe", testing::tiny_pe(), true));
  w.add_stream("ObjectPool/_1/Package", "PK\x03\x04" + big_text(5000));
  out.push_back(w.build());
  std::string obj = testing::ole1_object("Package", testing::ole10native("a.exe", testing::tiny_pe(), false));
  out.push_back(rtf_with(hex(obj), "\\objupdate"));
  out.push_back(rtf_with(hex(testing::ole1_object("Word.Document.8", out[1]))));
  // The oletools corpus files that are compound files or RTF, when present.
  std::filesystem::path root = std::filesystem::path(SANDGATE_SOURCE_ROOT) / ".." / "shared" /
                               "testdata" / "oletools";
  std::error_code ec;
  if (std::filesystem::exists(root, ec)) {
    for (auto& e : std::filesystem::recursive_directory_iterator(root, ec)) {
      if (!e.is_regular_file() || e.file_size() > (2u << 20)) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), {});
      if (cfb::has_cfb_signature(bytes) || bytes.starts_with("{\\rt")) out.push_back(std::move(bytes));
    }
  } else {
    MESSAGE("oletools corpus not found at " << root.string() << ": robustness runs on built fixtures only");
  }
  return out;
}

void exercise(const std::string& bytes) {
  std::string error;
  if (auto f = cfb::CompoundFile::open(memory_source(bytes), &error)) {
    for (const auto& e : f->entries()) f->read_stream(e, 1 << 20);
    ovba::read_projects(*f);
  }
  run_unpacker("ole2", bytes);
  run_unpacker("rtf", bytes);
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

TEST_CASE("robustness: truncations and bit flips of every fixture never crash") {
  auto all = fixtures();
  std::mt19937 rng(1234);
  size_t runs = 0;
  for (const std::string& f : all) {
    // Truncations at structural boundaries and a spread of other points.
    std::vector<size_t> cuts = {0, 1, 8, 511, 512, 513, 1024, f.size() / 2, f.size() - 1};
    for (size_t k = 1; k < 16; ++k) cuts.push_back(f.size() * k / 16);
    for (size_t cut : cuts) {
      if (cut > f.size()) continue;
      exercise(f.substr(0, cut));
      ++runs;
    }
    // Under AddressSanitizer (CI's second run, ~10x slower here) a quarter
    // of the flips: the fuzz_ole2 target covers damage there at length.
    int flips = (all.size() > 10 ? 40 : 300) / (kSanitized ? 4 : 1);
    for (int i = 0; i < flips && !f.empty(); ++i) {
      std::string g = f;
      for (int k = 0; k < 1 + int(rng() % 8); ++k) {
        size_t at = rng() % g.size();
        // Favour the header and directory, where damage matters most.
        if (rng() % 2 && g.size() > 600) at = rng() % 600;
        g[at] = static_cast<char>(g[at] ^ (1u << (rng() % 8)));
      }
      exercise(g);
      ++runs;
    }
  }
  MESSAGE(runs << " damaged variants of " << all.size() << " fixtures");
  CHECK(runs > 100);
}

}  // namespace
}  // namespace sandgate
