// Script unpacker (labels vbe, wsf, html, hta, svg): exposes what a script or
// page hides so that type detection, the analyzers and YARA see it too.
//  - Script Encoder blocks (VBE/JSE, "#@~^...^#~@") are decoded into one
//    child, "decoded-script", holding the page or script with its blocks in
//    clear text.
//  - In HTML/SVG, base64 runs of at least kMinPayloadChars characters (the
//    payload of HTML smuggling, data: URIs) are decoded; those that decode to
//    a type we know (a program, an archive, a document; not text, not an
//    inline picture) become children "base64-payload-N". Decoding streams
//    into the child, so the object and ratio limits apply.
// Reads at most kMaxText bytes of the object. Never throws for bad input.
#include <cstdint>
#include <string>

#include "unpack/script/script_decode.h"
#include "unpack/type_detect.h"
#include "unpack/unpacker.h"

namespace sandgate {

namespace {

constexpr size_t kMaxText = 32 << 20;
constexpr size_t kMinPayloadChars = 1024;
constexpr size_t kMaxPayloads = 64;
constexpr size_t kProbeBytes = 64 * 1024;  // covers the ISO 9660 descriptor at 32 KiB

// Formats whose full detection needs more than the probe (zip reads its
// central directory at the end) but whose first bytes are unambiguous.
bool known_magic(std::string_view head) {
  for (std::string_view m : {std::string_view("PK\x03\x04", 4), std::string_view("MZ"),
                             std::string_view("7z\xBC\xAF\x27\x1C", 6), std::string_view("Rar!"),
                             std::string_view("\x1F\x8B", 2), std::string_view("%PDF"),
                             std::string_view("\xD0\xCF\x11\xE0", 4), std::string_view("{\\rtf"),
                             std::string_view("\x7F" "ELF", 4), std::string_view("L\0\0\0", 4)})
    if (head.starts_with(m)) return true;
  return false;
}

bool boring(std::string_view label) {
  return label == "data" || label == "text" || label == "png" || label == "jpeg" ||
         label == "gif" || label == "webp" || label == "ico" || label == "bmp" ||
         label == "svg" || label == "tiff" || label == "xml" || label == "html";
}

int b64val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Streams the decoded run into the child in 64 KiB blocks.
void stream_base64(std::string_view run, ChildWriter& w) {
  std::string block;
  block.reserve(64 * 1024);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : run) {
    int v = b64val(static_cast<unsigned char>(ch));
    if (v < 0) {
      if (ch == '\r' || ch == '\n' || ch == ' ' || ch == '\t') continue;
      break;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      block.push_back(static_cast<char>((acc >> bits) & 0xff));
      if (block.size() == 64 * 1024) {
        if (!w.write(block.data(), block.size())) return;
        block.clear();
      }
    }
  }
  if (!block.empty()) w.write(block.data(), block.size());
}

class ScriptUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "script"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    if (!obj.bytes) return;
    std::string text = obj.bytes->read_string(0, kMaxText);
    ctx.note_input_consumed(text.size());

    std::string decoded;
    if (decode_script_encoder(text, &decoded,
                              static_cast<size_t>(std::min<uint64_t>(ctx.limits().max_object_bytes, kMaxText)))) {
      ChildInfo info;
      info.name = "decoded-script";
      auto w = ctx.begin_child(std::move(info));
      if (!w) return;
      w->write(decoded.data(), decoded.size());
      w->finish();
      if (ctx.should_stop()) return;
    }

    const std::string& label = obj.type.label;
    if (label != "html" && label != "hta" && label != "svg") return;
    size_t n = 0;
    for (const Base64Run& r : find_base64_runs(text, kMinPayloadChars, 4 * kMaxPayloads)) {
      if (n >= kMaxPayloads || ctx.should_stop()) break;
      std::string_view run = std::string_view(text).substr(r.offset, r.length);
      std::string head = decode_base64(run.substr(0, kProbeBytes), kProbeBytes);
      TypeInfo t = detect_type(*memory_source(head));
      if (boring(t.label) && !known_magic(head)) continue;
      ChildInfo info;
      info.name = "base64-payload-" + std::to_string(++n);
      auto w = ctx.begin_child(std::move(info));
      if (!w) return;
      stream_base64(run, *w);
      w->finish();
    }
  }
};

}  // namespace

SANDGATE_REGISTER_UNPACKER(ScriptUnpacker, {"vbe", "wsf", "html", "hta", "svg"});

}  // namespace sandgate
