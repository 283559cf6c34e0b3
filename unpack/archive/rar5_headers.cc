// RAR 5 block-header walker (see rar5_headers.h).
#include "unpack/archive/rar5_headers.h"

#include <string_view>

#include "unpack/cursor.h"
#include "unpack/image/image_common.h"

namespace sandgate {
namespace {

constexpr std::string_view kSignature("Rar!\x1a\x07\x01\x00", 8);

enum : uint64_t {
  kTypeFile = 2,
  kTypeService = 3,
  kTypeArchiveEncryption = 4,
  kTypeEnd = 5,
};
enum : uint64_t {
  kFlagExtra = 0x01,
  kFlagData = 0x02,
};
enum : uint64_t {
  kFileUnixTime = 0x02,
  kFileCrc = 0x04,
};
constexpr uint64_t kExtraEncryption = 0x01;

// A RAR vint: 7 bits per byte, low first, high bit set on all but the last;
// at most 10 bytes. False on a truncated or overlong one.
bool vint(ByteCursor& c, uint64_t* out) {
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (!c.has(1)) return false;
    uint8_t b = c.u8();
    v |= uint64_t(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

// True when the extra area holds an encryption record.
bool has_encryption_record(std::string_view extra) {
  ByteCursor c(extra);
  while (c.remaining() > 0) {
    uint64_t size = 0, type = 0;
    if (!vint(c, &size) || size == 0 || size > c.remaining()) return false;
    ByteCursor rec(c.bytes(static_cast<size_t>(size)));
    if (!vint(rec, &type)) return false;
    if (type == kExtraEncryption) return true;
  }
  return false;
}

}  // namespace

Rar5Encryption read_rar5_encryption(const ByteSource& src, size_t max_blocks) {
  Rar5Encryption r;
  const uint64_t total = src.size();
  if (src.read_string(0, kSignature.size()) != kSignature) return r;
  r.rar5 = true;
  uint64_t pos = kSignature.size();
  std::string head;
  while (r.blocks < max_blocks && pos < total) {
    // CRC32 and the header size's vint (up to 3 bytes for sizes below 2 MiB).
    std::string start = src.read_string(pos, 4 + 3);
    ByteCursor sc(start);
    uint32_t crc = sc.u32le();
    uint64_t size = 0;
    if (sc.failed() || !vint(sc, &size) || size < 2 || size > kRar5MaxHeader) {
      r.damaged = true;
      break;
    }
    const uint64_t sized_at = pos + 4, body_at = pos + sc.offset();
    if (size > total - body_at) {
      r.damaged = true;
      break;
    }
    head = src.read_string(sized_at, static_cast<size_t>(body_at - sized_at + size));
    if (head.size() != body_at - sized_at + size ||
        image::crc32_ieee(head) != crc) {
      r.damaged = true;
      break;
    }
    ++r.blocks;
    ByteCursor h(std::string_view(head).substr(static_cast<size_t>(body_at - sized_at)));
    uint64_t type = 0, flags = 0, extra_size = 0, data_size = 0;
    if (!vint(h, &type) || !vint(h, &flags) || ((flags & kFlagExtra) && !vint(h, &extra_size)) ||
        ((flags & kFlagData) && !vint(h, &data_size)) || extra_size > h.remaining()) {
      r.damaged = true;
      break;
    }
    if (type == kTypeArchiveEncryption) {
      r.headers_encrypted = true;
      break;
    }
    if (type == kTypeEnd) break;
    if (type == kTypeFile || type == kTypeService) {
      std::string_view extra;
      if (extra_size > 0) {
        ByteCursor tail = h;
        tail.skip(h.remaining() - static_cast<size_t>(extra_size));
        extra = tail.bytes(static_cast<size_t>(extra_size));
      }
      uint64_t file_flags = 0, unpacked = 0, attributes = 0, method = 0, host = 0, name_len = 0;
      bool ok = vint(h, &file_flags) && vint(h, &unpacked) && vint(h, &attributes);
      if (ok && (file_flags & kFileUnixTime)) ok = h.skip(4);
      if (ok && (file_flags & kFileCrc)) ok = h.skip(4);
      // The fields must end where the extra area begins.
      ok = ok && vint(h, &method) && vint(h, &host) && vint(h, &name_len) &&
           h.remaining() >= extra_size && name_len <= h.remaining() - static_cast<size_t>(extra_size);
      if (!ok) {
        r.damaged = true;
        break;
      }
      std::string name(h.bytes(static_cast<size_t>(name_len)));
      if (type == kTypeFile && has_encryption_record(extra)) r.encrypted_files.insert(std::move(name));
    }
    // The next block follows this header and its data area.
    const uint64_t next = body_at + size;
    if (data_size > total - next) {
      r.damaged = true;
      break;
    }
    pos = next + data_size;
  }
  return r;
}

}  // namespace sandgate
