// UDIF reader and the unpacker for label "dmg"; see dmg_reader.h.
#include "unpack/image/dmg_reader.h"

#include <Poco/Exception.h>
#include <Poco/SAX/Attributes.h>
#include <Poco/SAX/DefaultHandler.h>
#include <Poco/SAX/SAXParser.h>
#include <bzlib.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "unpack/cursor.h"
#include "unpack/image/image_common.h"
#include "unpack/unpacker.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"image.malformed", Severity::high,
     "a disk image's structure is inconsistent (out-of-range or looping references, truncation): "
     "parts of it may be hidden from the scan"},
    {"image.encrypted", Severity::high, "an encrypted disk image: its content cannot be inspected"},
    {"image.unsupported", Severity::high,
     "a disk image (or a part of one) cannot be read by the engine: not inspected, fail closed"},
    {"image.unsupported_compression", Severity::high,
     "a disk image uses a compression the engine cannot decode (LZFSE, LZMA): fail closed"},
    {"image.contains_executable", Severity::high,
     "a disk image holds an executable or script (mounting it bypasses the Mark-of-the-Web)"},
});

namespace image {
namespace {

constexpr uint32_t kZero = 0x00000000, kRaw = 0x00000001, kIgnore = 0x00000002;
constexpr uint32_t kAdc = 0x80000004, kZlib = 0x80000005, kBzip2 = 0x80000006;
constexpr uint32_t kLzfse = 0x80000007, kLzma = 0x80000008;
constexpr uint32_t kComment = 0x7FFFFFFE, kEnd = 0xFFFFFFFF;
constexpr size_t kBlock = 64 * 1024;

Finding malformed(std::string msg, std::string evidence = {}) {
  return make_finding("image.malformed", std::move(msg), std::move(evidence));
}

// Collects, from <key>resource-fork</key> <dict> <key>blkx</key> <array>,
// each entry's <data> (base64 of a mish table).
class BlkxHandler : public Poco::XML::DefaultHandler {
 public:
  std::vector<std::string> tables;  // base64 text

  void startElement(const Poco::XML::XMLString&, const Poco::XML::XMLString& local,
                    const Poco::XML::XMLString& qname, const Poco::XML::Attributes&) override {
    const std::string& name = local.empty() ? qname : local;
    ++depth_;
    text_.clear();
    collecting_ = name == "key" || (name == "data" && array_depth_ && depth_ == array_depth_ + 2 &&
                                    last_key_ == "Data");
    if (name == "array" && !array_depth_ && last_key_ == "blkx") array_depth_ = depth_;
  }

  void endElement(const Poco::XML::XMLString&, const Poco::XML::XMLString& local,
                  const Poco::XML::XMLString& qname) override {
    const std::string& name = local.empty() ? qname : local;
    if (name == "key") last_key_ = text_;
    else if (collecting_ && name == "data") tables.push_back(text_);
    else if (name != "key") last_key_.clear();
    if (name == "array" && depth_ == array_depth_) array_depth_ = 0;
    collecting_ = false;
    text_.clear();
    --depth_;
  }

  void characters(const Poco::XML::XMLChar ch[], int start, int length) override {
    if (collecting_ && start >= 0 && length > 0) text_.append(ch + start, static_cast<size_t>(length));
  }

 private:
  int depth_ = 0;
  int array_depth_ = 0;
  bool collecting_ = false;
  std::string text_, last_key_;
};

std::string base64_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int v;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
    else if (ch == '+') v = 62;
    else if (ch == '/') v = 63;
    else continue;  // whitespace and padding
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xFF));
    }
  }
  return out;
}

bool known_type(uint32_t t) {
  return t == kZero || t == kRaw || t == kIgnore || t == kAdc || t == kZlib || t == kBzip2 ||
         t == kLzfse || t == kLzma;
}

}  // namespace

bool adc_decode(std::string_view in, std::string& out, size_t max_out) {
  ByteCursor c(in);
  while (c.remaining() > 0) {
    uint8_t b = c.u8();
    if (b & 0x80) {  // literal run of 1..128 bytes
      size_t n = (b & 0x7F) + 1u;
      if (!c.has(n) || out.size() + n > max_out) return false;
      out.append(c.bytes(n));
      continue;
    }
    size_t n, dist;
    if (b & 0x40) {  // three-byte code: 4..67 bytes, 16-bit distance
      n = (b & 0x3F) + 4u;
      if (!c.has(2)) return false;
      dist = c.u16be();
    } else {  // two-byte code: 3..18 bytes, 10-bit distance
      n = ((b >> 2) & 0x0F) + 3u;
      if (!c.has(1)) return false;
      dist = ((b & 3u) << 8) | c.u8();
    }
    if (dist + 1 > out.size() || out.size() + n > max_out) return false;
    size_t from = out.size() - dist - 1;
    for (size_t i = 0; i < n; ++i) out.push_back(out[from + i]);  // may overlap itself
  }
  return true;
}

DmgLayout read_dmg_layout(const ByteSource& file) {
  DmgLayout out;
  const uint64_t size = file.size();
  std::string head = file.read_string(0, 8);
  if (head == "encrcdsa" || (size >= 8 && file.read_string(size - 8, 8) == "cdsaencr")) {
    out.findings.push_back(make_finding("image.encrypted", "encrypted Apple disk image"));
    return out;
  }
  if (head.compare(0, 4, "sprs") == 0) {
    out.findings.push_back(make_finding("image.unsupported", "sparse Apple disk image"));
    return out;
  }
  if (size < 512) {
    out.findings.push_back(malformed("DMG shorter than its trailer"));
    return out;
  }
  std::string koly = file.read_string(size - 512, 512);
  ByteCursor k(koly);
  if (!k.starts_with("koly")) {
    out.findings.push_back(malformed("DMG trailer (koly) not found"));
    return out;
  }
  k.seek(24);
  uint64_t data_fork = k.u64be();
  uint64_t data_len = k.u64be();
  k.seek(216);
  uint64_t xml_off = k.u64be(), xml_len = k.u64be();
  if (data_fork > size || data_len > size - data_fork) {
    out.findings.push_back(malformed("DMG data fork out of range"));
    data_fork = std::min(data_fork, size);
    data_len = size - data_fork;
  }
  if (xml_len == 0) {
    out.findings.push_back(make_finding("image.unsupported",
                                        "DMG without an XML property list (resource-fork only)"));
    return out;
  }
  if (xml_off > size || xml_len > size - xml_off || xml_len > kMaxPlist) {
    out.findings.push_back(malformed("DMG property list out of range",
                                     std::to_string(xml_off) + "+" + std::to_string(xml_len)));
    return out;
  }
  std::string xml = file.read_string(xml_off, xml_len);
  BlkxHandler handler;
  try {
    Poco::XML::SAXParser parser;
    parser.setFeature(Poco::XML::XMLReader::FEATURE_EXTERNAL_GENERAL_ENTITIES, false);
    parser.setFeature(Poco::XML::XMLReader::FEATURE_EXTERNAL_PARAMETER_ENTITIES, false);
    parser.setContentHandler(&handler);
    parser.parseMemoryNP(xml.data(), xml.size());
  } catch (const Poco::Exception& e) {
    out.findings.push_back(malformed("DMG property list is not well-formed XML", e.displayText()));
    return out;
  } catch (const std::exception& e) {
    out.findings.push_back(malformed("DMG property list is not well-formed XML", e.what()));
    return out;
  }
  if (handler.tables.empty()) {
    out.findings.push_back(malformed("DMG property list has no blkx tables"));
    return out;
  }
  out.valid = true;
  std::vector<DmgChunk> all;
  bool outside_noted = false;
  for (size_t t = 0; t < handler.tables.size(); ++t) {
    std::string mish = base64_decode(handler.tables[t]);
    ByteCursor m(mish);
    if (!m.starts_with("mish") || mish.size() < 204) {
      out.findings.push_back(malformed("blkx table without a mish header", "table " + std::to_string(t)));
      continue;
    }
    m.seek(8);
    uint64_t first_sector = m.u64be();
    m.seek(24);
    uint64_t data_offset = m.u64be();
    m.seek(200);
    uint32_t count = m.u32be();
    if (count > m.remaining() / 40) {
      out.findings.push_back(malformed("blkx table chunk count exceeds its size",
                                       "table " + std::to_string(t)));
      count = static_cast<uint32_t>(m.remaining() / 40);
    }
    for (uint32_t i = 0; i < count; ++i) {
      DmgChunk c;
      c.type = m.u32be();
      m.skip(4);
      uint64_t sector = m.u64be();
      c.sectors = m.u64be();
      uint64_t off = m.u64be();
      c.length = m.u64be();
      if (c.type == kEnd) break;
      if (c.type == kComment || c.sectors == 0) continue;
      if (!known_type(c.type)) {
        out.findings.push_back(make_finding("image.unsupported_compression",
                                            "DMG chunk of unknown type", std::to_string(c.type)));
        c.type = kLzfse;  // treated like any chunk we cannot decode
      }
      // Sector numbers are relative to the table, offsets to the data fork.
      if (sector > (uint64_t(1) << 40) || c.sectors > (uint64_t(1) << 40) ||
          first_sector > (uint64_t(1) << 40)) {
        out.findings.push_back(malformed("DMG chunk sector out of range"));
        continue;
      }
      c.sector = first_sector + sector;
      c.offset = data_fork + data_offset + off;
      bool has_data = c.type != kZero && c.type != kIgnore;
      if (has_data && (data_offset > size || off > size || c.offset > size || c.length > size - c.offset)) {
        out.findings.push_back(malformed("DMG chunk points past the end of the file",
                                         "sector " + std::to_string(c.sector)));
        c.type = kZero;
      }
      if (has_data && c.type != kZero && c.offset + c.length > data_fork + data_len &&
          !outside_noted) {
        outside_noted = true;
        out.findings.push_back(malformed("DMG chunk lies outside the data fork",
                                         "sector " + std::to_string(c.sector)));
      }
      if (all.size() >= kMaxChunks) {
        out.findings.push_back(malformed("too many DMG chunks"));
        break;
      }
      all.push_back(c);
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const DmgChunk& a, const DmgChunk& b) { return a.sector < b.sector; });
  uint64_t end = 0;
  for (const auto& c : all) {
    if (c.sector < end) {
      out.findings.push_back(malformed("DMG chunks overlap", "sector " + std::to_string(c.sector)));
      continue;
    }
    out.chunks.push_back(c);
    end = c.sector + c.sectors;
  }
  out.sectors = end;
  return out;
}

namespace {

class Decoder {
 public:
  Decoder(const ByteSource& file, const std::function<bool(const char*, size_t)>& sink,
          std::vector<Finding>& findings)
      : file_(file), sink_(sink), findings_(findings), in_(kBlock), out_(kBlock) {}

  bool zeros(uint64_t n) {
    static const char kZeros[kBlock] = {};
    while (n > 0) {
      size_t step = static_cast<size_t>(std::min<uint64_t>(n, kBlock));
      if (!sink_(kZeros, step)) return false;
      n -= step;
    }
    return true;
  }

  bool chunk(const DmgChunk& c) {
    uint64_t want = c.sectors * 512;
    switch (c.type) {
      case kZero:
      case kIgnore:
        return zeros(want);
      case kRaw:
        return raw(c, want);
      case kZlib:
        return zlib(c, want);
      case kBzip2:
        return bzip2(c, want);
      case kAdc:
        return adc(c, want);
      default:
        if (!unsupported_noted_) {
          unsupported_noted_ = true;
          findings_.push_back(make_finding("image.unsupported_compression",
                                           c.type == kLzma ? "DMG chunks compressed with LZMA"
                                                           : "DMG chunks compressed with LZFSE",
                                           "first at sector " + std::to_string(c.sector)));
        }
        return zeros(want);
    }
  }

 private:
  // Emits exactly `want` bytes for a chunk that produced `got`.
  bool settle(const DmgChunk& c, uint64_t got, uint64_t want, bool error) {
    if (error || got != want) {
      if (bad_++ < 8)
        findings_.push_back(malformed(error ? "DMG chunk does not decode" : "DMG chunk size mismatch",
                                      "sector " + std::to_string(c.sector) + ": " +
                                          std::to_string(got) + " of " + std::to_string(want) +
                                          " bytes"));
    }
    return got < want ? zeros(want - got) : true;
  }

  bool raw(const DmgChunk& c, uint64_t want) {
    uint64_t n = std::min(want, c.length), done = 0;
    while (done < n) {
      size_t step = static_cast<size_t>(std::min<uint64_t>(n - done, kBlock));
      size_t got = file_.read_at(c.offset + done, in_.data(), step);
      if (got == 0) break;
      if (!sink_(in_.data(), got)) return false;
      done += got;
    }
    return settle(c, done, want, false);
  }

  // Feeds the chunk's compressed bytes to `step` (which inflates into out_)
  // until it reports the end; emits at most `want` bytes.
  template <typename Step>
  bool stream(const DmgChunk& c, uint64_t want, Step step) {
    uint64_t in_pos = 0, produced = 0;
    bool error = false, ended = false;
    while (!ended && !error) {
      size_t avail = 0;
      if (in_pos < c.length) {
        avail = file_.read_at(c.offset + in_pos, in_.data(),
                              static_cast<size_t>(std::min<uint64_t>(c.length - in_pos, kBlock)));
        in_pos += avail;
      }
      const char* next_in = in_.data();
      size_t left = avail;
      for (;;) {
        size_t made = 0, used = 0;
        int r = step(next_in, left, &used, &made);
        next_in += used;
        left -= used;
        if (made > 0) {
          size_t keep = static_cast<size_t>(std::min<uint64_t>(made, want - produced));
          if (keep < made) error = true;  // more output than declared
          if (keep && !sink_(out_.data(), keep)) return false;
          produced += keep;
        }
        if (r < 0) error = true;
        if (r > 0) ended = true;
        if (error || ended) break;
        if (made == 0 && (left == 0 || used == 0)) break;  // needs more input
      }
      if (avail == 0 && !ended) {
        error = true;  // input exhausted before the stream ended
      }
    }
    return settle(c, produced, want, error);
  }

  bool zlib(const DmgChunk& c, uint64_t want) {
    z_stream z{};
    if (inflateInit(&z) != Z_OK) return settle(c, 0, want, true);
    bool ok = stream(c, want, [&](const char* in, size_t n, size_t* used, size_t* made) {
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
      z.avail_in = static_cast<uInt>(n);
      z.next_out = reinterpret_cast<Bytef*>(out_.data());
      z.avail_out = static_cast<uInt>(out_.size());
      int r = inflate(&z, Z_NO_FLUSH);
      *used = n - z.avail_in;
      *made = out_.size() - z.avail_out;
      if (r == Z_STREAM_END) return 1;
      if (r == Z_OK || (r == Z_BUF_ERROR && n == 0 && *made == 0)) return 0;
      return r == Z_BUF_ERROR ? 0 : -1;
    });
    inflateEnd(&z);
    return ok;
  }

  bool bzip2(const DmgChunk& c, uint64_t want) {
    bz_stream z{};
    if (BZ2_bzDecompressInit(&z, 0, 0) != BZ_OK) return settle(c, 0, want, true);
    bool ok = stream(c, want, [&](const char* in, size_t n, size_t* used, size_t* made) {
      z.next_in = const_cast<char*>(in);
      z.avail_in = static_cast<unsigned>(n);
      z.next_out = out_.data();
      z.avail_out = static_cast<unsigned>(out_.size());
      int r = BZ2_bzDecompress(&z);
      *used = n - z.avail_in;
      *made = out_.size() - z.avail_out;
      if (r == BZ_STREAM_END) return 1;
      return r == BZ_OK ? 0 : -1;
    });
    BZ2_bzDecompressEnd(&z);
    return ok;
  }

  bool adc(const DmgChunk& c, uint64_t want) {
    if (want > kMaxAdcChunk || c.length > kMaxAdcChunk) {
      findings_.push_back(make_finding("image.unsupported", "ADC chunk too large to decode",
                                       "sector " + std::to_string(c.sector)));
      return zeros(want);
    }
    std::string in = file_.read_string(c.offset, static_cast<size_t>(c.length));
    std::string out;
    out.reserve(static_cast<size_t>(want));
    bool ok = adc_decode(in, out, static_cast<size_t>(want));
    if (!out.empty() && !sink_(out.data(), out.size())) return false;
    return settle(c, out.size(), want, !ok);
  }

  const ByteSource& file_;
  const std::function<bool(const char*, size_t)>& sink_;
  std::vector<Finding>& findings_;
  std::vector<char> in_, out_;
  bool unsupported_noted_ = false;
  int bad_ = 0;
};

}  // namespace

bool decode_dmg(const ByteSource& file, const DmgLayout& layout,
                const std::function<bool(const char*, size_t)>& sink, std::vector<Finding>& findings) {
  Decoder d(file, sink, findings);
  uint64_t at = 0;  // sectors written so far
  for (const auto& c : layout.chunks) {
    if (c.sector > at && !d.zeros((c.sector - at) * 512)) return false;
    if (!d.chunk(c)) return false;
    at = c.sector + c.sectors;
  }
  return true;
}

namespace {

class DmgUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "dmg"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    DmgLayout layout = read_dmg_layout(*obj.bytes);
    for (auto& f : layout.findings) ctx.add_finding(std::move(f));
    if (!layout.valid) return;
    ChildInfo info;
    info.name = "disk";
    info.declared_size = static_cast<int64_t>(std::min<uint64_t>(layout.sectors, 1ull << 50) * 512);
    auto child = ctx.begin_child(info);
    if (!child) return;
    std::vector<Finding> findings;
    char head[4];
    size_t head_len = 0;
    decode_dmg(*obj.bytes, layout, [&](const char* p, size_t n) {
      size_t take = std::min(n, sizeof head - head_len);
      std::memcpy(head + head_len, p, take);
      head_len += take;
      return child->write(p, n);
    }, findings);
    child->finish();
    if (head_len == 4 && looks_executable(*memory_source(std::string(head, 4))))
      ctx.add_finding(make_finding("image.contains_executable", "the disk starts with executable code"));
    for (auto& f : findings) ctx.add_finding(std::move(f));
  }
};

SANDGATE_REGISTER_UNPACKER(DmgUnpacker, {"dmg"});

}  // namespace
}  // namespace image
}  // namespace sandgate
