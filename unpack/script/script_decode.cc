// Decoders for hidden text: see script_decode.h.
#include "unpack/script/script_decode.h"

#include <algorithm>
#include <cstdint>

#include "unpack/utf8.h"

namespace sandgate {

namespace {

int b64val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

bool is_b64_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// Script Encoder substitution (the three columns the encoder rotates through
// for each character code; codes outside 9 and 32..127 and the codes of '<',
// '>' and '@' are never substituted) and the column chosen for the n-th
// character modulo 64. The data is the published reverse engineering of
// screnc.exe (e.g. the "Windows Script Encoder" write-ups by Mr. Brownstone
// and Didier Stevens' decode-vbe).
constexpr unsigned char kColumns[3][129] = {
    "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x57\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x2e\x47\x7a\x56\x42\x6a\x2f\x26\x49\x41\x34\x32\x5b\x76\x72\x43\x38\x39\x70\x45\x68\x71\x4f\x09\x62\x44\x23\x75\x3c\x7e\x3e\x5e\x40\x77\x4a\x61\x5d\x22\x4b\x6f\x4e\x3b\x4c\x50\x67\x2a\x7d\x74\x54\x2b\x2d\x2c\x30\x6e\x6b\x66\x35\x25\x21\x64\x4d\x52\x63\x3f\x7b\x78\x29\x28\x73\x59\x33\x7f\x6d\x55\x53\x7c\x3a\x5f\x65\x46\x58\x31\x69\x6c\x5a\x48\x27\x5c\x3d\x24\x79\x37\x60\x51\x20\x36",
    "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x6e\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x2d\x75\x52\x60\x71\x5e\x49\x5c\x62\x7d\x29\x36\x20\x7c\x7a\x7f\x6b\x63\x33\x2b\x68\x51\x66\x76\x31\x64\x54\x43\x3c\x3a\x3e\x7e\x40\x45\x2c\x2a\x74\x27\x37\x44\x79\x59\x2f\x6f\x26\x72\x6a\x39\x7b\x3f\x38\x77\x67\x53\x47\x34\x78\x5d\x30\x23\x5a\x5b\x6c\x48\x55\x70\x69\x2e\x4c\x21\x24\x4e\x50\x09\x56\x73\x35\x61\x4b\x58\x3b\x57\x22\x6d\x4d\x25\x28\x46\x4a\x32\x41\x3d\x5f\x4f\x42\x65",
    "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x7b\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x32\x30\x21\x29\x5b\x38\x33\x3d\x58\x3a\x35\x65\x39\x5c\x56\x73\x66\x4e\x45\x6b\x62\x59\x78\x5e\x7d\x4a\x6d\x71\x3c\x60\x3e\x53\x40\x42\x27\x48\x72\x75\x31\x37\x4d\x52\x22\x54\x6a\x47\x64\x2d\x20\x7f\x2e\x4c\x5d\x7e\x6c\x6f\x79\x74\x43\x26\x76\x25\x24\x2b\x28\x23\x41\x34\x09\x2a\x44\x3f\x77\x3b\x55\x69\x61\x63\x50\x67\x51\x49\x4f\x46\x68\x7c\x36\x70\x6e\x7a\x2f\x5f\x4b\x5a\x2c\x57",
};
constexpr char kPick[] = "0120121221210212021200122102122100212120200120210212001220012021";

bool substitutable(unsigned char c) {
  return (c == 9 || (c >= 32 && c < 128)) && c != '<' && c != '>' && c != '@';
}

// Decodes one block body (between "#@~^XXXXXX==" and "XXXXXX==^#~@").
void decode_block(std::string_view body, std::string& out, size_t max_out) {
  size_t index = 0;  // counts characters below 128, escapes counting once
  for (size_t i = 0; i < body.size() && out.size() < max_out; ++i) {
    unsigned char c = static_cast<unsigned char>(body[i]);
    if (c == '@' && i + 1 < body.size()) {
      char e = body[i + 1];
      char r = e == '&' ? '\n' : e == '#' ? '\r' : e == '*' ? '>' : e == '!' ? '<' : e == '$' ? '@' : 0;
      if (r) {
        out.push_back(r);
        ++index;
        ++i;
        continue;
      }
    }
    if (c < 128) {
      if (substitutable(c)) {
        int col = kPick[index % 64] - '0';
        out.push_back(static_cast<char>(kColumns[col][c]));
      } else {
        out.push_back(static_cast<char>(c));
      }
      ++index;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
}

bool block_header_at(std::string_view s, size_t at) {
  if (at + 12 > s.size()) return false;
  for (size_t i = at + 4; i < at + 10; ++i)
    if (!is_b64_char(static_cast<unsigned char>(s[i]))) return false;
  return s.substr(at + 10, 2) == "==";
}

}  // namespace

std::string decode_base64(std::string_view s, size_t max_out) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == ' ' || c == '\r' || c == '\n' || c == '\t') continue;
    int v = b64val(c);
    if (v < 0) break;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (out.size() >= max_out) break;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::vector<Base64Run> find_base64_runs(std::string_view text, size_t min_chars, size_t max_runs) {
  std::vector<Base64Run> runs;
  size_t i = 0;
  while (i < text.size() && runs.size() < max_runs) {
    if (!is_b64_char(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    size_t start = i, count = 0;
    while (i < text.size()) {
      unsigned char c = static_cast<unsigned char>(text[i]);
      if (is_b64_char(c)) {
        ++count;
        ++i;
      } else if ((c == '\r' || c == '\n') && count > 0) {
        ++i;
      } else {
        break;
      }
    }
    while (i < text.size() && text[i] == '=' && i - start < text.size()) ++i;
    if (count >= min_chars) runs.push_back({start, i - start});
  }
  return runs;
}

bool has_script_encoder_block(std::string_view text) {
  for (size_t at = text.find("#@~^"); at != std::string_view::npos; at = text.find("#@~^", at + 1))
    if (block_header_at(text, at)) return true;
  return false;
}

bool decode_script_encoder(std::string_view text, std::string* out, size_t max_out) {
  out->clear();
  bool found = false;
  size_t pos = 0;
  while (pos < text.size() && out->size() < max_out) {
    size_t at = text.find("#@~^", pos);
    while (at != std::string_view::npos && !block_header_at(text, at)) at = text.find("#@~^", at + 1);
    if (at == std::string_view::npos) break;
    found = true;
    out->append(text.substr(pos, std::min(at - pos, max_out - out->size())));
    size_t body = at + 12;
    size_t end = text.find("^#~@", body);
    size_t stop = end == std::string_view::npos ? text.size() : end;
    // The 8 characters before the trailer are the checksum ("XXXXXX==").
    size_t body_end = stop >= body + 8 && end != std::string_view::npos ? stop - 8 : stop;
    decode_block(text.substr(body, body_end - body), *out, max_out);
    pos = end == std::string_view::npos ? text.size() : end + 4;
  }
  if (found && pos < text.size() && out->size() < max_out)
    out->append(text.substr(pos, max_out - out->size()));
  if (out->size() > max_out) out->resize(max_out);
  return found;
}

std::string encode_script_encoder(std::string_view plain) {
  std::string body;
  size_t index = 0;
  for (char ch : plain) {
    unsigned char c = static_cast<unsigned char>(ch);
    int col = kPick[index % 64] - '0';
    std::string piece;
    if (c == '\n') piece = "@&";
    else if (c == '\r') piece = "@#";
    else if (c == '>') piece = "@*";
    else if (c == '<') piece = "@!";
    else if (c == '@') piece = "@$";
    else if (c < 128) {
      for (int e = 0; e < 128 && piece.empty(); ++e)
        if (substitutable(static_cast<unsigned char>(e)) && kColumns[col][e] == c)
          piece.push_back(static_cast<char>(e));
      if (piece.empty()) piece.push_back(ch);  // not representable: kept as is
    } else {
      body.push_back(ch);
      continue;
    }
    body += piece;
    ++index;
  }
  // The length and checksum fields are not checked by the decoder.
  return "#@~^AAAAAA==" + body + "AAAAAA==^#~@";
}

std::string utf16le_to_utf8(std::string_view b, size_t max_out) {
  std::string out;
  for (size_t i = 0; i + 1 < b.size() && out.size() < max_out; i += 2) {
    uint32_t cp = static_cast<unsigned char>(b[i]) | (static_cast<unsigned char>(b[i + 1]) << 8);
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 3 < b.size()) {
      uint32_t lo = static_cast<unsigned char>(b[i + 2]) | (static_cast<unsigned char>(b[i + 3]) << 8);
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        i += 2;
      }
    }
    append_utf8(out, cp);
  }
  return out;
}

}  // namespace sandgate
