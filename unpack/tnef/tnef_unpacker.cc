// TNEF unpacker (label "tnef": winmail.dat, application/ms-tnef): each
// attachment of the TNEF message becomes a child object under its file name
// (PR_ATTACH_LONG_FILENAME, else attAttachTitle), so an executable inside
// winmail.dat reaches the analyzers and the policy like any other file.
// Children are windows of the container (no copy). An embedded message
// (PR_ATTACH_DATA_OBJ) is itself TNEF and is unpacked in turn by the engine.
//
// Findings on the container: tnef.malformed when the stream is truncated,
// lies about a length or count, or has no signature (what was read before
// the damage is still emitted); tnef.checksum when attribute checksums do
// not match (the bytes are still scanned).
#include <string>

#include "unpack/tnef/tnef_reader.h"
#include "unpack/unpacker.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"tnef.malformed", Severity::medium,
     "a TNEF (winmail.dat) stream is truncated or inconsistent; what could be read was extracted"},
    {"tnef.checksum", Severity::low,
     "TNEF attribute checksums do not match their data (the data is still inspected)"},
});

namespace {

std::string join_errors(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += e;
  }
  return out;
}

class TnefUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "tnef"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    if (!obj.bytes) return;
    tnef::TnefOptions options;
    options.max_attachments = static_cast<size_t>(ctx.limits().max_objects);
    tnef::TnefSummary summary =
        tnef::read_tnef(*obj.bytes, options, [&](const tnef::TnefAttachment& a) {
          if (ctx.should_stop()) return false;
          ChildInfo info;
          info.name = a.best_name();
          info.declared_mime = a.mime_tag;
          info.declared_size = static_cast<int64_t>(a.data.length);
          return ctx.emit_child(std::move(info),
                                slice_source(obj.bytes, a.data.offset, a.data.length));
        });
    ctx.note_input_consumed(summary.consumed);
    if (!summary.signature_ok || summary.truncated || summary.too_many || !summary.errors.empty())
      ctx.add_finding(make_finding(
          "tnef.malformed",
          "malformed TNEF stream after " + std::to_string(summary.attributes) + " attributes",
          join_errors(summary.errors)));
    if (summary.bad_checksums > 0)
      ctx.add_finding(make_finding("tnef.checksum", "TNEF attribute checksums do not match",
                                   std::to_string(summary.bad_checksums) + " attributes"));
  }
};

SANDGATE_REGISTER_UNPACKER(TnefUnpacker, {"tnef"});

}  // namespace
}  // namespace sandgate
