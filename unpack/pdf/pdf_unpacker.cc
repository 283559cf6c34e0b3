// PDF unpacker (label "pdf"): every embedded file (ISO 32000-1 7.11.4, the
// /EmbeddedFile streams that file specifications point to through /EF) becomes
// a child object named by its /UF or /F entry, decoded through the stream's
// filters and streamed into the child in blocks, so the usual limits apply.
// The PDF analyzer records pdf.embedded_files; when it says 0 the file is not
// parsed a second time. Never throws: qpdf runs inside inspect/extract, which
// catch everything; undecodable streams become pdf.stream_error on the child.
#include <string>

#include "unpack/pdf/pdf_document.h"
#include "unpack/unpacker.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"pdf.stream_error", Severity::medium,
     "an embedded file's stream filters could not be decoded; the child is incomplete"},
});

namespace {

// Names are data; keep them printable and of sane length.
std::string clean_name(const std::string& raw, int obj) {
  std::string n;
  for (char c : raw) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    n.push_back(c);
    if (n.size() >= 255) break;
  }
  if (n.empty()) n = "embedded-" + std::to_string(obj);
  return n;
}

class PdfUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "pdf"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    auto it = obj.facts.find("pdf.embedded_files");
    if (it != obj.facts.end() && it->second == "0") return;
    if (!obj.bytes) return;

    std::unique_ptr<ChildWriter> child;
    bool stop = false;
    PdfEmbeddedVisitor v;
    v.begin = [&](const PdfEmbeddedFile& e) {
      if (stop || ctx.should_stop()) return false;
      ChildInfo info;
      info.name = clean_name(e.name, e.obj);
      info.declared_size = e.declared_size;
      child = ctx.begin_child(std::move(info));
      if (!child) {
        stop = true;
        return false;
      }
      return true;
    };
    v.sink = [&](std::string_view bytes) {
      return child && child->write(bytes.data(), bytes.size());
    };
    v.end = [&](const PdfEmbeddedFile& e, bool ok, const std::string& error) {
      if (!child) return;
      if (!ok)
        child->add_finding(make_finding("pdf.stream_error",
                                        "embedded file stream could not be decoded",
                                        "obj " + std::to_string(e.obj) + ": " + error));
      child->finish();
      child.reset();
      if (ctx.should_stop()) stop = true;
    };
    extract_pdf_embedded(obj.bytes, PdfInspectOptions{}, v);
  }
};

}  // namespace

SANDGATE_REGISTER_UNPACKER(PdfUnpacker, {"pdf"});

}  // namespace sandgate
