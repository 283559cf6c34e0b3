// RTF unpacker: every embedded object becomes a child object. The \objdata
// bytes are an OLE1 object ([MS-OLEDS] 2.2.5): for class "Package" the child is
// the wrapped file under its declared name; for other classes it is the native
// data (usually a compound file, which the OLE2 unpacker opens in turn); bytes
// that are no OLE1 object are handed on as they are.
// Findings on the RTF: rtf.object for each object, rtf.objupdate when an
// object refreshes itself on open (the \objupdate trick that fetches or runs
// a linked object without a click), rtf.suspicious_class for the classes that
// exist in RTF almost only to exploit (Equation Editor, OLE2Link).
#include <string>

#include "unpack/ascii.h"
#include "unpack/ole2/ole_native.h"
#include "unpack/rtf/rtf_objects.h"
#include "unpack/unpacker.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"rtf.object", Severity::medium, "the RTF document embeds an OLE object"},
    {"rtf.objupdate", Severity::high,
     "an embedded object updates itself when the document opens (\\objupdate)"},
    {"rtf.suspicious_class", Severity::high,
     "an embedded object of a class used by exploits (Equation Editor, OLE2Link)"},
    {"rtf.malformed", Severity::low, "the RTF group structure is unbalanced or over a limit"},
});

namespace {

// Printable ASCII only, bounded: evidence is shown to people.
std::string printable(std::string_view s, size_t max = 200) {
  std::string out;
  for (char c : s.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  return out;
}

class RtfUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "rtf"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    rtf::ScanLimits limits;
    limits.max_data = ctx.limits().max_object_bytes;
    rtf::ScanResult scan = rtf::scan_objects(*obj.bytes, limits);
    ctx.note_input_consumed(obj.size);
    if (scan.unbalanced)
      ctx.add_finding(make_finding("rtf.malformed", "unbalanced RTF groups"));
    if (scan.too_many_objects)
      ctx.add_finding(make_finding("rtf.malformed", "more objects than the scanner keeps",
                                   std::to_string(limits.max_objects)));
    int n = 0;
    for (const rtf::RtfObject& o : scan.objects) {
      ++n;
      if (ctx.should_stop()) return;
      std::string evidence = "object " + std::to_string(n) + " at offset " + std::to_string(o.offset);
      auto ole1 = o.has_data ? ole::parse_ole1_object(o.data) : std::nullopt;
      std::string cls = ole1 ? ole1->class_name : o.class_name;
      if (!cls.empty()) evidence += ", class " + printable(cls);
      if (ole1 && ole1->format_id == 1) evidence += ", linked to " + printable(ole1->topic_name);
      if (!o.in_object_group) evidence += ", \\objdata outside an \\object group";
      ctx.add_finding(make_finding("rtf.object", "embedded OLE object", evidence));
      if (o.objupdate)
        ctx.add_finding(make_finding("rtf.objupdate", "object updates itself on open", evidence));
      if (ascii_istarts_with(cls, "Equation") || ascii_iequals(cls, "OLE2Link") ||
          (!o.class_name.empty() && (ascii_istarts_with(o.class_name, "Equation") ||
                                     ascii_iequals(o.class_name, "OLE2Link"))))
        ctx.add_finding(make_finding("rtf.suspicious_class", "exploit-prone object class", evidence));
      if (!o.has_data || o.data.empty()) continue;
      if (!emit(o, ole1, n, ctx)) return;
    }
  }

 private:
  static bool emit(const rtf::RtfObject& o, const std::optional<ole::Ole1Object>& ole1, int n,
                   UnpackContext& ctx) {
    std::string_view bytes = o.data;
    ChildInfo info;
    info.name = "object" + std::to_string(n);
    bool truncated = o.data_truncated;
    if (ole1 && ole1->format_id == 2) {
      bytes = ole1->native_data;
      truncated = truncated || ole1->native_truncated;
      if (ascii_iequals(ole1->class_name, "Package")) {
        if (auto pkg = ole::parse_native_package(bytes, /*with_size_prefix=*/false)) {
          bytes = pkg->data;
          truncated = truncated || pkg->data_truncated;
          std::string fname = pkg->file_name();
          if (!fname.empty()) info.name = fname;
        }
      }
    } else if (ole1) {
      return true;  // a linked object has no bytes of its own
    }
    if (bytes.empty()) return true;
    info.declared_size = static_cast<int64_t>(bytes.size());
    auto child = ctx.begin_child(std::move(info));
    if (!child) return false;
    child->write(bytes.data(), bytes.size());
    if (truncated)
      child->add_finding(make_finding("rtf.malformed", "object data is cut short"));
    child->finish();
    return !ctx.should_stop();
  }
};

SANDGATE_REGISTER_UNPACKER(RtfUnpacker, {"rtf"});

}  // namespace
}  // namespace sandgate
