// TNEF attribute stream reader (see tnef_reader.h). Layout, MS-OXTNEF 2.1.3:
//   TNEFVersion: Signature u32 (0x223E9F78), LegacyKey u16
//   then attributes: AttrLevel u8, ID u32, Length u32, Data[Length], Checksum u16
// where Checksum is the sum of the data bytes modulo 65536 (2.1.3.2).
// attAttachRenddata starts an attachment; attAttachTitle, attAttachData and
// attAttachment (a MAPI property list, 2.1.3.5) that follow belong to it.
#include "unpack/tnef/tnef_reader.h"

#include <algorithm>
#include <array>

#include "unpack/cursor.h"
#include "unpack/mime/mime_header.h"

namespace sandgate::tnef {

namespace {

constexpr size_t kMaxErrors = 8;
constexpr size_t kMaxStringBytes = 4096;  // names are capped far below this
constexpr uint64_t kMaxCodepage = 65535;

// Bounded sequential reads of a window [begin, end) of a ByteSource. Fixed
// fields are read into a small buffer and decoded with ByteCursor; a read
// past the window fails and sets failed(), like ByteCursor itself.
class RangeReader {
 public:
  RangeReader(const ByteSource& src, uint64_t begin, uint64_t end)
      : src_(src), pos_(begin), end_(std::min(end, src.size())) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return pos_ < end_ ? end_ - pos_ : 0; }
  bool failed() const { return failed_; }
  bool has(uint64_t n) const { return n <= remaining(); }

  uint8_t u8() { return static_cast<uint8_t>(field(1)); }
  uint16_t u16() { return static_cast<uint16_t>(field(2)); }
  uint32_t u32() { return static_cast<uint32_t>(field(4)); }
  bool skip(uint64_t n) {
    if (!has(n)) return fail();
    pos_ += n;
    return true;
  }
  // Reads n bytes, keeping at most keep of them (the rest is skipped).
  std::string bytes(uint64_t n, size_t keep) {
    if (!has(n)) {
      fail();
      return {};
    }
    std::string out = src_.read_string(pos_, static_cast<size_t>(std::min<uint64_t>(n, keep)));
    pos_ += n;
    return out;
  }

 private:
  bool fail() {
    failed_ = true;
    pos_ = end_;
    return false;
  }
  uint64_t field(size_t n) {
    std::array<char, 8> buf{};
    if (!has(n) || src_.read_at(pos_, buf.data(), n) != n) {
      fail();
      return 0;
    }
    pos_ += n;
    ByteCursor c(buf.data(), n);
    return n == 1 ? c.u8() : n == 2 ? c.u16le() : c.u32le();
  }

  const ByteSource& src_;
  uint64_t pos_;
  uint64_t end_;
  bool failed_ = false;
};

// Bytes up to the first NUL (strings in TNEF are NUL-terminated).
std::string_view until_nul(std::string_view s) {
  size_t nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

std::string utf16_until_nul(std::string_view s) {
  size_t n = 0;
  while (n + 1 < s.size() && (s[n] != '\0' || s[n + 1] != '\0')) n += 2;
  return to_utf8("UTF-16LE", s.substr(0, n));
}

// Size of one value of a fixed-size property type (MS-OXCDATA 2.11.1), as
// stored in TNEF (2-byte values padded to 4); 0 for variable-length types,
// -1 for types we cannot size.
int fixed_size(uint16_t type) {
  switch (type) {
    case 0x0002:  // PT_SHORT
    case 0x0003:  // PT_LONG
    case 0x0004:  // PT_FLOAT
    case 0x000A:  // PT_ERROR
    case 0x000B:  // PT_BOOLEAN
      return 4;
    case 0x0005:  // PT_DOUBLE
    case 0x0006:  // PT_CURRENCY
    case 0x0007:  // PT_APPTIME
    case 0x0014:  // PT_I8
    case 0x0040:  // PT_SYSTIME
      return 8;
    case 0x0048:  // PT_CLSID
      return 16;
    case 0x001E:  // PT_STRING8
    case 0x001F:  // PT_UNICODE
    case 0x0102:  // PT_BINARY
    case 0x000D:  // PT_OBJECT
      return 0;
    default:
      return -1;
  }
}

uint64_t pad4(uint64_t n) { return (4 - (n & 3)) & 3; }

class Walker {
 public:
  Walker(const ByteSource& src, const TnefOptions& opt, const TnefAttachmentSink& sink)
      : src_(src), opt_(opt), sink_(sink) {}

  TnefSummary run() {
    const uint64_t size = src_.size();
    RangeReader head(src_, 0, size);
    uint32_t sig = head.u32();
    head.u16();  // LegacyKey: not used by anything we check
    if (head.failed() || sig != kSignature) {
      error("no TNEF signature");
      return sum_;
    }
    sum_.signature_ok = true;
    uint64_t pos = head.pos();
    while (pos < size && !stop_) {
      if (sum_.attributes >= opt_.max_attributes) {
        sum_.too_many = true;
        error("more than " + std::to_string(opt_.max_attributes) + " attributes");
        break;
      }
      RangeReader r(src_, pos, size);
      uint8_t level = r.u8();
      uint32_t id = r.u32();
      uint32_t length = r.u32();
      if (r.failed()) {
        sum_.truncated = true;
        error("truncated attribute header at offset " + std::to_string(pos));
        break;
      }
      uint64_t data = r.pos();
      // The data and its 2-byte checksum must both fit in what is left.
      if (!r.has(uint64_t{length} + 2)) {
        sum_.truncated = true;
        error("attribute 0x" + hex32(id) + " at offset " + std::to_string(pos) + " declares " +
              std::to_string(length) + " bytes, " + std::to_string(r.remaining()) + " left");
        break;
      }
      r.skip(length);
      uint16_t stored = r.u16();
      if (checksum(data, length) != stored) ++sum_.bad_checksums;
      pos = r.pos();
      sum_.consumed = pos;
      ++sum_.attributes;
      attribute(level, id, data, length);
    }
    flush();
    return sum_;
  }

 private:
  static std::string hex32(uint32_t v) {
    static const char* kHex = "0123456789abcdef";
    std::string s(8, '0');
    for (int i = 7; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = kHex[v & 15];
    return s;
  }

  void error(std::string what) {
    if (sum_.errors.size() < kMaxErrors) sum_.errors.push_back(std::move(what));
  }

  uint16_t checksum(uint64_t offset, uint64_t length) const {
    uint32_t sum = 0;
    std::array<char, 16 * 1024> buf;
    while (length > 0) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(length, buf.size()));
      size_t got = src_.read_at(offset, buf.data(), want);
      if (got == 0) break;
      for (size_t i = 0; i < got; ++i) sum += static_cast<uint8_t>(buf[i]);
      offset += got;
      length -= got;
    }
    return static_cast<uint16_t>(sum & 0xFFFF);
  }

  void attribute(uint8_t level, uint32_t id, uint64_t data, uint32_t length) {
    if (level == kLevelMessage) {
      if (id == kAttOemCodepage && length >= 4) {
        RangeReader r(src_, data, data + length);
        uint32_t cp = r.u32();
        if (!r.failed() && cp > 0 && cp <= kMaxCodepage) codepage_ = "CP" + std::to_string(cp);
      }
      return;
    }
    if (level != kLevelAttachment) {
      error("unknown attribute level " + std::to_string(level) + " at offset " +
            std::to_string(data - 9));
      return;
    }
    if (id == kAttAttachRenddata) {
      flush();
      start();
      return;
    }
    if (!open_) start();  // attachment attributes without attAttachRenddata
    switch (id) {
      case kAttAttachTitle:
        current_.title = display_name(
            to_utf8(codepage_,
                    until_nul(src_.read_string(data, std::min<size_t>(length, kMaxStringBytes)))));
        break;
      case kAttAttachData:
        current_.has_data = true;
        current_.embedded_object = false;
        current_.data = {data, length};
        data_from_attribute_ = true;
        break;
      case kAttAttachment:
        properties(data, length);
        break;
      default:
        break;
    }
  }

  void start() {
    current_ = TnefAttachment();
    current_.index = ++index_;
    data_from_attribute_ = false;
    open_ = true;
  }

  void flush() {
    if (!open_) return;
    open_ = false;
    if (!current_.has_data) return;  // a name without bytes: nothing to inspect
    if (sum_.attachments >= opt_.max_attachments) {
      sum_.too_many = true;
      error("more than " + std::to_string(opt_.max_attachments) + " attachments");
      stop_ = true;
      return;
    }
    ++sum_.attachments;
    if (!sink_(current_)) stop_ = true;
  }

  // MS-OXTNEF 2.1.3.5 MsgPropertyList: Count u32, then for each property a
  // tag (type u16, id u16), a name for named properties (id >= 0x8000), and
  // the value(s).
  void properties(uint64_t data, uint32_t length) {
    RangeReader r(src_, data, data + length);
    uint32_t count = r.u32();
    if (r.failed()) {
      error("attAttachment too short for a property count");
      return;
    }
    // Each property takes at least 4 bytes: a count larger than that can hold is a lie.
    if (count > r.remaining() / 4 || count > opt_.max_properties) {
      error("attAttachment declares " + std::to_string(count) + " properties in " +
            std::to_string(length) + " bytes");
      count = static_cast<uint32_t>(
          std::min<uint64_t>({uint64_t{count}, r.remaining() / 4, uint64_t{opt_.max_properties}}));
    }
    for (uint32_t i = 0; i < count; ++i) {
      if (!property(r)) {
        sum_.truncated = true;
        error("MAPI property " + std::to_string(i) + " of attachment " +
              std::to_string(current_.index) + " is malformed");
        return;
      }
    }
  }

  bool property(RangeReader& r) {
    uint16_t type = r.u16();
    uint16_t pid = r.u16();
    if (r.failed()) return false;
    if (pid >= 0x8000) {  // named property: GUID, kind, then an id or a name
      r.skip(16);
      uint32_t kind = r.u32();
      if (kind == 0) {
        r.u32();
      } else if (kind == 1) {
        uint32_t name_len = r.u32();
        if (r.failed() || !r.skip(uint64_t{name_len} + pad4(name_len))) return false;
      } else {
        return false;
      }
      if (r.failed()) return false;
    }
    const bool multi = type & 0x1000;
    const uint16_t base = type & 0x0FFF;
    int fixed = fixed_size(base);
    if (fixed < 0) return false;  // unknown type: its size cannot be known
    if (fixed > 0) {
      uint64_t n = 1;
      if (multi) {
        n = r.u32();
        if (r.failed() || n > r.remaining() / static_cast<uint64_t>(fixed)) return false;
      }
      return r.skip(n * static_cast<uint64_t>(fixed));
    }
    // Variable-length types carry a value count even when single-valued.
    uint32_t values = r.u32();
    if (r.failed() || values > r.remaining() / 4) return false;
    for (uint32_t v = 0; v < values; ++v) {
      uint32_t len = r.u32();
      if (r.failed() || !r.has(uint64_t{len} + pad4(len))) return false;
      uint64_t at = r.pos();
      if (v == 0) value(pid, base, at, len);
      r.skip(uint64_t{len} + pad4(len));
    }
    return !r.failed();
  }

  void value(uint16_t pid, uint16_t type, uint64_t at, uint32_t len) {
    auto text = [&] {
      std::string raw = src_.read_string(at, std::min<size_t>(len, kMaxStringBytes));
      return display_name(type == 0x001F ? utf16_until_nul(raw)
                                         : to_utf8(codepage_, until_nul(raw)));
    };
    switch (pid) {
      case kPrAttachLongFilename:
        if (type == 0x001E || type == 0x001F) current_.long_filename = text();
        break;
      case kPrAttachFilename:
        if (type == 0x001E || type == 0x001F) current_.short_filename = text();
        break;
      case kPrDisplayName:
        if (type == 0x001E || type == 0x001F) current_.display_name = text();
        break;
      case kPrAttachMimeTag:
        if (type == 0x001E || type == 0x001F) current_.mime_tag = text();
        break;
      case kPrAttachDataBin:
        // attAttachData, when present, is the same bytes and wins.
        if (data_from_attribute_) break;
        if (type == 0x0102) {
          current_.has_data = true;
          current_.embedded_object = false;
          current_.data = {at, len};
        } else if (type == 0x000D && len >= 16) {
          // PT_OBJECT: a 16-byte interface id, then the object (an
          // embedded message is itself a TNEF stream).
          current_.has_data = true;
          current_.embedded_object = true;
          current_.data = {at + 16, len - 16u};
        }
        break;
      default:
        break;
    }
  }

  const ByteSource& src_;
  const TnefOptions& opt_;
  const TnefAttachmentSink& sink_;
  TnefSummary sum_;
  TnefAttachment current_;
  bool open_ = false;
  bool data_from_attribute_ = false;
  bool stop_ = false;
  int index_ = 0;
  std::string codepage_ = "CP1252";  // MS-OXTNEF 2.1.3.3.3: the default OEM code page
};

}  // namespace

std::string TnefAttachment::best_name() const {
  for (const std::string* s : {&long_filename, &title, &short_filename, &display_name})
    if (!s->empty()) return *s;
  return "attachment" + std::to_string(index);
}

TnefSummary read_tnef(const ByteSource& src, const TnefOptions& options,
                      const TnefAttachmentSink& sink) {
  return Walker(src, options, sink).run();
}

}  // namespace sandgate::tnef
