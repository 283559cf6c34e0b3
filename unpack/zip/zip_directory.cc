// Bounded reader of a zip file's structure (PKWARE APPNOTE.TXT 4.3): the end of
// central directory record (4.3.16), its zip64 form and locator (4.3.14, 4.3.15),
// the central directory (4.3.12) and the local headers (4.3.7), and a layout check
// that compares them.
//
// Guarantees: reads only through ByteSource::read_at into buffers of at most a
// few hundred KiB (the tail, one window of the directory, one local header);
// never trusts a count for allocation; never throws for bad input; the checks
// run in O(n log n) time and O(n) memory for n directory entries (n is capped by
// the caller's max_entries), and each kind of finding is reported a bounded
// number of times.
#include "unpack/zip/zip_directory.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <type_traits>

#include "unpack/cursor.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"archive.zip.header_mismatch", Severity::high,
     "a zip entry's local header disagrees with its central directory record"},
    {"archive.zip.overlap", Severity::high,
     "two zip entries share bytes (overlapping-entry zip bomb or a crafted layout)"},
    {"archive.zip.hidden_data", Severity::medium,
     "a zip file holds bytes that no entry or directory record accounts for"},
    {"archive.zip.malformed", Severity::medium,
     "a zip header points outside the file, is unreadable or has a bad signature"},
});

namespace {

constexpr uint32_t kLocalSig = 0x04034b50;         // 4.3.7
constexpr uint32_t kDescriptorSig = 0x08074b50;    // 4.3.9.3
constexpr uint32_t kArchiveExtraSig = 0x08064b50;  // 4.3.11
constexpr uint32_t kCentralSig = 0x02014b50;       // 4.3.12
constexpr uint32_t kDigitalSig = 0x05054b50;       // 4.3.13
constexpr uint32_t kZip64EocdSig = 0x06064b50;     // 4.3.14
constexpr uint32_t kZip64LocatorSig = 0x07064b50;  // 4.3.15
constexpr uint32_t kEocdSig = 0x06054b50;          // 4.3.16

constexpr size_t kEocdSize = 22;
constexpr size_t kMaxComment = 65535;
constexpr size_t kLocatorSize = 20;
constexpr size_t kZip64EocdFixed = 56;
constexpr size_t kCentralFixed = 46;
constexpr size_t kLocalFixed = 30;
constexpr uint32_t kSaturated32 = 0xFFFFFFFF;
constexpr uint16_t kZip64ExtraId = 0x0001;  // 4.5.3
constexpr uint16_t kFlagEncrypted = 1 << 0;
constexpr uint16_t kFlagDescriptor = 1 << 3;  // 4.4.4 bit 3: crc and sizes follow the data

// Never reserve more than this many entries up front, whatever the count says.
constexpr size_t kReserveCap = 1024;
// Total bytes of names kept for one directory; past it the directory is truncated.
// Names are bounded by the file already, but a multi-GB hostile file should not
// become a multi-GB vector of names.
constexpr uint64_t kNameBudget = 64ull << 20;
// Window for reading the central directory: large enough to hold the biggest
// possible record (46 + 3 * 65535 bytes).
constexpr size_t kWindow = 256 * 1024;
// Bytes of a name shown in evidence.
constexpr size_t kMaxShownName = 80;
// Bytes of a local extra field searched for the zip64 field (4.5.3); it comes
// first in practice, and reading more per entry would let one header with a
// 64 KiB extra field, shared by many entries, cost gigabytes of reads.
constexpr size_t kMaxLocalExtra = 1024;
// How many instances of one finding kind are listed before a summary.
constexpr size_t kMaxListedPerKind = 5;

// Reads exactly n bytes at off into out; false if the source holds fewer.
bool read_exact(const ByteSource& src, uint64_t off, size_t n, std::string& out) {
  out.resize(n);
  const uint64_t size = src.size();
  if (off > size || n > size - off) return false;
  size_t got = 0;
  while (got < n) {
    const size_t r = src.read_at(off + got, out.data() + got, n - got);
    if (r == 0) return false;
    got += r;
  }
  return true;
}

uint32_t read_u32_at(const ByteSource& src, uint64_t off, bool* ok) {
  std::string buf;
  *ok = read_exact(src, off, 4, buf);
  if (!*ok) return 0;
  return ByteCursor(buf).u32le();
}

// a + b, or nullopt if it wraps.
std::optional<uint64_t> add(uint64_t a, uint64_t b) {
  if (b > UINT64_MAX - a) return std::nullopt;
  return a + b;
}

// Sequential view of [start, limit) of a source through one bounded buffer.
class WindowReader {
 public:
  WindowReader(const ByteSource& src, uint64_t limit) : src_(src), limit_(limit) {}

  // A view of [off, off + n), or nullopt if that is not inside the limit.
  std::optional<std::string_view> view(uint64_t off, size_t n) {
    if (off > limit_ || n > limit_ - off) return std::nullopt;
    if (off < buf_off_ || off - buf_off_ > buf_.size() || n > buf_.size() - (off - buf_off_)) {
      const size_t want =
          static_cast<size_t>(std::min<uint64_t>(std::max(n, kWindow), limit_ - off));
      if (!read_exact(src_, off, want, buf_)) return std::nullopt;
      buf_off_ = off;
    }
    return std::string_view(buf_).substr(static_cast<size_t>(off - buf_off_), n);
  }

 private:
  const ByteSource& src_;
  uint64_t limit_;
  std::string buf_;
  uint64_t buf_off_ = 0;
};

// The fields of a zip64 end of central directory record (4.3.14) we use.
struct Zip64End {
  uint64_t offset = 0;  // where the record starts
  uint64_t length = 0;  // whole record including signature and size field
  uint64_t entries = 0;
  uint64_t cd_size = 0;
  uint64_t cd_offset = 0;
};

// Finds the zip64 end record that the locator at locator_pos points to. The
// locator's offset is tried first; a prefixed file moves the record, so the
// spot right before the locator (the usual layout) is tried next.
std::optional<Zip64End> find_zip64_end(const ByteSource& src, uint64_t locator_pos) {
  std::string loc;
  if (!read_exact(src, locator_pos, kLocatorSize, loc)) return std::nullopt;
  ByteCursor lc(loc);
  if (lc.u32le() != kZip64LocatorSig) return std::nullopt;
  lc.u32le();  // disk holding the record
  const uint64_t declared = lc.u64le();

  auto parse_at = [&](uint64_t off) -> std::optional<Zip64End> {
    std::string rec;
    if (off >= locator_pos || locator_pos - off < kZip64EocdFixed) return std::nullopt;
    if (!read_exact(src, off, kZip64EocdFixed, rec)) return std::nullopt;
    ByteCursor c(rec);
    if (c.u32le() != kZip64EocdSig) return std::nullopt;
    const uint64_t record_size = c.u64le();  // size of the rest, after this field
    // The record must hold its fixed fields and end before the locator.
    if (record_size < kZip64EocdFixed - 12 || record_size > locator_pos - off - 12)
      return std::nullopt;
    Zip64End z;
    z.offset = off;
    z.length = record_size + 12;
    c.skip(2 + 2 + 4 + 4 + 8);  // versions, disk numbers, entries on this disk
    z.entries = c.u64le();
    z.cd_size = c.u64le();
    z.cd_offset = c.u64le();
    return z;
  };
  if (auto z = parse_at(declared)) return z;
  if (locator_pos >= kZip64EocdFixed) return parse_at(locator_pos - kZip64EocdFixed);
  return std::nullopt;
}

// Applies a zip64 extended information field (4.5.3) of a central record: each
// 8-byte value is present only when its 32-bit field is saturated, in this order.
void apply_central_zip64(std::string_view extra, uint64_t* usize, uint64_t* csize,
                         uint64_t* offset) {
  ByteCursor c(extra);
  while (c.remaining() >= 4) {
    const uint16_t id = c.u16le();
    const uint16_t len = c.u16le();
    std::string_view data = c.bytes(len);
    if (c.failed()) return;
    if (id != kZip64ExtraId) continue;
    ByteCursor z(data);
    if (*usize == kSaturated32 && z.has(8)) *usize = z.u64le();
    if (*csize == kSaturated32 && z.has(8)) *csize = z.u64le();
    if (*offset == kSaturated32 && z.has(8)) *offset = z.u64le();
    return;
  }
}

// The same for a local header, where both sizes must be present together
// (4.5.3) when either is saturated; tolerates writers that store only one.
bool apply_local_zip64(std::string_view extra, uint64_t* usize, uint64_t* csize) {
  ByteCursor c(extra);
  while (c.remaining() >= 4) {
    const uint16_t id = c.u16le();
    const uint16_t len = c.u16le();
    std::string_view data = c.bytes(len);
    if (c.failed()) return false;
    if (id != kZip64ExtraId) continue;
    ByteCursor z(data);
    if (z.has(16)) {
      const uint64_t u = z.u64le(), s = z.u64le();
      if (*usize == kSaturated32) *usize = u;
      if (*csize == kSaturated32) *csize = s;
    } else {
      if (*usize == kSaturated32 && z.has(8)) *usize = z.u64le();
      if (*csize == kSaturated32 && z.has(8)) *csize = z.u64le();
    }
    return true;
  }
  return false;
}

struct EndRecord {
  uint64_t offset = 0;
  uint64_t entries = 0;
  uint64_t cd_size = 0;
  uint64_t cd_offset = 0;
  uint16_t comment_length = 0;
};

// Scans the tail backwards for the end record (4.3.16). Several candidates can
// exist (the signature may occur in a comment or in stored data); the latest one
// whose directory could fit before it and whose comment ends at the end of the
// file wins, then one whose comment at least fits, then any.
std::optional<EndRecord> find_end_record(const ByteSource& src) {
  const uint64_t size = src.size();
  if (size < kEocdSize) return std::nullopt;
  const uint64_t tail_len = std::min<uint64_t>(size, kEocdSize + kMaxComment);
  const uint64_t tail_off = size - tail_len;
  std::string tail;
  if (!read_exact(src, tail_off, static_cast<size_t>(tail_len), tail)) return std::nullopt;

  std::optional<EndRecord> best;
  int best_score = -1;
  for (size_t i = tail.size() - kEocdSize + 1; i-- > 0;) {
    if (tail[i] != 'P' || tail[i + 1] != 'K' || tail[i + 2] != 5 || tail[i + 3] != 6) continue;
    ByteCursor c(tail.data() + i, kEocdSize);
    c.skip(4 + 2 + 2 + 2);  // signature, disk numbers, entries on this disk
    EndRecord r;
    r.offset = tail_off + i;
    r.entries = c.u16le();
    r.cd_size = c.u32le();
    r.cd_offset = c.u32le();
    r.comment_length = c.u16le();
    const uint64_t comment_end = r.offset + kEocdSize + r.comment_length;
    const bool saturated = r.cd_size == kSaturated32 || r.cd_offset == kSaturated32;
    const bool fits = saturated || r.cd_size <= r.offset;
    const int score =
        (fits ? 4 : 0) + (comment_end == size ? 2 : 0) + (comment_end <= size ? 1 : 0);
    if (score > best_score) {
      best = r;
      best_score = score;
      if (score == 7) break;  // nothing earlier can beat the latest perfect one
    }
  }
  return best;
}

// Where the central directory must end when nothing lies between it and the end
// records: the zip64 record if there is one, else the end record.
uint64_t directory_end(const ZipDirectory& dir, const std::optional<Zip64End>& z64) {
  return z64 ? z64->offset : dir.eocd_offset;
}

bool central_signature_at(const ByteSource& src, uint64_t off) {
  bool ok = false;
  return read_u32_at(src, off, &ok) == kCentralSig && ok;
}

// Printable evidence for a raw entry name: bounded and with control bytes escaped.
std::string quote_name(std::string_view name) {
  constexpr size_t kMaxShown = kMaxShownName;
  std::string out = "'";
  for (size_t i = 0; i < name.size() && i < kMaxShown; ++i) {
    const unsigned char ch = static_cast<unsigned char>(name[i]);
    if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '\'') {
      out += static_cast<char>(ch);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  if (name.size() > kMaxShown) out += "...";
  out += "'";
  return out;
}

std::string entry_label(const ZipDirectory& dir, size_t i) {
  return "entry " + std::to_string(i) + " " + quote_name(dir.entries[i].name);
}

// Collects findings, listing at most kMaxListedPerKind of each id and then one
// summary with the number left out.
class FindingList {
 public:
  // evidence is a string or a callable that makes one; the callable runs only
  // for listed instances, so a hostile file with many instances costs little.
  template <typename Evidence>
  void add(std::string_view id, std::string_view message, Evidence&& evidence) {
    Kind& k = kind(id);
    if (++k.count > kMaxListedPerKind) return;
    if constexpr (std::is_invocable_v<Evidence>) {
      out_.push_back(make_finding(id, std::string(message), evidence()));
    } else {
      out_.push_back(make_finding(id, std::string(message), std::string(evidence)));
    }
  }
  std::vector<Finding> finish() {
    for (const Kind& k : kinds_) {
      if (k.count <= kMaxListedPerKind) continue;
      const uint64_t more = k.count - kMaxListedPerKind;
      out_.push_back(make_finding(
          k.id,
          std::to_string(more) + " more instances of " + std::string(k.id) + " were not listed",
          "total=" + std::to_string(k.count)));
    }
    return std::move(out_);
  }

 private:
  struct Kind {
    std::string_view id;
    uint64_t count = 0;
  };
  Kind& kind(std::string_view id) {
    for (Kind& k : kinds_)
      if (k.id == id) return k;
    kinds_.push_back(Kind{id, 0});
    return kinds_.back();
  }
  std::vector<Kind> kinds_;
  std::vector<Finding> out_;
};

constexpr std::string_view kMismatch = "archive.zip.header_mismatch";
constexpr std::string_view kOverlap = "archive.zip.overlap";
constexpr std::string_view kHidden = "archive.zip.hidden_data";
constexpr std::string_view kMalformed = "archive.zip.malformed";
constexpr std::string_view kMismatchMessage =
    "A zip entry's local header disagrees with its central record";

// A byte range of the file that some structure accounts for.
struct Span {
  enum Kind { kEntry, kDirectory, kZip64End, kZip64Locator, kEnd };
  uint64_t start = 0;
  uint64_t end = 0;  // exclusive
  Kind kind = kEntry;
  size_t entry = 0;  // index into dir.entries for kEntry
};

std::string describe(const ZipDirectory& dir, const Span& s) {
  switch (s.kind) {
    case Span::kEntry:
      return entry_label(dir, s.entry);
    case Span::kDirectory:
      return "the central directory";
    case Span::kZip64End:
      return "the zip64 end record";
    case Span::kZip64Locator:
      return "the zip64 end locator";
    case Span::kEnd:
      return "the end of central directory record";
  }
  return "?";
}

std::string range_text(uint64_t start, uint64_t end) {
  return "[" + std::to_string(start) + ", " + std::to_string(end) + ")";
}

bool is_known_signature(uint32_t sig) {
  return sig == kLocalSig || sig == kCentralSig || sig == kZip64EocdSig || sig == kEocdSig ||
         sig == kArchiveExtraSig || sig == kDigitalSig || sig == kDescriptorSig;
}

// Length of the data descriptor (4.3.9) that starts at off. Its signature is
// optional and its sizes are 4 or 8 bytes (zip64), so the candidates are 12, 16,
// 20 or 24 bytes; the one followed by the next known record (or the end of the
// file) wins, else the most likely one. *crc gets the stored crc-32.
uint64_t descriptor_length(const ByteSource& src, uint64_t off, bool zip64, uint32_t* crc,
                           bool* has_signature) {
  std::string buf;
  const uint64_t size = src.size();
  const size_t avail = off < size ? static_cast<size_t>(std::min<uint64_t>(28, size - off)) : 0;
  read_exact(src, off, avail, buf);
  ByteCursor c(buf);
  *has_signature = c.has(4) && c.u32le() == kDescriptorSig;
  ByteCursor crc_cursor(buf);
  if (*has_signature) crc_cursor.skip(4);
  *crc = crc_cursor.u32le();
  const std::array<uint64_t, 2> candidates =
      *has_signature ? (zip64 ? std::array<uint64_t, 2>{24, 16} : std::array<uint64_t, 2>{16, 24})
                     : (zip64 ? std::array<uint64_t, 2>{20, 12} : std::array<uint64_t, 2>{12, 20});
  for (uint64_t len : candidates) {
    if (off + len == size) return len;
    if (len + 4 <= buf.size()) {
      ByteCursor next(buf.data() + len, 4);
      if (is_known_signature(next.u32le())) return len;
    }
  }
  return candidates[0];
}

// One local header (4.3.7), parsed once however many entries point at it.
struct LocalHeader {
  enum Status { kOk, kOutside, kBadSignature, kRunsPast };
  Status status = kOk;
  uint64_t offset = 0;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t csize = 0;
  uint64_t usize = 0;
  uint16_t name_len = 0;
  uint64_t header_end = 0;  // where the entry's data starts
  bool zip64 = false;       // sizes came from a zip64 extra field
  // The name as far as it was read: whole, or a prefix for evidence.
  std::string name;
  bool whole_name = false;
};

LocalHeader read_local_header(const ByteSource& src, uint64_t lho) {
  LocalHeader h;
  h.offset = lho;
  const uint64_t size = src.size();
  std::string buf;
  if (lho >= size || size - lho < kLocalFixed || !read_exact(src, lho, kLocalFixed, buf)) {
    h.status = LocalHeader::kOutside;
    return h;
  }
  ByteCursor c(buf);
  if (c.u32le() != kLocalSig) {
    h.status = LocalHeader::kBadSignature;
    return h;
  }
  c.u16le();  // version needed
  h.flags = c.u16le();
  h.method = c.u16le();
  c.skip(4);  // time, date
  h.crc = c.u32le();
  h.csize = c.u32le();
  h.usize = c.u32le();
  h.name_len = c.u16le();
  const uint16_t extra_len = c.u16le();
  h.header_end = lho + kLocalFixed + h.name_len + extra_len;
  if (h.header_end > size) {
    h.status = LocalHeader::kRunsPast;
    return h;
  }
  if (h.csize == kSaturated32 || h.usize == kSaturated32) {
    // Only the first kMaxLocalExtra bytes are searched (see there).
    read_exact(src, lho + kLocalFixed + h.name_len, std::min<size_t>(extra_len, kMaxLocalExtra),
               buf);
    h.zip64 = apply_local_zip64(buf, &h.usize, &h.csize);
  }
  return h;
}

// Makes sure h.name holds what comparing with a central name of central_len
// bytes needs: the whole name when the lengths match (so whole names are read
// only as often as central names of that length exist, which the name budget
// bounds), else a prefix long enough for the evidence.
void load_local_name(const ByteSource& src, LocalHeader& h, size_t central_len) {
  if (h.whole_name) return;
  const size_t want =
      central_len == h.name_len ? h.name_len : std::min<size_t>(h.name_len, kMaxShownName + 1);
  if (want <= h.name.size()) return;
  read_exact(src, h.offset + kLocalFixed, want, h.name);
  h.whole_name = want == h.name_len;
}

// Checks entry i against its local header h. Returns the span the entry
// occupies, or nullopt if its local header could not be read.
std::optional<Span> check_entry(const ByteSource& src, const ZipDirectory& dir, size_t i,
                                LocalHeader& h, FindingList& findings) {
  const ZipEntryRecord& e = dir.entries[i];
  const uint64_t size = src.size();
  const uint64_t lho = e.local_header_offset;
  switch (h.status) {
    case LocalHeader::kOk:
      break;
    case LocalHeader::kOutside:
      findings.add(kMalformed, "A zip entry's local header lies outside the file", [&] {
        // UINT64_MAX marks an offset that a prefix shift moved before the file.
        const std::string where = lho == UINT64_MAX
                                      ? "local header before the start of the file"
                                      : "local header at offset " + std::to_string(lho);
        return entry_label(dir, i) + ": " + where + ", file size " + std::to_string(size);
      });
      return std::nullopt;
    case LocalHeader::kBadSignature:
      findings.add(kMalformed, "A zip entry's local header has a bad signature", [&] {
        return entry_label(dir, i) + ": no local header signature at offset " + std::to_string(lho);
      });
      return std::nullopt;
    case LocalHeader::kRunsPast:
      findings.add(kMalformed, "A zip entry's local header runs past the end of the file", [&] {
        return entry_label(dir, i) + ": local header at offset " + std::to_string(lho) + " needs " +
               std::to_string(h.header_end - lho) + " bytes";
      });
      return std::nullopt;
  }

  auto mismatch_text = [&](std::string_view field, const std::string& central,
                           const std::string& local) {
    return entry_label(dir, i) + ": field " + std::string(field) + " central=" + central +
           " local=" + local;
  };
  auto mismatch = [&](std::string_view field, uint64_t central, uint64_t local) {
    findings.add(kMismatch, kMismatchMessage, [&] {
      return mismatch_text(field, std::to_string(central), std::to_string(local));
    });
  };
  bool name_equal = false;
  if (h.name_len == e.name.size()) {
    load_local_name(src, h, e.name.size());
    name_equal = h.name == e.name;
  }
  if (!name_equal) {
    findings.add(kMismatch, kMismatchMessage, [&] {
      load_local_name(src, h, e.name.size());
      return mismatch_text("name", quote_name(e.name), quote_name(h.name));
    });
  }
  if (h.method != e.method) mismatch("method", e.method, h.method);
  if ((h.flags & kFlagEncrypted) != (e.flags & kFlagEncrypted))
    mismatch("encryption flag", e.flags & kFlagEncrypted, h.flags & kFlagEncrypted);
  // With a data descriptor the local crc and sizes may be zero (or saturated,
  // for zip64 streams); they are compared only when they carry a value.
  const bool descriptor = ((h.flags | e.flags) & kFlagDescriptor) != 0;
  auto skip_value = [&](uint64_t local) {
    return descriptor && (local == 0 || local == kSaturated32);
  };
  if (!skip_value(h.crc) && h.crc != e.crc32) mismatch("crc32", e.crc32, h.crc);
  if (!skip_value(h.csize) && h.csize != e.compressed_size)
    mismatch("compressed size", e.compressed_size, h.csize);
  if (!skip_value(h.usize) && h.usize != e.uncompressed_size)
    mismatch("uncompressed size", e.uncompressed_size, h.usize);

  // The data range readers of the central directory will use: its sizes.
  Span span{lho, size, Span::kEntry, i};
  if (e.compressed_size > size - h.header_end) {
    findings.add(kMalformed, "A zip entry's data runs past the end of the file", [&] {
      return entry_label(dir, i) + ": " + std::to_string(e.compressed_size) +
             " bytes from offset " + std::to_string(h.header_end) + ", file size " +
             std::to_string(size);
    });
    return span;
  }
  span.end = h.header_end + e.compressed_size;
  if (descriptor) {
    const bool zip64 =
        h.zip64 || e.compressed_size >= kSaturated32 || e.uncompressed_size >= kSaturated32;
    uint32_t stored_crc = 0;
    bool has_signature = false;
    const uint64_t len = descriptor_length(src, span.end, zip64, &stored_crc, &has_signature);
    span.end = std::min(size, span.end + len);
    if (has_signature && stored_crc != e.crc32)
      mismatch("data descriptor crc32", e.crc32, stored_crc);
  }
  return span;
}

}  // namespace

std::optional<ZipDirectory> read_zip_directory(const ByteSource& src, size_t max_entries,
                                               std::string* error) {
  auto fail = [&](std::string why) -> std::optional<ZipDirectory> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  const std::optional<EndRecord> end = find_end_record(src);
  if (!end) return fail("no end of central directory record in the last 65557 bytes");

  ZipDirectory dir;
  dir.eocd_offset = end->offset;
  dir.declared_entries = end->entries;
  dir.cd_size = end->cd_size;
  uint64_t declared_cd_offset = end->cd_offset;

  std::optional<Zip64End> z64;
  if (end->offset >= kLocatorSize) z64 = find_zip64_end(src, end->offset - kLocatorSize);
  if (z64) {
    // 4.4.1.4: the zip64 record holds the real values; writers also use it when
    // nothing overflowed, so it is preferred whenever it is present and sound.
    dir.zip64 = true;
    dir.declared_entries = z64->entries;
    dir.cd_size = z64->cd_size;
    declared_cd_offset = z64->cd_offset;
  }

  // Where is the directory? At its declared offset when it ends right where the
  // end records start; else, for a file with bytes prepended (self-extractor, a
  // zip appended to another file), right before the end records, with every
  // offset shifted by the same amount; else at its declared offset anyway if a
  // directory record starts there (bytes then hide between it and the end).
  const uint64_t expected_end = directory_end(dir, z64);
  const bool has_entries = dir.cd_size > 0;
  auto starts_directory = [&](uint64_t off) {
    return !has_entries || central_signature_at(src, off);
  };
  std::optional<uint64_t> cd_start;
  if (auto e = add(declared_cd_offset, dir.cd_size);
      e && *e == expected_end && starts_directory(declared_cd_offset)) {
    cd_start = declared_cd_offset;
  } else if (dir.cd_size <= expected_end && starts_directory(expected_end - dir.cd_size)) {
    cd_start = expected_end - dir.cd_size;
  } else if (auto e2 = add(declared_cd_offset, dir.cd_size);
             e2 && *e2 <= src.size() && has_entries && starts_directory(declared_cd_offset)) {
    cd_start = declared_cd_offset;
  }
  if (!cd_start) {
    // The end record is there but its directory is not: report what the record
    // says and let check_zip_structure describe the damage.
    dir.cd_offset = declared_cd_offset;
    dir.truncated = true;
    return dir;
  }
  dir.cd_offset = *cd_start;
  // Entries' offsets count from where the archive really starts.
  const bool shift_up = *cd_start >= declared_cd_offset;
  const uint64_t shift = shift_up ? *cd_start - declared_cd_offset : declared_cd_offset - *cd_start;
  auto adjust = [&](uint64_t off) -> uint64_t {
    if (shift_up) return off > UINT64_MAX - shift ? UINT64_MAX : off + shift;
    return off >= shift ? off - shift : UINT64_MAX;  // points before the file: invalid
  };

  const uint64_t cd_end = std::min<uint64_t>(*cd_start + dir.cd_size, src.size());
  WindowReader reader(src, cd_end);
  dir.entries.reserve(static_cast<size_t>(
      std::min<uint64_t>({dir.declared_entries, static_cast<uint64_t>(max_entries), kReserveCap})));
  uint64_t pos = *cd_start;
  uint64_t name_bytes = 0;
  while (pos < cd_end) {
    if (dir.entries.size() >= max_entries) {
      dir.truncated = true;
      break;
    }
    const auto fixed = reader.view(pos, kCentralFixed);
    if (!fixed) {
      dir.truncated = true;
      break;
    }
    ByteCursor c(*fixed);
    if (c.u32le() != kCentralSig) {
      // A digital signature record may close the directory (4.3.13).
      if (ByteCursor(*fixed).u32le() != kDigitalSig) dir.truncated = true;
      break;
    }
    c.skip(2 + 2);  // versions made by, needed
    ZipEntryRecord e;
    e.flags = c.u16le();
    e.method = c.u16le();
    c.skip(2 + 2);  // time, date
    e.crc32 = c.u32le();
    e.compressed_size = c.u32le();
    e.uncompressed_size = c.u32le();
    const uint16_t name_len = c.u16le();
    const uint16_t extra_len = c.u16le();
    const uint16_t comment_len = c.u16le();
    c.skip(2 + 2 + 4);  // disk start, internal and external attributes
    uint64_t offset = c.u32le();
    const size_t record_len = kCentralFixed + name_len + extra_len + comment_len;
    const auto record = reader.view(pos, record_len);
    if (!record || name_bytes + name_len > kNameBudget) {
      dir.truncated = true;
      break;
    }
    e.name.assign(record->substr(kCentralFixed, name_len));
    apply_central_zip64(record->substr(kCentralFixed + name_len, extra_len), &e.uncompressed_size,
                        &e.compressed_size, &offset);
    e.local_header_offset = adjust(offset);
    name_bytes += name_len;
    dir.entries.push_back(std::move(e));
    pos += record_len;
  }
  return dir;
}

std::vector<Finding> check_zip_structure(const ByteSource& src, const ZipDirectory& dir) {
  FindingList findings;
  const uint64_t size = src.size();
  std::vector<Span> spans;
  spans.reserve(dir.entries.size() + 4);
  std::string buf;

  // The end record and its comment (4.3.16).
  bool eocd_ok = false;
  if (read_exact(src, dir.eocd_offset, kEocdSize, buf)) {
    ByteCursor c(buf);
    if (c.u32le() == kEocdSig) {
      eocd_ok = true;
      c.skip(16);
      const uint64_t comment_end = dir.eocd_offset + kEocdSize + c.u16le();
      if (comment_end > size)
        findings.add(kMalformed, "The zip comment runs past the end of the file",
                     "comment ends at " + std::to_string(comment_end) + ", file size " +
                         std::to_string(size));
      spans.push_back({dir.eocd_offset, std::min(comment_end, size), Span::kEnd, 0});
    }
  }
  if (!eocd_ok)
    findings.add(kMalformed, "No end of central directory record where the directory says",
                 "offset " + std::to_string(dir.eocd_offset));

  // The zip64 locator and record (4.3.14, 4.3.15).
  std::optional<Zip64End> z64;
  if (eocd_ok && dir.eocd_offset >= kLocatorSize) {
    const uint64_t locator = dir.eocd_offset - kLocatorSize;
    bool ok = false;
    if (read_u32_at(src, locator, &ok) == kZip64LocatorSig && ok) {
      spans.push_back({locator, dir.eocd_offset, Span::kZip64Locator, 0});
      z64 = find_zip64_end(src, locator);
      if (z64)
        spans.push_back({z64->offset, z64->offset + z64->length, Span::kZip64End, 0});
      else
        findings.add(kMalformed, "The zip64 end locator points at no zip64 end record",
                     "locator at offset " + std::to_string(locator));
    }
  }

  // The central directory itself.
  const auto cd_end = add(dir.cd_offset, dir.cd_size);
  if (!cd_end || *cd_end > size) {
    findings.add(kMalformed, "The central directory lies outside the file",
                 "directory " + std::to_string(dir.cd_size) + " bytes at offset " +
                     std::to_string(dir.cd_offset) + ", file size " + std::to_string(size));
    // What is there of it still accounts for bytes, up to the end records.
    const uint64_t stop = eocd_ok && dir.eocd_offset > dir.cd_offset ? dir.eocd_offset : size;
    if (dir.cd_offset < stop) spans.push_back({dir.cd_offset, stop, Span::kDirectory, 0});
  } else {
    spans.push_back({dir.cd_offset, *cd_end, Span::kDirectory, 0});
    if (dir.truncated && dir.cd_size > 0 && !central_signature_at(src, dir.cd_offset))
      findings.add(kMalformed, "No central directory record where the end record says",
                   "offset " + std::to_string(dir.cd_offset));
  }
  // The count the end record claims against what the directory holds. Without
  // zip64 the 16-bit count wraps past 65535 entries, which is tolerated.
  if (!dir.truncated) {
    const uint64_t n = dir.entries.size();
    const bool wrapped_ok = !dir.zip64 && n > 0xFFFF && (n & 0xFFFF) == dir.declared_entries;
    if (n != dir.declared_entries && !wrapped_ok)
      findings.add(kMalformed, "The zip end record's entry count disagrees with the directory",
                   "declared " + std::to_string(dir.declared_entries) +
                       " entries, directory holds " + std::to_string(n));
  }

  // Entries in the order of their local headers, so that entries sharing one
  // header (the overlapping-entry bomb) parse it once.
  std::vector<size_t> order(dir.entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return dir.entries[a].local_header_offset < dir.entries[b].local_header_offset;
  });
  std::optional<LocalHeader> local;
  for (size_t i : order) {
    const uint64_t lho = dir.entries[i].local_header_offset;
    if (!local || local->offset != lho) local = read_local_header(src, lho);
    if (auto span = check_entry(src, dir, i, *local, findings)) spans.push_back(*span);
  }

  // One sweep over the spans sorted by start finds both overlaps (a span that
  // starts before the furthest end so far) and gaps (one that starts after it).
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.start != b.start ? a.start < b.start : a.end < b.end;
  });
  uint64_t covered = 0;
  const Span* furthest = nullptr;
  for (const Span& s : spans) {
    // A directory cut short by max_entries leaves the unread entries' bytes
    // unaccounted for before the directory: that is not hidden data.
    const bool unread_entries = dir.truncated && s.kind == Span::kDirectory && furthest &&
                                furthest->kind == Span::kEntry;
    if (s.start > covered && !unread_entries) {
      findings.add(kHidden, "A zip file holds bytes no entry accounts for", [&] {
        const std::string where =
            furthest ? "between " + describe(dir, *furthest) + " and " + describe(dir, s)
                     : "before " + describe(dir, s);
        return std::to_string(s.start - covered) + " bytes at offset " + std::to_string(covered) +
               " " + where;
      });
    } else if (s.start < covered && s.end > s.start && furthest) {
      findings.add(kOverlap, "Two parts of a zip file share bytes", [&] {
        return describe(dir, s) + " " + range_text(s.start, s.end) + " overlaps " +
               describe(dir, *furthest) + " " + range_text(furthest->start, furthest->end);
      });
    }
    if (s.end > covered || !furthest) {
      covered = std::max(covered, s.end);
      furthest = &s;
    }
  }
  if (covered < size && furthest)
    findings.add(kHidden, "A zip file holds bytes no entry accounts for",
                 std::to_string(size - covered) + " bytes at offset " + std::to_string(covered) +
                     " after " + describe(dir, *furthest));
  return findings.finish();
}

}  // namespace sandgate
