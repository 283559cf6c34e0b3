// Type analyzer: findings about what an object is, compared with what its name
// and its container claim. Names and declared types are never trusted for the
// type; a disagreement is itself worth reporting (disguise is the attack).
#include <algorithm>
#include <array>

#include "analyzers/analyzer.h"
#include "analyzers/name_util.h"
#include "unpack/type_detect.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"type.executable", Severity::high,
     "the object is a native executable or a script that runs when opened"},
    {"type.extension_mismatch", Severity::medium,
     "the name's extension does not fit the detected content type"},
    {"type.declared_mismatch", Severity::medium,
     "the declared MIME type does not fit the detected content type"},
});

namespace {

// Declared MIME types specific enough to compare with detection.
struct DeclaredType {
  std::string_view mime_prefix;
  std::string_view label;
};
constexpr std::array<DeclaredType, 16> kDeclared = {{
    {"application/pdf", "pdf"},
    {"image/png", "png"},
    {"image/jpeg", "jpeg"},
    {"image/gif", "gif"},
    {"application/zip", "zip"},
    {"application/x-zip-compressed", "zip"},
    {"application/msword", "ole2"},
    {"application/vnd.ms-excel", "ole2"},
    {"application/vnd.ms-powerpoint", "ole2"},
    {"application/vnd.openxmlformats-officedocument.", "ooxml"},
    {"application/vnd.oasis.opendocument.", "odf"},
    {"application/rtf", "rtf"},
    {"text/rtf", "rtf"},
    {"application/x-7z-compressed", "7z"},
    {"application/x-rar", "rar"},
    {"application/vnd.rar", "rar"},
}};

// Zip-based formats are also zips; a document may be declared as its container.
bool compatible(std::string_view declared_label, std::string_view detected) {
  if (declared_label == detected) return true;
  if (declared_label == "zip" && (detected == "ooxml" || detected == "odf" || detected == "jar"))
    return true;
  return false;
}

class TypeAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "type"; }

  void analyze(Object& obj) override {
    const std::string& label = obj.type.label;
    if (is_executable_label(label)) {
      obj.findings.push_back(make_finding("type.executable", "content is " + label, obj.path));
    } else if (runs_as_script(obj)) {
      // Windows runs a file named .vbs/.js/.bat... with its script host on a
      // double-click, whatever the content detector could prove.
      obj.findings.push_back(make_finding(
          "type.executable", "named ." + last_extension(obj.name) + ": runs as a script",
          obj.path));
    }
    check_extension(obj);
    check_declared(obj);
  }

 private:
  static bool runs_as_script(const Object& obj) {
    static constexpr std::array<std::string_view, 12> kScriptExt = {
        "js", "jse", "vbs", "vbe", "wsf", "wsh", "hta", "bat", "cmd", "ps1", "psm1", "sct"};
    // "data" too: one control byte (a NUL in a comment, a stray byte before
    // "@echo off") makes a script fail the text checks, and the script host
    // still runs it.
    const std::string& l = obj.type.label;
    if (l != "text" && l != "html" && l != "xml" && l != "data") return false;
    std::string ext = last_extension(obj.name);
    return std::find(kScriptExt.begin(), kScriptExt.end(), ext) != kScriptExt.end();
  }

  static void check_extension(Object& obj) {
    std::string ext = last_extension(obj.name);
    if (ext.empty()) return;
    auto expected = extensions_for_label(obj.type.label);
    if (expected.empty()) return;
    if (std::find(expected.begin(), expected.end(), ext) != expected.end()) return;
    obj.findings.push_back(make_finding("type.extension_mismatch",
                                        "named ." + ext + " but content is " + obj.type.label,
                                        obj.name));
  }

  static void check_declared(Object& obj) {
    if (obj.declared_mime.empty()) return;
    for (const auto& d : kDeclared) {
      if (!std::string_view(obj.declared_mime).starts_with(d.mime_prefix)) continue;
      if (!compatible(d.label, obj.type.label))
        obj.findings.push_back(make_finding(
            "type.declared_mismatch",
            "declared " + obj.declared_mime + " but content is " + obj.type.label));
      return;
    }
  }
};

SANDGATE_REGISTER_ANALYZER(TypeAnalyzer);

}  // namespace
}  // namespace sandgate
