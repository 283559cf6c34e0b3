// PDF analyzer (label "pdf"): turns the qpdf walk of unpack/pdf/pdf_document.h
// into findings and facts. Every object, including those inside compressed
// object streams, is examined; names are compared decoded (/J#61vaScript is
// /JavaScript). A file qpdf cannot open, or opens only by repairing it, is
// pdf.malformed and its active content comes from the raw keyword scan.
// Facts: pdf.objects, pdf.objects_examined (only objects whose bytes hold an
// active-content name are resolved, plus every compressed object),
// pdf.embedded_files (read by the PDF unpacker to skip a
// second parse), pdf.uris, pdf.encrypted, pdf.parsed.
#include <algorithm>
#include <string>

#include "analyzers/analyzer.h"
#include "unpack/pdf/pdf_document.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"pdf.javascript", Severity::high, "the PDF contains JavaScript"},
    {"pdf.launch", Severity::high, "the PDF has a Launch action that starts a program"},
    {"pdf.openaction", Severity::medium,
     "the PDF runs an action when opened (high when it runs script or a program)"},
    {"pdf.autoaction", Severity::medium,
     "the PDF has additional actions (/AA) triggered by viewer events (high when they run script)"},
    {"pdf.embedded_file", Severity::medium, "the PDF carries embedded files"},
    {"pdf.richmedia", Severity::medium, "the PDF embeds RichMedia (Flash/3D/video) content"},
    {"pdf.xfa", Severity::medium, "the PDF contains an XFA form"},
    {"pdf.submitform", Severity::medium, "the PDF has a SubmitForm action that sends data out"},
    {"pdf.gotor", Severity::low, "the PDF links to another document (GoToR/GoToE)"},
    {"pdf.uri", Severity::info, "the PDF contains URI links"},
    {"pdf.encrypted", Severity::low, "the PDF is encrypted (opened with the empty user password)"},
    {"pdf.password", Severity::medium,
     "the PDF opens only with a password: its content (attachments, scripts) was not analysed"},
    {"pdf.malformed", Severity::medium,
     "qpdf could not parse the PDF cleanly; a raw keyword scan was used"},
    {"pdf.incomplete", Severity::high,
     "the PDF could not be examined completely (object count, time or size bound)"},
});

namespace {

std::string join(const std::vector<std::string>& items, size_t total = 0) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += "; ";
    out += s;
  }
  if (total > items.size())
    out += " (+" + std::to_string(total - items.size()) + " more)";
  return out;
}

class PdfAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "pdf"; }

  void analyze(Object& obj) override {
    if (obj.type.label != "pdf" || !obj.bytes) return;
    PdfFeatures f = inspect_pdf(obj.bytes);
    auto& out = obj.findings;

    obj.facts["pdf.parsed"] = f.parsed ? "true" : "false";
    obj.facts["pdf.objects"] = std::to_string(f.objects);
    obj.facts["pdf.objects_examined"] = std::to_string(f.examined);
    obj.facts["pdf.embedded_files"] = std::to_string(f.embedded.size());
    obj.facts["pdf.uris"] = std::to_string(f.uri_count);
    obj.facts["pdf.encrypted"] = f.encrypted ? "true" : "false";

    if (!f.parsed)
      out.push_back(make_finding("pdf.malformed", "qpdf could not open the PDF; raw keyword scan used",
                                 f.parse_error));
    else if (f.damaged)
      out.push_back(make_finding("pdf.malformed",
                                 "the PDF is damaged (qpdf repaired it); raw keyword scan added",
                                 std::to_string(f.warnings) + " parser warnings"));
    if (f.incomplete)
      out.push_back(make_finding("pdf.incomplete", "the PDF was not examined completely",
                                 f.incomplete_reason));
    if (f.encrypted)
      out.push_back(make_finding("pdf.encrypted", "the PDF is encrypted"));
    if (f.needs_password)
      out.push_back(make_finding("pdf.password",
                                 "the PDF needs a password to open: only its unencrypted keywords "
                                 "were scanned",
                                 f.parse_error.substr(0, 200)));
    if (!f.javascript.empty())
      out.push_back(make_finding("pdf.javascript",
                                 std::to_string(std::max(f.javascript.size(), f.javascript_count)) +
                                     " JavaScript occurrence(s)",
                                 join(f.javascript, f.javascript_count)));
    if (!f.launch.empty())
      out.push_back(make_finding("pdf.launch", "Launch action starts a program", join(f.launch)));
    if (!f.openaction.empty()) {
      Finding fd = make_finding("pdf.openaction",
                                f.openaction_runs_script
                                    ? "an action that runs script or a program starts when the PDF opens"
                                    : "an action starts when the PDF opens",
                                join(f.openaction));
      if (f.openaction_runs_script) fd.severity = Severity::high;
      out.push_back(std::move(fd));
    }
    if (!f.auto_actions.empty()) {
      Finding fd = make_finding("pdf.autoaction",
                                f.auto_action_runs_script
                                    ? "viewer events trigger actions that run script or a program"
                                    : "viewer events trigger actions",
                                join(f.auto_actions));
      if (f.auto_action_runs_script) fd.severity = Severity::high;
      out.push_back(std::move(fd));
    }
    if (!f.embedded.empty()) {
      std::vector<std::string> names;
      for (const auto& e : f.embedded)
        names.push_back(e.obj > 0 ? (e.name.empty() ? "obj " + std::to_string(e.obj) : e.name)
                                  : std::string("(raw scan)"));
      out.push_back(make_finding("pdf.embedded_file",
                                 std::to_string(f.embedded.size()) + " embedded file(s)",
                                 join(names)));
    }
    if (!f.richmedia.empty())
      out.push_back(make_finding("pdf.richmedia", "RichMedia content", join(f.richmedia)));
    if (!f.xfa.empty()) out.push_back(make_finding("pdf.xfa", "XFA form", join(f.xfa)));
    if (!f.submitform.empty())
      out.push_back(make_finding("pdf.submitform", "SubmitForm action", join(f.submitform)));
    if (!f.gotor.empty())
      out.push_back(make_finding("pdf.gotor", "link to another document", join(f.gotor)));
    if (f.uri_count > 0)
      out.push_back(make_finding("pdf.uri", std::to_string(f.uri_count) + " URI link(s)",
                                 join(f.uris, f.uri_count)));
  }
};

}  // namespace

SANDGATE_REGISTER_ANALYZER(PdfAnalyzer);

}  // namespace sandgate
