#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "analyzers/analyzer.h"
#include "analyzers/name_util.h"

using namespace sandgate;

namespace {

Object analyze(std::string name, std::string label, std::string declared = {}) {
  Object o;
  o.name = o.path = std::move(name);
  o.type.label = std::move(label);
  o.declared_mime = std::move(declared);
  for (auto& a : AnalyzerRegistry::instance().create_all()) a->analyze(o);
  return o;
}

}  // namespace

TEST_CASE("extensions are read as Windows reads them") {
  CHECK(last_extension("a/b/Offer.PDF") == "pdf");
  CHECK(last_extension("Offer.pdf.exe. . ") == "exe");
  CHECK(last_extension(".bashrc") == "");
  CHECK(last_extension("noext") == "");
  CHECK(leaf_name("x.zip\\dir\\y.txt") == "y.txt");
}

TEST_CASE("double extensions, padding and direction overrides are named") {
  CHECK(analyze("Coinbase_online_careers_2022_07.pdf.exe", "pe").has_finding("name.double_extension"));
  CHECK(analyze("invoice.docx.js", "text").has_finding("name.double_extension"));
  CHECK_FALSE(analyze("setup.exe", "pe").has_finding("name.double_extension"));
  CHECK_FALSE(analyze("report.final.pdf", "pdf").has_finding("name.double_extension"));
  auto padded = analyze("invoice.pdf          .exe", "pe");
  CHECK(padded.has_finding("name.padding"));
  CHECK(padded.has_finding("name.double_extension"));
  CHECK(analyze("Resume\xE2\x80\xAE" "fdp.exe", "pe").has_finding("name.bidi_override"));
}

TEST_CASE("executables are flagged by content, not name") {
  CHECK(analyze("notes.txt", "pe").has_finding("type.executable"));
  CHECK(analyze("a", "elf").has_finding("type.executable"));
  CHECK(analyze("a", "macho").has_finding("type.executable"));
  CHECK_FALSE(analyze("tool.exe", "text").has_finding("type.executable"));
  // A text file that Windows hands to a script host on a double-click.
  CHECK(analyze("invoice.vbs", "text").has_finding("type.executable"));
  CHECK(analyze("run.HTA", "html").has_finding("type.executable"));
  CHECK_FALSE(analyze("notes.txt", "text").has_finding("type.executable"));
  CHECK_FALSE(analyze("photo.js", "png").has_finding("type.executable"));
  // One control byte makes a script "data" to the text checks; Windows still
  // hands it to the script host by its name.
  CHECK(analyze("run.bat", "data").has_finding("type.executable"));
  CHECK(analyze("invoice.js", "data").has_finding("type.executable"));
  CHECK_FALSE(analyze("blob.bin", "data").has_finding("type.executable"));
}

TEST_CASE("names and declared types that disagree with the content are findings") {
  CHECK(analyze("invoice.pdf", "pe").has_finding("type.extension_mismatch"));
  CHECK(analyze("x.exe", "pdf").has_finding("type.extension_mismatch"));
  CHECK_FALSE(analyze("cv.pdf", "pdf").has_finding("type.extension_mismatch"));
  CHECK_FALSE(analyze("notes.weird", "text").has_finding("type.extension_mismatch"));
  CHECK(analyze("cv.pdf", "pe", "application/pdf").has_finding("type.declared_mismatch"));
  CHECK_FALSE(analyze("cv.pdf", "pdf", "application/pdf").has_finding("type.declared_mismatch"));
  CHECK_FALSE(analyze("a.docx", "ooxml", "application/zip").has_finding("type.declared_mismatch"));
  CHECK_FALSE(analyze("a.bin", "pe", "application/octet-stream").has_finding("type.declared_mismatch"));
}
