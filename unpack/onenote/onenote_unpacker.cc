// OneNote unpacker (label "onenote"): every FileDataStoreObject ([MS-ONESTORE]
// 2.6.13: guidHeader {BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}, cbLength,
// unused, reserved, FileData, padding to 8 bytes, guidFooter
// {71FBA722-0F79-4A0B-BB13-899256426B24}) becomes a child object without
// copying (a window of the .one file). The objects are found by their header
// GUID rather than by walking the file node lists: attackers hand-edit .one
// files, and a structure walk that gives up early would miss what OneNote
// still shows. Each embedded file is the finding onenote.embedded_file (high;
// OneNote "attachments" are how scripts and programs were delivered in 2023);
// embedded pictures are onenote.embedded_image (info). A length that runs
// past the end, or a missing footer, is onenote.malformed.
#include <algorithm>
#include <cstring>
#include <string>

#include "unpack/type_detect.h"
#include "unpack/unpacker.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"onenote.embedded_file", Severity::high, "the OneNote file carries an embedded file"},
    {"onenote.embedded_image", Severity::info, "the OneNote file carries an embedded picture"},
    {"onenote.malformed", Severity::medium,
     "a OneNote file data object is truncated or lacks its footer"},
});

namespace {

constexpr char kHeader[] = "\xE7\x16\xE3\xBD\x65\x26\x11\x45\xA4\xC4\x8D\x4D\x0B\x7A\x9E\xAC";
constexpr char kFooter[] = "\x22\xA7\xFB\x71\x79\x0F\x0B\x4A\xBB\x13\x89\x92\x56\x42\x6B\x24";
constexpr size_t kGuid = 16;
constexpr size_t kFixed = kGuid + 8 + 4 + 8;  // header GUID, cbLength, unused, reserved
constexpr size_t kBlock = 1 << 20;
constexpr size_t kMaxObjects = 4096;

bool is_picture(std::string_view label) {
  return label == "png" || label == "jpeg" || label == "gif" || label == "bmp" ||
         label == "tiff" || label == "webp" || label == "ico";
}

class OneNoteUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "onenote"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    if (!obj.bytes) return;
    const ByteSource& src = *obj.bytes;
    const uint64_t size = src.size();
    std::string buf;
    size_t count = 0;
    for (uint64_t block = 0; block < size && !ctx.should_stop();) {
      // Each block overlaps the next by kGuid - 1 bytes so no GUID is split.
      buf = src.read_string(block, kBlock + kGuid - 1);
      if (buf.size() < kGuid) break;
      size_t at = 0;
      uint64_t next = block + kBlock;
      for (;;) {
        const void* p = memmem(buf.data() + at, buf.size() - at, kHeader, kGuid);
        if (!p) break;
        size_t rel = static_cast<size_t>(static_cast<const char*>(p) - buf.data());
        if (rel >= kBlock) break;  // the next block will see it whole
        if (count == kMaxObjects) {
          // Not read: a limit, so that the policy's on_limit decides (a
          // silent cap would let the objects past it through unseen).
          ctx.add_finding(make_finding("limits.objects",
                                       "more embedded files than the limit; the rest were not read",
                                       std::to_string(kMaxObjects) + " read"));
          return;
        }
        uint64_t obj_off = block + rel;
        if (!emit(obj, ctx, obj_off, ++count)) return;
        at = rel + 1;
      }
      ctx.note_input_consumed(std::min(size, next));
      block = next;
    }
  }

 private:
  // Returns false when the scan must stop.
  static bool emit(const Object& obj, UnpackContext& ctx, uint64_t off, size_t n) {
    const ByteSource& src = *obj.bytes;
    const uint64_t size = src.size();
    std::string fixed = src.read_string(off, kFixed);
    const std::string where = "offset " + std::to_string(off);
    if (fixed.size() < kFixed) {
      ctx.add_finding(make_finding("onenote.malformed", "file data object header is truncated", where));
      return true;
    }
    uint64_t len = 0;
    for (int i = 0; i < 8; ++i) len |= uint64_t(static_cast<unsigned char>(fixed[kGuid + i])) << (8 * i);
    const uint64_t data_off = off + kFixed;
    bool truncated = len > size - data_off;
    if (truncated) {
      ctx.add_finding(make_finding("onenote.malformed", "cbLength runs past the end of the file",
                                   where + ", cbLength " + std::to_string(len)));
      len = size - data_off;
    } else {
      uint64_t footer = data_off + ((len + 7) & ~uint64_t(7));
      if (src.read_string(footer, kGuid) != std::string_view(kFooter, kGuid))
        ctx.add_finding(make_finding("onenote.malformed", "file data object footer GUID missing", where));
    }
    ByteSourcePtr bytes = slice_source(obj.bytes, data_off, len);
    TypeInfo t = detect_type(*bytes);
    const std::string ev = where + ", " + std::to_string(len) + " bytes, " + t.label;
    if (is_picture(t.label))
      ctx.add_finding(make_finding("onenote.embedded_image", "embedded picture", ev));
    else
      ctx.add_finding(make_finding("onenote.embedded_file", "embedded file", ev));
    ChildInfo info;
    info.name = "embedded-" + std::to_string(n);
    info.declared_size = static_cast<int64_t>(len);
    return ctx.emit_child(std::move(info), std::move(bytes));
  }
};

}  // namespace

SANDGATE_REGISTER_UNPACKER(OneNoteUnpacker, {"onenote"});

}  // namespace sandgate
