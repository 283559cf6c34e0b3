// Unpacker for FAT12/16/32 volumes (label "fat"): every file becomes a child
// named by its full path in the volume. Hidden/system files are copied into
// their own child so they can carry image.hidden_file; the others are emitted
// as extent views of the volume. Also reports autorun.inf at the root and any
// file that starts like an executable (image.contains_executable).
#include <algorithm>
#include <cctype>
#include <string>

#include "unpack/image/fat_reader.h"
#include "unpack/image/image_common.h"
#include "unpack/unpacker.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"image.hidden_file", Severity::medium,
     "a file in a disk image has the hidden or system attribute (a lure next to a hidden payload)"},
    {"image.autorun", Severity::medium, "a disk image carries autorun.inf at its root"},
    {"image.contains_executable", Severity::high,
     "a disk image holds an executable or script (mounting it bypasses the Mark-of-the-Web)"},
    {"image.malformed", Severity::high,
     "a disk image's structure is inconsistent (out-of-range or looping references, truncation): "
     "parts of it may be hidden from the scan"},
});

namespace image {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Copies a source into a child that can carry findings.
bool copy_child(UnpackContext& ctx, ChildInfo info, ByteSourcePtr src, Finding f) {
  auto child = ctx.begin_child(std::move(info));
  if (!child) return false;
  child->add_finding(std::move(f));
  SourceStream in(std::move(src));
  for (;;) {
    auto chunk = in.next_chunk();
    if (chunk.empty() || !child->write(chunk.data(), chunk.size())) break;
  }
  child->finish();
  return !ctx.should_stop();
}

class FatUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "fat"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    std::string executables;
    int exec_count = 0;
    FatWalkLimits limits;
    limits.max_entries = std::max<uint64_t>(ctx.limits().max_objects * 8, 4096);
    FatWalk walk = walk_fat(obj.bytes, [&](FatFile& f) {
      if (ctx.should_stop()) return false;
      if (iequals(f.path, "autorun.inf"))
        ctx.add_finding(make_finding("image.autorun", "autorun.inf at the root of the volume"));
      if (looks_executable(*f.bytes) && ++exec_count <= 8)
        executables += (executables.empty() ? "" : ", ") + f.path;
      ChildInfo info;
      info.name = f.path;
      info.declared_size = f.declared_size;
      if (f.hidden) {
        return copy_child(ctx, std::move(info), f.bytes,
                          make_finding("image.hidden_file",
                                       "hidden or system attribute on a file in a FAT volume",
                                       f.path));
      }
      return ctx.emit_child(std::move(info), f.bytes);
    }, limits);
    for (auto& finding : walk.findings) ctx.add_finding(std::move(finding));
    if (exec_count > 0) {
      ctx.add_finding(make_finding("image.contains_executable",
                                   std::to_string(exec_count) +
                                       " file(s) in the volume start like an executable or script",
                                   executables));
    }
  }
};

SANDGATE_REGISTER_UNPACKER(FatUnpacker, {"fat"});

}  // namespace
}  // namespace image
}  // namespace sandgate
