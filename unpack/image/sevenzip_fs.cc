// NTFS, HFS+ and APFS through a confined `7zz` child process (Debian's 7zip):
// no Debian library here reads them all (libfshfs rejects what can be made
// here, see FACTS.md), and 7-Zip reads every one tried.
//
// The confinement of the child is unpack/confined_7zz.h's. The volume is
// listed first (-slt) so the declared total is checked against the limits
// before anything is extracted; the extracted tree is walked without
// following links, its names are data, 7-Zip's metadata pseudo-files
// ([SYSTEM], $MFT...) are dropped, and the scratch directory is removed
// afterwards whatever happens. Anything that goes wrong is image.unsupported
// (high): fail closed.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <string>

#include "unpack/confined_7zz.h"
#include "unpack/image/image_common.h"
#include "unpack/unpacker.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"image.unsupported", Severity::high,
     "a disk image (or a part of one) cannot be read by the engine: not inspected, fail closed"},
    {"image.hidden_file", Severity::medium,
     "a file in a disk image has the hidden or system attribute (a lure next to a hidden payload)"},
    {"image.contains_executable", Severity::high,
     "a disk image holds an executable or script (mounting it bypasses the Mark-of-the-Web)"},
    {"image.autorun", Severity::medium, "a disk image carries autorun.inf at its root"},
});

namespace image {
namespace {

// 7-Zip's views of file-system metadata, not files a user would see.
bool is_pseudo(const std::string& rel) {
  std::string first = rel.substr(0, rel.find('/'));
  return (first.size() >= 2 && first.front() == '[' && first.back() == ']') ||
         (!first.empty() && first[0] == '$');
}

const char* seven_type(std::string_view label) {
  if (label == "ntfs") return "NTFS";
  if (label == "hfs") return "HFS";
  if (label == "udf") return "Udf";
  return "APFS";
}

class SevenZipFsUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "7zz-filesystem"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    auto fail = [&](std::string why) {
      ctx.add_finding(make_finding("image.unsupported",
                                   "the " + obj.type.label + " volume could not be read: " + why,
                                   "7zz"));
    };
    // HFS+, APFS and UDF reach 7zz untested: no image of them can be made
    // with Debian 12's tools, so nothing shows that what 7zz lists is all
    // there is. The files are still extracted and scanned (analysts see
    // them), and the volume is reported unsupported so it fails closed.
    if (obj.type.label != "ntfs")
      ctx.add_finding(make_finding("image.unsupported",
                                   "the " + obj.type.label +
                                       " reader (7zz) is not verified by tests here: held for review",
                                   "7zz"));
    std::string tool = sevenzip::find_tool();
    if (tool.empty()) return fail("7zz is not installed");
    sevenzip::Scratch scratch;
    if (!scratch.ok()) return fail("no scratch directory");
    if (!sevenzip::copy_out(*obj.bytes, scratch.dir() + "/volume.img"))
      return fail("cannot write the scratch copy");
    const Limits& lim = ctx.limits();
    // What is left of the scan's time, for each run (never the whole limit again).
    double seconds = sevenzip::run_budget(ctx);
    if (seconds <= 0) return fail("the scan's time ran out before the volume was read");
    std::string type = std::string("-t") + seven_type(obj.type.label);

    sevenzip::RunResult list = sevenzip::run({tool, "l", "-slt", "-bd", type, "volume.img"},
                                             scratch.dir(), lim, seconds, true);
    if (!list.ok) return fail(list.error);
    auto listing = sevenzip::parse_listing(list.out);
    auto declared = sevenzip::declared_totals(listing, is_pseudo);
    if (!sevenzip::within_limits(declared, obj.size, lim)) {
      return fail("declares " + std::to_string(declared.files) + " files, " +
                  std::to_string(declared.bytes) + " bytes: beyond the limits");
    }
    if (::mkdir((scratch.dir() + "/out").c_str(), 0700) != 0) return fail("mkdir failed");
    seconds = sevenzip::run_budget(ctx);
    if (seconds <= 0) return fail("the scan's time ran out before the volume was extracted");
    sevenzip::RunResult x = sevenzip::run({tool, "x", "-y", "-bd", type, "-oout", "volume.img"},
                                          scratch.dir(), lim, seconds, false);
    if (!x.ok) fail(x.error);  // still emit what was extracted
    std::string executables;
    int exec_count = 0;
    sevenzip::walk_files(ctx, scratch.dir() + "/out", is_pseudo, [&](int fd, const std::string& rel) {
      emit(ctx, fd, rel, listing, executables, exec_count);
    });
    if (exec_count > 0)
      ctx.add_finding(make_finding("image.contains_executable",
                                   std::to_string(exec_count) +
                                       " file(s) in the volume start like an executable or script",
                                   executables));
  }

 private:
  void emit(UnpackContext& ctx, int fd, const std::string& rel,
            const std::map<std::string, sevenzip::Listed>& listing, std::string& executables,
            int& exec_count) {
    ChildInfo info;
    info.name = rel;
    auto it = listing.find(rel);
    bool hidden = it != listing.end() && it->second.hidden;
    if (it != listing.end()) info.declared_size = static_cast<int64_t>(it->second.size);
    if (rel.find('/') == std::string::npos && rel.size() == 11 &&
        std::equal(rel.begin(), rel.end(), "autorun.inf",
                   [](char a, char b) { return std::tolower((unsigned char)a) == b; }))
      ctx.add_finding(make_finding("image.autorun", "autorun.inf at the root of the volume"));
    auto child = ctx.begin_child(std::move(info));
    if (!child) return;
    if (hidden)
      child->add_finding(make_finding("image.hidden_file", "hidden or system attribute on a file in a " +
                                                              std::string("volume"), rel));
    sevenzip::stream_into(fd, *child, [&](std::string_view head) {
      if (looks_executable(*memory_source(std::string(head.substr(0, 4)))) && ++exec_count <= 8)
        executables += (executables.empty() ? "" : ", ") + rel;
    });
    child->finish();
  }
};

SANDGATE_REGISTER_UNPACKER(SevenZipFsUnpacker, {"ntfs", "hfs", "apfs", "udf"});

}  // namespace
}  // namespace image
}  // namespace sandgate
