// BinHex 4.0 decoding and extraction from mail bodies (see the header).
// Format (RFC 1741 appendix): 6-bit characters from a 64-character alphabet,
// 4 characters to 3 bytes; then run-length expansion where 0x90 n repeats the
// previous byte to n copies in all (0x90 0x00 is a literal 0x90); then a
// header (name length, name, version, type, creator, flags, data length,
// resource length, CRC), the data fork and its CRC, the resource fork and
// its CRC. CRCs are CRC-16/XMODEM, big-endian.
#include "unpack/mime/mime_binhex.h"

#include <array>

#include "unpack/cursor.h"
#include "unpack/mime/mime_header.h"
#include "unpack/mime/mime_line_reader.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"mime.binhex.crc", Severity::medium,
     "a BinHex file's header or data CRC does not match (the bytes are still inspected)"},
    {"mime.binhex.malformed", Severity::low,
     "a BinHex file has invalid characters or ends early; what was decoded is inspected"},
});

namespace {

constexpr std::string_view kAlphabet =
    "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
constexpr std::string_view kBanner = "(This file must be converted with BinHex";
constexpr size_t kHeaderFixed = 19;  // version 1, type 4, creator 4, flags 2, lengths 4 + 4
constexpr size_t kDataPiece = 64 * 1024;

constexpr std::array<int8_t, 256> kDecode = [] {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (size_t i = 0; i < kAlphabet.size(); ++i)
    t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}();

uint16_t crc_byte(uint16_t crc, uint8_t b) {
  crc ^= static_cast<uint16_t>(b) << 8;
  for (int i = 0; i < 8; ++i)
    crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                         : static_cast<uint16_t>(crc << 1);
  return crc;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view ltrim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

}  // namespace

uint16_t binhex_crc16(std::string_view data, uint16_t crc) {
  for (char c : data) crc = crc_byte(crc, static_cast<uint8_t>(c));
  return crc;
}

bool has_binhex_banner(std::string_view text) { return text.find(kBanner) != text.npos; }

bool starts_with_binhex_data(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;
  if (i == text.size() || text[i] != ':') return false;
  // The encoded header alone is over 30 characters; 64 in a row from the
  // alphabet (line breaks between) is no prose and no other format.
  size_t run = 0;
  for (++i; i < text.size() && run < 64; ++i) {
    if (text[i] == '\r' || text[i] == '\n') continue;
    if (kDecode[static_cast<uint8_t>(text[i])] < 0) return false;
    ++run;
  }
  return run == 64;
}

BinHexDecoder::BinHexDecoder(HeaderFn on_header, DataFn on_data)
    : on_header_(std::move(on_header)), on_data_(std::move(on_data)) {}

void BinHexDecoder::feed(std::string_view text) {
  for (char c : text) {
    if (state_ == State::kDone) return;  // the resource fork is not needed
    if (is_space(c)) continue;
    int8_t v = kDecode[static_cast<uint8_t>(c)];
    if (v < 0) {
      ++defects_.bad_chars;
      continue;
    }
    sextet(static_cast<uint8_t>(v));
  }
  flush_data();
}

void BinHexDecoder::sextet(uint8_t v) {
  bits_ = (bits_ << 6) | v;
  nbits_ += 6;
  if (nbits_ >= 8) {
    nbits_ -= 8;
    rle(static_cast<uint8_t>(bits_ >> nbits_));
    bits_ &= (1u << nbits_) - 1;
  }
}

void BinHexDecoder::rle(uint8_t b) {
  if (marker_) {
    marker_ = false;
    if (b == 0) {
      emit(0x90, 1);
      last_ = 0x90;
      have_last_ = true;
    } else if (have_last_ && b > 1) {
      emit(last_, static_cast<size_t>(b) - 1);  // the first copy was already output
    }
    return;
  }
  if (b == 0x90) {
    marker_ = true;
    return;
  }
  emit(b, 1);
  last_ = b;
  have_last_ = true;
}

void BinHexDecoder::emit(uint8_t b, size_t count) {
  for (size_t i = 0; i < count && state_ != State::kDone; ++i) byte(b);
}

void BinHexDecoder::byte(uint8_t b) {
  switch (state_) {
    case State::kNameLength:
      header_.push_back(static_cast<char>(b));
      name_length_ = b;
      state_ = name_length_ > 0 ? State::kName : State::kHeaderRest;
      break;
    case State::kName:
      header_.push_back(static_cast<char>(b));
      if (header_.size() == 1 + name_length_) state_ = State::kHeaderRest;
      break;
    case State::kHeaderRest:
      header_.push_back(static_cast<char>(b));
      if (header_.size() == 1 + name_length_ + kHeaderFixed) state_ = State::kHeaderCrc;
      break;
    case State::kHeaderCrc: {
      crc_bytes_.push_back(static_cast<char>(b));
      if (crc_bytes_.size() < 2) break;
      ByteCursor crc(crc_bytes_);
      defects_.header_crc = crc.u16be() != binhex_crc16(header_);
      crc_bytes_.clear();
      ByteCursor h(header_);
      h.skip(1);
      header_info_.name = std::string(h.bytes(name_length_));
      h.skip(1);  // version
      header_info_.type = h.u32be();
      header_info_.creator = h.u32be();
      header_info_.flags = h.u16be();
      header_info_.data_length = h.u32be();
      header_info_.resource_length = h.u32be();
      data_left_ = header_info_.data_length;
      data_crc_ = 0;
      want_data_ = on_header_(header_info_);
      state_ = data_left_ > 0 ? State::kData : State::kDataCrc;
      break;
    }
    case State::kData:
      data_crc_ = crc_byte(data_crc_, b);
      if (want_data_) {
        pending_.push_back(static_cast<char>(b));
        if (pending_.size() >= kDataPiece) flush_data();
      }
      if (--data_left_ == 0) {
        flush_data();
        state_ = State::kDataCrc;
      }
      break;
    case State::kDataCrc:
      crc_bytes_.push_back(static_cast<char>(b));
      if (crc_bytes_.size() == 2) {
        ByteCursor crc(crc_bytes_);
        defects_.data_crc = crc.u16be() != data_crc_;
        state_ = State::kDone;
      }
      break;
    case State::kDone:
      break;
  }
}

void BinHexDecoder::flush_data() {
  if (pending_.empty()) return;
  if (want_data_ && !on_data_(pending_)) want_data_ = false;
  pending_.clear();
}

void BinHexDecoder::finish() {
  flush_data();
  if (state_ <= State::kHeaderCrc) {
    defects_.no_header = true;
    defects_.truncated = true;
  } else if (state_ != State::kDone) {
    defects_.truncated = true;
  }
}

size_t scan_binhex(const ByteSource& body, UnpackContext& ctx, size_t max_files,
                   bool banner_optional, const std::string& where, bool* stop) {
  *stop = false;
  size_t emitted = 0;
  bool capped = false;  // a file past max_files was seen (reported once)
  enum class State { kSearch, kAwaitColon, kData } state = State::kSearch;
  std::unique_ptr<ChildWriter> writer;
  bool writer_dead = false;
  std::unique_ptr<BinHexDecoder> decoder;

  auto start_file = [&] {
    decoder = std::make_unique<BinHexDecoder>(
        [&](const BinHexHeader& h) {
          ChildInfo info;
          info.name = display_name(to_utf8("MACINTOSH", h.name));
          if (info.name.empty()) info.name = "binhex" + std::to_string(emitted + 1);
          info.declared_size = h.data_length;
          writer = ctx.begin_child(std::move(info));
          if (!writer) {
            *stop = true;
            return false;
          }
          writer_dead = false;
          return true;
        },
        [&](std::string_view data) {
          if (writer_dead || !writer) return false;
          if (!writer->write(data.data(), data.size())) writer_dead = true;
          return !writer_dead;
        });
    state = State::kData;
  };
  auto end_file = [&] {
    decoder->finish();
    const BinHexDefects& d = decoder->defects();
    std::string defects;
    if (d.bad_chars > 0) defects = std::to_string(d.bad_chars) + " bad characters";
    if (d.truncated) defects += std::string(defects.empty() ? "" : ", ") + "ends early";
    if (writer) {
      if (d.header_crc || d.data_crc)
        writer->add_finding(make_finding("mime.binhex.crc", "BinHex CRC mismatch in " + where,
                                         std::string(d.header_crc ? "header" : "") +
                                             (d.header_crc && d.data_crc ? " and " : "") +
                                             (d.data_crc ? "data fork" : "")));
      if (!defects.empty())
        writer->add_finding(
            make_finding("mime.binhex.malformed", "broken BinHex file in " + where, defects));
      writer->finish();
      writer.reset();
      ++emitted;
    } else if (d.no_header && !*stop) {
      ctx.add_finding(make_finding("mime.binhex.malformed",
                                   "BinHex data in " + where + " without a readable header",
                                   defects));
    }
    decoder.reset();
    state = State::kSearch;
  };

  LineReader reader(body);
  LineFragment f;
  while (!*stop && reader.next(&f)) {
    if (ctx.should_stop()) {
      *stop = true;
      break;
    }
    std::string_view line = f.data;
    if (state == State::kSearch) {
      if (!f.line_start) continue;
      std::string_view t = ltrim(line);
      const bool banner = t.substr(0, kBanner.size()) == kBanner;
      if (!banner && (!banner_optional || t.empty() || t.front() != ':')) continue;
      if (emitted >= max_files) {
        // Not read: a limit, so that the policy's on_limit decides.
        if (!capped)
          ctx.add_finding(make_finding("limits.objects",
                                       "more BinHex files in " + where +
                                           " than the limit; the rest were not read",
                                       std::to_string(max_files) + " files read"));
        capped = true;
        continue;
      }
      state = State::kAwaitColon;
      if (banner) continue;
      line = t;
    }
    if (state == State::kAwaitColon) {
      if (!f.line_start) continue;
      std::string_view t = ltrim(line);
      if (t.empty()) continue;  // blank lines may separate the banner and the data
      if (t.front() != ':') {
        state = State::kSearch;  // the banner was prose
        continue;
      }
      line = t.substr(1);
      start_file();
    }
    // kData: everything up to the closing ':'.
    size_t colon = line.find(':');
    decoder->feed(line.substr(0, colon));
    if (colon != std::string_view::npos || decoder->data_done()) {
      // Past the data fork nothing more is needed; the rest up to ':' is the
      // resource fork, which is ignored, so skip to the closing ':'.
      if (colon == std::string_view::npos) {
        bool closed = false;
        while (!closed && reader.next(&f)) closed = f.data.find(':') != std::string_view::npos;
      }
      end_file();
    }
  }
  if (decoder) end_file();
  return emitted;
}

}  // namespace sandgate
