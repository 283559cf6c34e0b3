// Office analyzer for the parts of OOXML and ODF packages. The core unpacks
// the zip; each part arrives here as an object named by its part name
// ("word/_rels/settings.xml.rels", "Basic/Standard/Module1.xml"), so this
// analyzer chooses by name and reads only the parts that can hold:
//  - external relationships (*.rels, TargetMode="External", ECMA-376 part 2
//    9.3): a remote attachedTemplate/frame/subDocument is
//    office.remote_template, a remote linked OLE object office.remote_object,
//    anything else but hyperlinks office.external_link;
//  - DDE/DDEAUTO fields in WordprocessingML (w:instrText between w:fldChar
//    begin/end, w:fldSimple/@w:instr), Excel ddeLink parts and DDE formulas
//    (=cmd|'/c ...'!A1), ODF dde-connection-decl: office.dde;
//  - Excel 4.0 macro sheets (xl/macrosheets/, or the macrosheet content type):
//    office.xlm, fact office.has_macros;
//  - embedded objects and ActiveX controls (*/embeddings/*, */activeX/*.xml):
//    office.embedded_object (the bytes themselves are child objects already;
//    an oleObject*.bin is typed ole2 and opened by the OLE2 unpacker);
//  - ODF Basic/script macros and document event bindings: odf.macro, fact
//    office.has_macros.
// The vbaProject.bin part is a compound file: the ole2 analyzer reads it.
//
// Guarantees: parts are streamed through the bounded XML lexer; evidence is
// printable and bounded; nothing is read for parts whose names do not matter.
#include <set>
#include <string>
#include <vector>

#include "analyzers/analyzer.h"
#include "analyzers/office/xml_scan.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"office.remote_template", Severity::high,
     "the document loads a template or frame from a remote address when opened"},
    {"office.remote_object", Severity::high,
     "the document links an OLE object at a remote address (e.g. CVE-2017-0199, CVE-2022-30190)"},
    {"office.external_link", Severity::medium,
     "the document references an external resource (other than a hyperlink)"},
    {"office.dde", Severity::high, "a DDE/DDEAUTO field or formula that can start a program"},
    {"office.xlm", Severity::high, "the workbook has an Excel 4.0 (XLM) macro sheet"},
    {"office.embedded_object", Severity::medium,
     "the document embeds an OLE object (a package, an ActiveX control, another document)"},
    {"odf.macro", Severity::high, "the OpenDocument file carries Basic or script macros"},
});

namespace {

constexpr size_t kMaxEvidence = 300;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

std::string printable(std::string_view s, size_t max = kMaxEvidence) {
  std::string out;
  for (char c : s.substr(0, max))
    out.push_back(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F ? c : ' ');
  if (s.size() > max) out += "...";
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' ||
                        s.front() == '\n' || s.front() == '"'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// A field code whose first word is DDE or DDEAUTO ([MS-DOCX]/ECMA-376 17.16.5.15).
bool is_dde_field(std::string_view code) {
  code = trim(code);
  std::string head = lower(code.substr(0, 8));
  return head.starts_with("ddeauto") ||
         (head.starts_with("dde") && (head.size() == 3 || head[3] == ' ' || head[3] == '\t'));
}

// Excel DDE formula: an application name, '|', a topic, '!', an item
// ("cmd|'/c calc'!A0", "=MSEXCEL|'\..\..\Windows\System32\cmd.exe /c ...'!''").
bool is_dde_formula(std::string_view f) {
  size_t bar = f.find('|');
  if (bar == std::string_view::npos || bar == 0) return false;
  size_t bang = f.find('!', bar);
  if (bang == std::string_view::npos) return false;
  // The application name: letters, digits, '.', '_' back to an operator.
  size_t k = bar;
  while (k > 0) {
    char c = f[k - 1];
    bool app = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '\\' || c == ' ';
    if (!app) break;
    --k;
  }
  return k < bar && trim(f.substr(k, bar - k)).size() > 0;
}

// Collects field codes and DDE constructs from one XML part.
class FieldScanner final : public office::XmlHandler {
 public:
  std::set<std::string> dde;         // evidence strings
  std::set<std::string> odf_events;  // ODF script bindings
  bool saw_module = false;           // ODF <script:module>
  std::string module_name;

  void on_tag(std::string_view tag) override {
    if (std::string_view end = office::end_tag_name(tag); !end.empty()) {
      if (end == "instrText") capture_ = Capture::none;
      if (end == "f") {
        if (is_dde_formula(formula_)) add_dde("formula " + formula_);
        capture_ = Capture::none;
        formula_.clear();
      }
      return;
    }
    std::string_view name = office::start_tag_name(tag);
    if (name.empty()) return;
    bool closed = office::is_self_closing(tag);
    if (name == "instrText") {
      if (!closed) capture_ = Capture::instr;
    } else if (name == "fldChar") {
      auto type = office::attribute(tag, "fldCharType");
      if (!type) return;
      if (*type == "begin") {
        if (fields_.size() < 64) fields_.emplace_back();
      } else if (!fields_.empty()) {
        evaluate(fields_.back());
        if (*type == "end") fields_.pop_back();
        else fields_.back().clear();  // "separate": the result follows
      }
    } else if (name == "fldSimple") {
      if (auto instr = office::attribute(tag, "instr")) evaluate(*instr);
    } else if (name == "f") {
      if (!closed) {
        capture_ = Capture::formula;
        formula_.clear();
      }
    } else if (name == "ddeLink") {
      add_dde("ddeLink " + office::attribute(tag, "ddeService").value_or("") + " " +
              office::attribute(tag, "ddeTopic").value_or(""));
    } else if (name == "dde-connection-decl" || name == "dde-source") {
      add_dde(std::string(name) + " " + office::attribute(tag, "dde-application").value_or("") +
              " " + office::attribute(tag, "dde-topic").value_or(""));
    } else if (name == "event-listener") {
      auto href = office::attribute(tag, "href");
      std::string lang = office::attribute(tag, "language").value_or("");
      if ((href && (href->starts_with("vnd.sun.star.script:") || href->starts_with("macro:"))) ||
          lang.find("script") != std::string::npos)
        odf_events.insert(printable(office::attribute(tag, "event-name").value_or("?") + " -> " +
                                    href.value_or(lang), 160));
    } else if (name == "module") {
      saw_module = true;
      if (auto n = office::attribute(tag, "name")) module_name = *n;
    }
  }

  bool wants_text() const override { return capture_ != Capture::none; }
  bool wants_tag(std::string_view n) const override {
    return n == "instrText" || n == "fldChar" || n == "fldSimple" || n == "f" || n == "ddeLink" ||
           n == "dde-connection-decl" || n == "dde-source" || n == "event-listener" ||
           n == "module";
  }

  void on_text(std::string_view text) override {
    if (capture_ == Capture::instr && !fields_.empty()) {
      if (fields_.back().size() < 4096) fields_.back().append(text.substr(0, 4096));
    } else if (capture_ == Capture::formula) {
      if (formula_.size() < 4096) formula_.append(office::decode_entities(text.substr(0, 4096)));
    }
  }

 private:
  enum class Capture { none, instr, formula };

  void evaluate(std::string_view raw) {
    std::string code = office::decode_entities(raw);
    if (is_dde_field(code)) add_dde(std::string(trim(code)));
  }
  void add_dde(std::string evidence) {
    if (dde.size() < 16) dde.insert(printable(evidence));
  }

  Capture capture_ = Capture::none;
  std::vector<std::string> fields_;  // open fields' instruction text, innermost last
  std::string formula_;
};

// Collects the external relationships of a .rels part.
class RelsScanner final : public office::XmlHandler {
 public:
  struct Rel {
    std::string type;  // last segment of the relationship type URI
    std::string target;
  };
  std::vector<Rel> external;
  size_t hyperlinks = 0;

  bool wants_tag(std::string_view n) const override { return n == "Relationship"; }
  void on_tag(std::string_view tag) override {
    if (office::start_tag_name(tag) != "Relationship") return;
    auto mode = office::attribute(tag, "TargetMode");
    if (!mode || !iequals(*mode, "External")) return;
    std::string type = office::attribute(tag, "Type").value_or("");
    size_t slash = type.find_last_of('/');
    if (slash != std::string::npos) type.erase(0, slash + 1);
    if (iequals(type, "hyperlink")) {
      ++hyperlinks;
      return;
    }
    if (external.size() < 64) external.push_back({type, office::attribute(tag, "Target").value_or("")});
  }
};

class OfficePartAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "office.parts"; }

  void analyze(Object& obj) override {
    if (obj.depth == 0 || obj.name.empty() || !obj.bytes) return;
    std::string n = lower(obj.name);
    while (n.starts_with("/") || n.starts_with("./")) n.erase(0, n[0] == '/' ? 1 : 2);
    if (n.ends_with(".rels")) return check_rels(obj);
    if (n == "[content_types].xml") return check_content_types(obj);
    if (n.starts_with("xl/macrosheets/") || n.starts_with("xl/intlmacrosheets/")) {
      obj.facts["office.has_macros"] = "true";
      obj.facts["office.xlm"] = "true";
      obj.findings.push_back(make_finding("office.xlm", "Excel 4.0 macro sheet", printable(obj.name)));
      return;
    }
    if (n.find("/embeddings/") != std::string::npos) {
      obj.findings.push_back(
          make_finding("office.embedded_object", "embedded object part", printable(obj.name)));
      return;
    }
    if (n.find("/activex/") != std::string::npos && n.ends_with(".xml")) {
      obj.findings.push_back(
          make_finding("office.embedded_object", "ActiveX control", printable(obj.name)));
      return;
    }
    if (n.starts_with("basic/") && n.ends_with(".xml")) return check_odf_basic(obj);
    if (n.starts_with("scripts/") && !n.ends_with("/")) {
      obj.facts["office.has_macros"] = "true";
      obj.findings.push_back(make_finding("odf.macro", "OpenDocument script", printable(obj.name)));
      return;
    }
    bool word = n.starts_with("word/") && n.ends_with(".xml");
    bool excel = (n.starts_with("xl/externallinks/") || n.starts_with("xl/worksheets/")) &&
                 n.ends_with(".xml");
    bool odf = n == "content.xml" || n == "styles.xml";
    if (word || excel || odf) check_fields(obj, odf);
  }

 private:
  static void check_rels(Object& obj) {
    RelsScanner rels;
    office::scan_xml(*obj.bytes, rels, 64u << 20);
    if (rels.hyperlinks) obj.facts["office.hyperlinks"] = std::to_string(rels.hyperlinks);
    for (const auto& r : rels.external) {
      std::string t = lower(r.type);
      std::string evidence = r.type + ": " + printable(r.target);
      if (t == "attachedtemplate" || t == "frame" || t == "subdocument") {
        obj.findings.push_back(make_finding("office.remote_template", "remote template", evidence));
      } else if (t == "oleobject") {
        obj.findings.push_back(make_finding("office.remote_object", "remote OLE object", evidence));
      } else {
        obj.findings.push_back(make_finding("office.external_link", "external reference", evidence));
      }
    }
  }

  static void check_content_types(Object& obj) {
    class Types final : public office::XmlHandler {
     public:
      bool macrosheet = false, vba = false;
      bool wants_tag(std::string_view n) const override { return n == "Override" || n == "Default"; }
      void on_tag(std::string_view tag) override {
        auto name = office::start_tag_name(tag);
        if (name != "Override" && name != "Default") return;
        std::string ct = lower(office::attribute(tag, "ContentType").value_or(""));
        if (ct.find("macrosheet") != std::string::npos) macrosheet = true;
        if (ct.find("vbaproject") != std::string::npos) vba = true;
      }
    } types;
    office::scan_xml(*obj.bytes, types, 16u << 20);
    if (types.vba) obj.facts["office.has_macros"] = "true";
    if (types.macrosheet) {
      obj.facts["office.has_macros"] = "true";
      obj.facts["office.xlm"] = "true";
      obj.findings.push_back(
          make_finding("office.xlm", "Excel 4.0 macro sheet declared", "macrosheet content type"));
    }
  }

  static void check_odf_basic(Object& obj) {
    FieldScanner s;
    office::scan_xml(*obj.bytes, s, 64u << 20);
    if (!s.saw_module) return;  // script-lc.xml, dialog libraries: no code
    obj.facts["office.has_macros"] = "true";
    obj.findings.push_back(make_finding("odf.macro", "OpenDocument Basic macro",
                                        printable(s.module_name.empty() ? obj.name : s.module_name)));
  }

  static void check_fields(Object& obj, bool odf) {
    FieldScanner s;
    office::scan_xml(*obj.bytes, s);
    if (!s.dde.empty()) {
      std::string ev;
      for (const auto& d : s.dde) ev += (ev.empty() ? "" : " | ") + d;
      obj.findings.push_back(make_finding("office.dde", "DDE field", printable(ev, 600)));
    }
    if (odf && !s.odf_events.empty()) {
      std::string ev;
      for (const auto& d : s.odf_events) ev += (ev.empty() ? "" : ", ") + d;
      obj.facts["office.has_macros"] = "true";
      obj.findings.push_back(make_finding("odf.macro", "document event runs a macro", printable(ev, 600)));
    }
  }
};

SANDGATE_REGISTER_ANALYZER(OfficePartAnalyzer);

}  // namespace
}  // namespace sandgate
