// libmagic as the last resort, for content none of our own checks decided.
// One magic_t per thread, opened and loaded on first use and kept for the
// thread's life (magic_open + magic_load cost ~30 us; a handle is not safe to
// share between threads). Each call costs 0.2-3 ms, so callers reach this
// only after every precise check failed; it sees at most the first 16 KiB.
// Decompression inside libmagic is off (MAGIC_NO_CHECK_COMPRESS): we never
// want it to inflate hostile data.
//
// The compiled database is read once per process and every thread's handle
// is loaded from that one buffer (magic_load_buffers): magic_load maps
// magic.mgc again for each thread, 5.8 MB of resident mapping per scan
// thread (100 SMTP sessions counted 350 MB of RSS, mostly this).
#include <magic.h>

#include <fstream>
#include <iterator>
#include <mutex>
#include <string>

#include "unpack/type/probe.h"

namespace sandgate::type_detail {
namespace {

// The compiled database libmagic would load by default (the first ".mgc" of
// its search path, which $MAGIC may set), read once; empty if none.
const std::string& shared_database() {
  static std::string db;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* path = magic_getpath(nullptr, 0);
    std::string list = path ? path : "";
    size_t start = 0;
    while (start <= list.size()) {
      size_t colon = list.find(':', start);
      std::string one = list.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      start = colon == std::string::npos ? list.size() + 1 : colon + 1;
      for (const std::string& candidate : {one, one + ".mgc"}) {
        if (candidate.size() < 4 || candidate.compare(candidate.size() - 4, 4, ".mgc") != 0) continue;
        std::ifstream f(candidate, std::ios::binary);
        if (!f) continue;
        std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        if (data.size() < 8 || data.size() > (256u << 20)) continue;
        db = std::move(data);
        return;
      }
    }
  });
  return db;
}

class MagicHandle {
 public:
  MagicHandle() {
    cookie_ = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);
    if (!cookie_) return;
    const std::string& db = shared_database();
    if (!db.empty()) {
      // libmagic only reads a database in the machine's byte order in place.
      void* buffers[1] = {const_cast<char*>(db.data())};
      size_t sizes[1] = {db.size()};
      if (magic_load_buffers(cookie_, buffers, sizes, 1) == 0) return;
    }
    if (magic_load(cookie_, nullptr) != 0) {
      magic_close(cookie_);
      cookie_ = nullptr;
    }
  }
  ~MagicHandle() {
    if (cookie_) magic_close(cookie_);
  }
  MagicHandle(const MagicHandle&) = delete;
  MagicHandle& operator=(const MagicHandle&) = delete;
  magic_t get() const { return cookie_; }

 private:
  magic_t cookie_ = nullptr;
};

constexpr size_t kMagicBytes = 16 * 1024;

struct MimeLabel {
  std::string_view mime;
  std::string_view label;
};

// libmagic 5.44 MIME names mapped to our labels. Only where libmagic knows
// more than our own checks: text formats in legacy 8-bit charsets (which our
// text checks leave alone) and archive variants we do not test for. Formats
// we check precisely (PE, ELF, Mach-O, gzip, tar, images ...) are absent on
// purpose: when our check said no, libmagic saying yes on the same magic
// must not undo it, so those keep libmagic's MIME under the label "data".
constexpr MimeLabel kMap[] = {
    {"application/x-rar", "rar"},
    {"application/vnd.rar", "rar"},
    {"application/x-lha", "lha"},
    {"application/x-lharc", "lha"},
    {"application/x-lzh-compressed", "lha"},
    {"application/x-arj", "arj"},
    {"text/html", "html"},
    {"image/svg+xml", "svg"},
    {"text/xml", "xml"},
    {"application/xml", "xml"},
    {"message/rfc822", "eml"},
    {"text/x-shellscript", "script"},
    {"text/x-msdos-batch", "bat"},
};

}  // namespace

std::string label_for_magic_mime(std::string_view mime) {
  for (const MimeLabel& m : kMap)
    if (m.mime == mime) return std::string(m.label);
  return mime.starts_with("text/") ? "text" : "data";
}

std::optional<TypeInfo> detect_with_libmagic(std::string_view head) {
  thread_local MagicHandle handle;
  if (!handle.get() || head.empty()) return std::nullopt;
  // 16 KiB: libmagic's cost grows with the buffer (~1 ms at 16 KiB, ~2.5 ms at
  // 64 KiB on our machines), and the far-offset formats (ISO/UDF at 32 KiB)
  // are ours already.
  head = head.substr(0, kMagicBytes);
  const char* mime = magic_buffer(handle.get(), head.data(), head.size());
  if (!mime || !*mime) return std::nullopt;
  std::string_view m(mime);
  // Keep only a sane type/subtype token.
  if (m.size() > 128 || m.find('/') == std::string_view::npos) return std::nullopt;
  for (char c : m)
    if (static_cast<uint8_t>(c) <= 32 || static_cast<uint8_t>(c) > 126) return std::nullopt;
  TypeInfo t;
  t.label = label_for_magic_mime(m);
  t.mime = std::string(m);
  return t;
}

}  // namespace sandgate::type_detail
