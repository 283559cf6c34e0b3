// ELF analyzer tests (hand-built and the test binary itself) and the name
// findings added with issue 7 (disguised executables, dangerous extensions).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "analyzers/analyzer.h"

using namespace sandgate;

namespace {

Object analyze(const std::string& name, const std::string& label, const std::string& bytes) {
  Object o;
  o.name = o.path = name;
  o.type.label = label;
  if (!bytes.empty()) o.bytes = memory_source(bytes);
  for (auto& a : AnalyzerRegistry::instance().create_all()) a->analyze(o);
  return o;
}

std::string fact(const Object& o, const std::string& k) {
  auto it = o.facts.find(k);
  return it == o.facts.end() ? std::string() : it->second;
}

void put(std::string& s, size_t off, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s[off + i] = char(v >> (8 * i));
}

// ELF64 LE x86_64 executable with one PT_INTERP program header.
std::string elf64(const std::string& interp) {
  std::string f(64 + 56, '\0');
  f.replace(0, 4, "\x7f" "ELF");
  f[4] = 2;
  f[5] = 1;
  f[6] = 1;
  put(f, 16, 2, 2);   // ET_EXEC
  put(f, 18, 62, 2);  // EM_X86_64
  put(f, 20, 1, 4);
  put(f, 32, 64, 8);  // e_phoff
  put(f, 52, 64, 2);
  put(f, 54, 56, 2);  // e_phentsize
  put(f, 56, 1, 2);   // e_phnum
  put(f, 64, 3, 4);   // PT_INTERP
  put(f, 64 + 8, f.size(), 8);
  put(f, 64 + 32, interp.size() + 1, 8);
  return f + interp + '\0';
}

}  // namespace

TEST_CASE("ELF class, machine, type and interpreter become facts") {
  Object o = analyze("a.out", "elf", elf64("/lib64/ld-linux-x86-64.so.2"));
  CHECK_FALSE(o.has_finding("elf.malformed"));
  CHECK(fact(o, "elf.class") == "64");
  CHECK(fact(o, "elf.machine") == "x86_64");
  CHECK(fact(o, "elf.type") == "executable");
  CHECK(fact(o, "elf.interpreter") == "/lib64/ld-linux-x86-64.so.2");
  CHECK(fact(o, "elf.static") == "false");

  std::ifstream self("/proc/self/exe", std::ios::binary);
  std::stringstream ss;
  ss << self.rdbuf();
  Object me = analyze("test", "elf", ss.str());
  CHECK_FALSE(me.has_finding("elf.malformed"));
  CHECK(fact(me, "elf.interpreter").find("ld-linux") != std::string::npos);
}

TEST_CASE("ELF truncated at every byte or corrupted is a finding, never a crash") {
  std::string f = elf64("/lib/ld.so");
  for (size_t n = 0; n < f.size(); ++n) {
    CAPTURE(n);
    CHECK(analyze("a", "elf", f.substr(0, n).empty() ? std::string("\x7f", 1) : f.substr(0, n))
              .has_finding("elf.malformed"));
  }
  std::string big = f;
  put(big, 56, 0xffff, 2);  // e_phnum
  CHECK(analyze("a", "elf", big).has_finding("elf.malformed"));
  std::string far = f;
  put(far, 64 + 8, 1ull << 40, 8);  // PT_INTERP offset
  CHECK(analyze("a", "elf", far).has_finding("elf.malformed"));
}

TEST_CASE("executable content with a document name is disguised") {
  Object o = analyze("offer.zip/Coinbase_online_careers_2022_07.pdf.exe", "pe", "");
  CHECK(o.has_finding("name.double_extension"));
  CHECK(o.has_finding("name.disguised_executable"));
  CHECK(o.has_finding("name.dangerous_extension"));
  // A Mach-O named like a PDF inside a DMG.
  Object m = analyze("Offer.dmg/Coinbase careers.pdf", "macho", "");
  CHECK(m.has_finding("name.disguised_executable"));
  CHECK_FALSE(m.has_finding("name.dangerous_extension"));
  // A real PDF, and a plainly named program, are not disguised.
  CHECK_FALSE(analyze("careers.pdf", "pdf", "").has_finding("name.disguised_executable"));
  CHECK_FALSE(analyze("setup.exe", "pe", "").has_finding("name.disguised_executable"));
  // A document-named file that is not executable content is not disguised,
  // whatever its double extension says (that is name.double_extension's job).
  CHECK_FALSE(analyze("notes.pdf.exe", "text", "").has_finding("name.disguised_executable"));
}

TEST_CASE("dangerous extensions from the issue's list are named") {
  for (const char* n : {"a.exe", "a.SCR", "a.msix", "a.appx", "a.one", "a.vhdx", "a.command",
                        "a.pkg", "a.dmg", "a.iso", "a.lnk", "a.ps1", "a.hta"}) {
    CAPTURE(n);
    CHECK(analyze(n, "data", "").has_finding("name.dangerous_extension"));
  }
  for (const char* n : {"a.pdf", "a.docx", "a.txt", "exe", "a.exe.pdf"}) {
    CAPTURE(n);
    CHECK_FALSE(analyze(n, "data", "").has_finding("name.dangerous_extension"));
  }
}
