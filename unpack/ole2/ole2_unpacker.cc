// OLE2 unpacker: the streams of a compound file that carry a file of their
// own become child objects, so every analyzer and the policy see them:
//   \x01Ole10Native   an embedded "Package" object: the file it wraps, under
//                     its declared name (Packager.exe's label)
//   Package           an embedded OOXML document (Word/Excel/PowerPoint)
//   CONTENTS          an embedded PDF or other "Contents" object
//   any other stream  whose first bytes are a known container or executable
//                     (MZ, PK, %PDF, a nested compound file, RTF): payloads
//                     hidden under innocent stream names
// VBA projects and workbook records are read by the Office analyzer, not here
// (they are facts about this object, not children).
//
// Guarantees: every stream is read through cfb::CompoundFile (bounded,
// loop-checked); a damaged file is the finding ole2.malformed with what could
// still be read emitted.
#include <string>
#include <vector>

#include "unpack/ascii.h"
#include "unpack/ole2/cfb.h"
#include "unpack/ole2/ole_native.h"
#include "unpack/unpacker.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"ole2.malformed", Severity::medium,
     "the compound file structure is damaged (broken sector chains, loops, bad header)"},
});

namespace {

// Streams that hold the document itself or its metadata: never a payload of
// their own, so their heads are not even looked at.
bool is_document_stream(std::string_view name) {
  static constexpr std::string_view kKnown[] = {
      "WordDocument", "1Table", "0Table", "Workbook", "Book", "PowerPoint Document",
      "Current User", "dir", "_VBA_PROJECT", "PROJECT", "PROJECTwm", "EncryptedPackage",
      "EncryptionInfo", "\x01" "CompObj", "\x03" "ObjInfo", "\x01" "Ole", "\x05" "SummaryInformation",
      "\x05" "DocumentSummaryInformation"};
  for (auto k : kKnown)
    if (ascii_iequals(name, k)) return true;
  return false;
}

// A stream starting like a file worth unpacking or flagging on its own.
bool looks_like_payload(std::string_view head) {
  return head.starts_with("MZ") || head.starts_with("PK\x03\x04") || head.starts_with("%PDF") ||
         head.starts_with("{\\rt") || head.starts_with("\x7F" "ELF") ||
         cfb::has_cfb_signature(head);
}

class Ole2Unpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "ole2"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    std::string error;
    auto file = cfb::CompoundFile::open(obj.bytes, &error);
    if (!file) {
      ctx.add_finding(make_finding("ole2.malformed", "compound file unreadable", error));
      return;
    }
    std::string problems;
    for (const auto& p : file->problems()) problems += (problems.empty() ? "" : "; ") + p;
    if (!problems.empty())
      ctx.add_finding(make_finding("ole2.malformed", "compound file structure is damaged", problems));

    const uint64_t max_bytes = ctx.limits().max_object_bytes;
    const auto& entries = file->entries();
    for (const cfb::DirEntry& e : entries) {
      if (ctx.should_stop()) return;
      if (!e.reachable || !e.is_stream() || e.size == 0) continue;
      if (ascii_iequals(e.name, "\x01Ole10Native")) {
        if (!emit_native(*file, e, max_bytes, ctx)) return;
      } else if (ascii_iequals(e.name, "Package") || ascii_iequals(e.name, "CONTENTS")) {
        if (!emit_stream(*file, e, e.name, max_bytes, ctx)) return;
      } else if (!is_document_stream(e.name)) {
        std::string head = file->read_stream(e, 8);
        if (looks_like_payload(head) && !emit_stream(*file, e, e.path, max_bytes, ctx)) return;
      }
    }
  }

 private:
  // Streams the stream's bytes into a child. Returns false when the scan must stop.
  static bool emit_stream(const cfb::CompoundFile& file, const cfb::DirEntry& e,
                          const std::string& child_name, uint64_t max_bytes, UnpackContext& ctx) {
    ChildInfo info;
    info.name = child_name;
    info.declared_size = static_cast<int64_t>(std::min<uint64_t>(e.size, INT64_MAX));
    auto child = ctx.begin_child(std::move(info));
    if (!child) return false;
    // One more byte than allowed so that the engine sees the limit and says so.
    bool ok = file.read_stream(e, max_bytes + 1, [&child](std::string_view chunk) {
      return child->write(chunk.data(), chunk.size());
    });
    if (!ok)
      child->add_finding(make_finding("ole2.malformed", "stream chain is broken; bytes cut short",
                                      e.path));
    child->finish();
    return !ctx.should_stop();
  }

  static bool emit_native(const cfb::CompoundFile& file, const cfb::DirEntry& e,
                          uint64_t max_bytes, UnpackContext& ctx) {
    bool complete = true;
    std::string bytes = file.read_stream(e, max_bytes + 4096, &complete);
    auto pkg = ole::parse_native_package(bytes, /*with_size_prefix=*/true);
    if (!pkg) {
      // Not the usual layout: hand the whole stream on so it is still typed.
      return emit_stream(file, e, "Ole10Native", max_bytes, ctx);
    }
    ChildInfo info;
    info.name = pkg->file_name();
    if (info.name.empty()) info.name = "Ole10Native";
    info.declared_size = static_cast<int64_t>(pkg->data.size());
    auto child = ctx.begin_child(std::move(info));
    if (!child) return false;
    child->write(pkg->data.data(), pkg->data.size());
    if (pkg->data_truncated || !complete)
      child->add_finding(make_finding("ole2.malformed", "embedded package is cut short",
                                      pkg->source_path));
    child->finish();
    return !ctx.should_stop();
  }
};

SANDGATE_REGISTER_UNPACKER(Ole2Unpacker, {"ole2"});

}  // namespace
}  // namespace sandgate
