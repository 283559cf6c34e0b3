// Lenient streaming decoders for MIME transfer encodings (see the header).
#include "unpack/mime/mime_decode.h"

#include <array>

namespace sandgate {

namespace {

// RFC 4648 4: the base64 alphabet as a table: 0-63 for alphabet
// characters, kSpace for whitespace, kPad for '=', kBad for the rest.
constexpr int8_t kSpace = -1, kPad = -2, kBad = -3;
constexpr std::array<int8_t, 256> make_b64_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = kBad;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = static_cast<int8_t>(c - 'A');
  for (int c = 'a'; c <= 'z'; ++c) t[c] = static_cast<int8_t>(c - 'a' + 26);
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<int8_t>(c - '0' + 52);
  t['+'] = 62;
  t['/'] = 63;
  t['='] = kPad;
  for (int c : {' ', '\t', '\r', '\n', '\v', '\f'}) t[c] = kSpace;
  return t;
}
constexpr std::array<int8_t, 256> kB64 = make_b64_table();

constexpr size_t kMaxHold = 256;  // whitespace held back before it is flushed as data

}  // namespace

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

void Base64Decoder::bad(uint64_t at) {
  if (bad_ == 0) first_bad_ = at;
  ++bad_;
}

void Base64Decoder::decode(std::string_view in, std::string* out) {
  // Decode into space reserved up front: at most 3 bytes per 4 characters.
  size_t old_size = out->size();
  out->resize(old_size + (in.size() + 3) / 4 * 3 + 3);
  char* p = out->data() + old_size;
  // The group state lives in locals while decoding: stores through `p` (a
  // char*) may alias members, which kept the compiler reloading them.
  uint32_t quad = quad_;
  int count = count_;
  const size_t n = in.size();
  const unsigned char* s = reinterpret_cast<const unsigned char*>(in.data());
  for (size_t i = 0; i < n; ++i) {
    // Fast path: a whole group of four alphabet characters at a group start.
    if (count == 0 && i + 4 <= n) {
      int a = kB64[s[i]], b = kB64[s[i + 1]], c = kB64[s[i + 2]], d = kB64[s[i + 3]];
      if ((a | b | c | d) >= 0) {
        uint32_t q = (uint32_t(a) << 18) | (uint32_t(b) << 12) | (uint32_t(c) << 6) | uint32_t(d);
        p[0] = static_cast<char>((q >> 16) & 0xff);
        p[1] = static_cast<char>((q >> 8) & 0xff);
        p[2] = static_cast<char>(q & 0xff);
        p += 3;
        after_pad_ = false;
        i += 3;
        continue;
      }
    }
    int v = kB64[s[i]];
    if (v >= 0) {
      // Data after padding: a concatenated second base64 stream; keep going.
      after_pad_ = false;
      quad = (quad << 6) | static_cast<uint32_t>(v);
      if (++count == 4) {
        *p++ = static_cast<char>((quad >> 16) & 0xff);
        *p++ = static_cast<char>((quad >> 8) & 0xff);
        *p++ = static_cast<char>(quad & 0xff);
        quad = 0;
        count = 0;
      }
    } else if (v == kSpace) {
      continue;
    } else if (v == kPad) {
      // Padding ends a group of 2 or 3 characters (RFC 4648 4). Extra '='
      // after padding is tolerated; anywhere else it is an error.
      if (count == 2) {
        *p++ = static_cast<char>((quad >> 4) & 0xff);
      } else if (count == 3) {
        *p++ = static_cast<char>((quad >> 10) & 0xff);
        *p++ = static_cast<char>((quad >> 2) & 0xff);
      } else if (!(count == 0 && after_pad_)) {
        bad(consumed_ + i);
      }
      if (count != 0) after_pad_ = count >= 2;
      quad = 0;
      count = 0;  // a lone character before '=' cannot encode a byte: dropped
    } else {
      bad(consumed_ + i);
    }
  }
  quad_ = quad;
  count_ = count;
  out->resize(static_cast<size_t>(p - out->data()));
  consumed_ += in.size();
}

void Base64Decoder::finish(std::string* out) {
  if (count_ == 2) {
    out->push_back(static_cast<char>((quad_ >> 4) & 0xff));
  } else if (count_ == 3) {
    out->push_back(static_cast<char>((quad_ >> 10) & 0xff));
    out->push_back(static_cast<char>((quad_ >> 2) & 0xff));
  } else if (count_ == 1) {
    bad(consumed_);
  }
  quad_ = 0;
  count_ = 0;
}

void QuotedPrintableDecoder::flush_hold(std::string* out) {
  out->append(hold_);
  hold_.clear();
}

void QuotedPrintableDecoder::decode(std::string_view in, std::string* out) {
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    switch (state_) {
      case State::kNormal:
        if (c == ' ' || c == '\t') {
          hold_.push_back(c);
          if (hold_.size() > kMaxHold) flush_hold(out);  // not plausible padding
        } else if (c == '=') {
          flush_hold(out);  // whitespace before '=' is not trailing
          hold_ = "=";
          state_ = State::kEq;
        } else {
          flush_hold(out);
          out->push_back(c);
        }
        break;
      case State::kEq:
        if (hex_value(c) >= 0) {
          hold_.push_back(c);
          state_ = State::kEqHex;
        } else if (c == ' ' || c == '\t') {
          hold_.push_back(c);  // "=" then trailing whitespace: maybe a soft break
          state_ = State::kEqSpace;
        } else {
          ++bad_;  // keep the '=' literally, then look at c afresh
          flush_hold(out);
          state_ = State::kNormal;
          --i;
        }
        break;
      case State::kEqHex:
        if (hex_value(c) >= 0) {
          out->push_back(static_cast<char>(hex_value(hold_[1]) * 16 + hex_value(c)));
          hold_.clear();
          state_ = State::kNormal;
        } else {
          ++bad_;
          flush_hold(out);
          state_ = State::kNormal;
          --i;
        }
        break;
      case State::kEqSpace:
        if ((c == ' ' || c == '\t') && hold_.size() < kMaxHold) {
          hold_.push_back(c);
        } else {
          ++bad_;
          flush_hold(out);
          state_ = State::kNormal;
          --i;
        }
        break;
    }
  }
}

void QuotedPrintableDecoder::end_line(std::string* out) {
  switch (state_) {
    case State::kNormal:
      hold_.clear();  // trailing whitespace is transport padding (6.7 (3))
      break;
    case State::kEq:
    case State::kEqSpace:
      hold_.clear();  // soft line break
      break;
    case State::kEqHex:
      ++bad_;
      flush_hold(out);
      break;
  }
}

void QuotedPrintableDecoder::line_break(std::string_view term, std::string* out) {
  bool soft = state_ == State::kEq || state_ == State::kEqSpace;
  end_line(out);
  state_ = State::kNormal;
  if (!soft) out->append(term);
}

void QuotedPrintableDecoder::finish(std::string* out) {
  end_line(out);
  state_ = State::kNormal;
}

uint64_t uudecode_line(std::string_view line, std::string* out, bool* is_end) {
  *is_end = false;
  // Some encoders strip the trailing spaces (value 0); treat a missing
  // character as 0 and a CR left by mixed line endings as nothing.
  while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) {
    *is_end = true;
    return 0;
  }
  auto value = [](unsigned char c, uint64_t* bad) -> uint32_t {
    if (c < 0x20 || c > 0x60) {
      ++*bad;
      return 0;
    }
    return (c - 0x20) & 0x3f;
  };
  uint64_t bad = 0;
  size_t n = value(static_cast<unsigned char>(line[0]), &bad);
  if (n == 0) {
    *is_end = bad == 0;
    return bad;
  }
  size_t pos = 1;
  size_t produced = 0;
  while (produced < n) {
    uint32_t group = 0;
    for (int k = 0; k < 4; ++k) {
      unsigned char c = pos < line.size() ? static_cast<unsigned char>(line[pos]) : ' ';
      ++pos;
      group = (group << 6) | value(c, &bad);
    }
    for (int k = 2; k >= 0 && produced < n; --k, ++produced)
      out->push_back(static_cast<char>((group >> (8 * k)) & 0xff));
  }
  return bad;
}

}  // namespace sandgate
