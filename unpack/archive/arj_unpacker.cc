// ARJ archives (label "arj") through the confined `7zz` child process
// (unpack/confined_7zz.h): libarchive has no ARJ reader, and 7-Zip (like
// WinRAR, which mail recipients open them with) reads ARJ. Malspam has used
// .arj attachments precisely because gateways let them through unopened.
//
// The archive is listed first (-slt) and the declared totals are checked
// against the limits before anything is extracted; the extracted tree is
// walked without following links and its names are data. Anything that goes
// wrong is unpack.error (an engine error: the policy's on_error decides), and
// what was extracted is still emitted.
#include <sys/stat.h>

#include <string>

#include "unpack/confined_7zz.h"
#include "unpack/unpacker.h"

namespace sandgate {
namespace {

class ArjUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "arj"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    if (!obj.bytes) return;
    auto fail = [&](const std::string& why) {
      ctx.add_finding(make_finding("unpack.error", "the ARJ archive could not be read: " + why, "7zz"));
    };
    std::string tool = sevenzip::find_tool();
    if (tool.empty()) return fail("7zz is not installed");
    sevenzip::Scratch scratch;
    if (!scratch.ok()) return fail("no scratch directory");
    if (!sevenzip::copy_out(*obj.bytes, scratch.dir() + "/archive.arj"))
      return fail("cannot write the scratch copy");
    const Limits& lim = ctx.limits();
    // What is left of the scan's time, for each run (never the whole limit again).
    double seconds = sevenzip::run_budget(ctx);
    if (seconds <= 0) return fail("the scan's time ran out before the archive was read");
    sevenzip::RunResult list = sevenzip::run({tool, "l", "-slt", "-bd", "-tArj", "archive.arj"},
                                             scratch.dir(), lim, seconds, true);
    if (!list.ok) return fail(list.error);
    auto listing = sevenzip::parse_listing(list.out);
    auto declared = sevenzip::declared_totals(listing);
    if (!sevenzip::within_limits(declared, obj.size, lim))
      return fail("declares " + std::to_string(declared.files) + " files, " +
                  std::to_string(declared.bytes) + " bytes: beyond the limits");
    if (::mkdir((scratch.dir() + "/out").c_str(), 0700) != 0) return fail("mkdir failed");
    seconds = sevenzip::run_budget(ctx);
    if (seconds <= 0) return fail("the scan's time ran out before the archive was extracted");
    // -aou: two entries of one name are both kept (the second renamed), so a
    // payload cannot hide behind a later entry of the same name.
    sevenzip::RunResult x = sevenzip::run({tool, "x", "-bd", "-aou", "-tArj", "-oout", "archive.arj"},
                                          scratch.dir(), lim, seconds, false);
    if (!x.ok) fail(x.error);  // still emit what was extracted
    uint64_t emitted = sevenzip::emit_extracted(ctx, scratch.dir() + "/out", listing);
    if (emitted == 0 && declared.files > 0)
      fail("7zz listed " + std::to_string(declared.files) + " files and extracted none");
  }
};

SANDGATE_REGISTER_UNPACKER(ArjUnpacker, {"arj"});

}  // namespace
}  // namespace sandgate
