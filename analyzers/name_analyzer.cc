// Name analyzer: names built to deceive a person. "Offer.pdf.exe" (Windows hides
// the known extension), padding with spaces before the real extension, and the
// right-to-left override that shows "exe.pdf" as "fdp.exe".
#include <algorithm>
#include <array>
#include <string>

#include "analyzers/analyzer.h"
#include "analyzers/name_util.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"name.double_extension", Severity::high,
     "a document-looking name ends in an executable extension (Job.pdf.exe)"},
    {"name.bidi_override", Severity::high,
     "the name holds a Unicode direction override that disguises its extension"},
    {"name.padding", Severity::medium, "the name hides its real extension behind padding"},
});

namespace {

constexpr std::array<std::string_view, 30> kExecutableExt = {
    "exe", "scr", "com", "pif", "bat", "cmd", "js",  "jse", "vbs", "vbe",
    "wsf", "wsh", "hta", "ps1", "lnk", "msi", "msp", "cpl", "jar", "app",
    "command", "sh", "reg", "scf", "url", "iso", "img", "vhd", "vhdx", "dll"};

constexpr std::array<std::string_view, 24> kDocumentExt = {
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "rtf", "txt", "odt", "ods", "odp",
    "jpg", "jpeg", "png", "gif", "bmp", "csv", "htm", "html", "zip", "mp4", "mp3", "wav"};

bool contains(auto& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

class NameAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "name"; }

  void analyze(Object& obj) override {
    std::string_view leaf = leaf_name(obj.name);
    if (leaf.empty()) return;
    // U+202E RIGHT-TO-LEFT OVERRIDE and U+202D/U+2066..U+2069 in UTF-8.
    for (std::string_view mark : {"\xE2\x80\xAE", "\xE2\x80\xAD", "\xE2\x81\xA6", "\xE2\x81\xA7",
                                  "\xE2\x81\xA8"}) {
      if (leaf.find(mark) != std::string_view::npos) {
        obj.findings.push_back(make_finding("name.bidi_override",
                                            "name holds a direction override", std::string(leaf)));
        break;
      }
    }
    std::string last = last_extension(leaf);
    if (last.empty() || !contains(kExecutableExt, last)) return;
    std::string_view stem = leaf.substr(0, leaf.rfind('.'));
    std::string inner = last_extension(stem);
    bool padded = stem.size() >= 3 && stem.substr(stem.size() - 3) == "   ";
    if (padded)
      obj.findings.push_back(make_finding("name.padding", "name padded before ." + last,
                                          std::string(leaf)));
    if (!inner.empty() && contains(kDocumentExt, inner))
      obj.findings.push_back(make_finding("name.double_extension",
                                          "looks like ." + inner + " but is ." + last,
                                          std::string(leaf)));
  }
};

SANDGATE_REGISTER_ANALYZER(NameAnalyzer);

}  // namespace
}  // namespace sandgate
