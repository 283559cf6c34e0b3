// Name analyzer: names built to deceive a person. "Offer.pdf.exe" (Windows hides
// the known extension), padding with spaces before the real extension, and the
// right-to-left override that shows "exe.pdf" as "fdp.exe"; a document-looking
// name on executable content (the "careers.pdf" that is a Mach-O), and
// extensions that run or mount something when opened.
#include <algorithm>
#include <array>
#include <string>

#include "analyzers/analyzer.h"
#include "analyzers/name_util.h"
#include "unpack/type_detect.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"name.double_extension", Severity::high,
     "a document-looking name ends in an executable extension (Job.pdf.exe)"},
    {"name.bidi_override", Severity::high,
     "the name holds a Unicode direction override that disguises its extension"},
    {"name.padding", Severity::medium, "the name hides its real extension behind padding"},
    {"name.disguised_executable", Severity::high,
     "executable content carries a document-looking name (careers.pdf, Job.pdf.exe)"},
    {"name.dangerous_extension", Severity::medium,
     "the extension runs, installs or mounts something when opened (exe, js, lnk, iso, ...)"},
});

namespace {

constexpr std::array<std::string_view, 30> kExecutableExt = {
    "exe", "scr", "com", "pif", "bat", "cmd", "js",  "jse", "vbs", "vbe",
    "wsf", "wsh", "hta", "ps1", "lnk", "msi", "msp", "cpl", "jar", "app",
    "command", "sh", "reg", "scf", "url", "iso", "img", "vhd", "vhdx", "dll"};

constexpr std::array<std::string_view, 24> kDocumentExt = {
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "rtf", "txt", "odt", "ods", "odp",
    "jpg", "jpeg", "png", "gif", "bmp", "csv", "htm", "html", "zip", "mp4", "mp3", "wav"};

// Issue 7's list: programs, installers, scripts, shortcuts, disk images.
constexpr std::array<std::string_view, 30> kDangerousExt = {
    "exe", "scr", "com", "pif", "cpl", "msi", "msix", "appx", "js",  "jse",
    "vbs", "vbe", "wsf", "wsh", "hta", "lnk", "ps1", "bat", "cmd", "reg",
    "iso", "img", "vhd", "vhdx", "one", "jar", "app", "command", "pkg", "dmg"};

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
    if (!last.empty() && contains(kDangerousExt, last))
      obj.findings.push_back(make_finding("name.dangerous_extension",
                                          "." + last + " runs or mounts when opened",
                                          std::string(leaf)));
    check_disguise(obj, leaf, last);
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

 private:
  // Executable content (by bytes, never by name) whose name reads as a
  // document: the last extension is a document's, or a document extension
  // sits right before an executable one.
  static void check_disguise(Object& obj, std::string_view leaf, const std::string& last) {
    if (!is_executable_label(obj.type.label) || last.empty()) return;
    std::string shown = last;
    if (!contains(kDocumentExt, last)) {
      if (!contains(kExecutableExt, last)) return;
      std::string_view stem = leaf.substr(0, leaf.rfind('.'));
      shown = last_extension(stem);
      if (shown.empty() || !contains(kDocumentExt, shown)) return;
    }
    obj.findings.push_back(make_finding("name.disguised_executable",
                                        obj.type.label + " content named like a ." + shown +
                                            " document",
                                        std::string(leaf)));
  }
};

SANDGATE_REGISTER_ANALYZER(NameAnalyzer);

}  // namespace
}  // namespace sandgate
