// BinHex unpacker (label "binhex": a text whose first 4 KiB hold the BinHex
// 4.0 banner, or that starts with BinHex data; e.g. a .hqx attachment however
// it was transfer-encoded, or a .hqx inside an archive): the data fork of each BinHex file in it becomes a
// child named from the BinHex header, so a program carried this way reaches
// the analyzers and the policy. Decoding and findings (mime.binhex.crc,
// mime.binhex.malformed) are scan_binhex's (mime_binhex.h); a BinHex banner
// deeper inside a mail's text part is found by the MIME unpacker instead.
#include <algorithm>

#include "unpack/mime/mime_binhex.h"
#include "unpack/unpacker.h"

namespace sandgate {
namespace {

// As many files as one text plausibly carries; the engine's object limit
// still applies to each.
constexpr size_t kMaxBinHexFiles = 64;

class BinHexUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "binhex"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    if (!obj.bytes) return;
    bool stop = false;
    const size_t max_files =
        static_cast<size_t>(std::min<uint64_t>(kMaxBinHexFiles, ctx.limits().max_objects));
    // Typed by its data alone (no banner): a line starting with ':' starts a file.
    const bool banner = has_binhex_banner(obj.bytes->read_string(0, 4096));
    scan_binhex(*obj.bytes, ctx, max_files, /*banner_optional=*/!banner, obj.path, &stop);
  }
};

}  // namespace

SANDGATE_REGISTER_UNPACKER(BinHexUnpacker, {"binhex"});

}  // namespace sandgate
