// MIME header parsing (see the header for the contract). RFC 5322 2.2.3
// (unfolding), RFC 2045 5.1 (Content-Type), RFC 2183 (Content-Disposition),
// RFC 2231 (parameter continuations and charsets), RFC 2047 (encoded words).
#include "unpack/mime/mime_header.h"

#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "unpack/mime/mime_decode.h"

namespace sandgate {

namespace {

constexpr size_t kMaxFieldName = 256;
constexpr size_t kMaxRawParams = 256;  // raw "name=value" pairs looked at
constexpr int kMaxSegments = 1000;     // RFC 2231 continuation index bound
constexpr size_t kMaxCharsetName = 40;
constexpr size_t kMaxEncodedWord = 512;  // longer than RFC 2047's 75, for lenience
constexpr size_t kMaxMimeType = 255;     // RFC 6838 4.2: 127 + "/" + 127

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowercase(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = lower(c);
  return r;
}

bool is_wsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Length of the valid UTF-8 sequence at s[i] (RFC 3629 4: no overlongs, no
// surrogates, nothing above U+10FFFF), 0 if invalid. Sets *cp.
size_t utf8_sequence(std::string_view s, size_t i, uint32_t* cp) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  size_t len;
  uint32_t v, min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    len = 2, v = c & 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, v = c & 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

// Valid UTF-8 kept; every byte that does not start a valid sequence is read
// as ISO-8859-1 (the usual charset of raw 8-bit header text).
std::string fix_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t len = utf8_sequence(s, i, &cp);
    if (len == 0) {
      append_utf8(static_cast<unsigned char>(s[i]), &out);
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

bool is_token_char(char c) {
  // RFC 2045 5.1: any CHAR except SPACE, CTLs and tspecials.
  unsigned char u = static_cast<unsigned char>(c);
  if (u <= 32 || u >= 127) return false;
  return std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;
}

// Skips whitespace and (nested) comments (RFC 5322 3.2.2).
void skip_cfws(std::string_view s, size_t* i) {
  while (*i < s.size()) {
    if (is_wsp(s[*i])) {
      ++*i;
    } else if (s[*i] == '(') {
      int depth = 0;
      while (*i < s.size()) {
        char c = s[*i];
        if (c == '\\') {
          *i += 2;
          continue;
        }
        ++*i;
        if (c == '(') ++depth;
        if (c == ')' && --depth == 0) break;
      }
      *i = std::min(*i, s.size());
    } else {
      break;
    }
  }
}

// Reads a quoted string starting at s[*i] == '"' (RFC 5322 3.2.4); an
// unterminated one runs to the end.
std::string read_quoted(std::string_view s, size_t* i) {
  std::string out;
  ++*i;
  while (*i < s.size()) {
    char c = s[(*i)++];
    if (c == '"') break;
    if (c == '\\' && *i < s.size()) c = s[(*i)++];
    out.push_back(c);
  }
  return out;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct Segment {
  std::string value;
  bool encoded = false;
};

void note_duplicate(HeaderValue* hv, const std::string& name) {
  if (hv->duplicates.size() < 8 &&
      std::find(hv->duplicates.begin(), hv->duplicates.end(), name) == hv->duplicates.end())
    hv->duplicates.push_back(name);
}

}  // namespace

bool HeaderBlock::add_line(std::string_view line) {
  if (line.empty()) return false;
  if (line[0] == ' ' || line[0] == '\t') {
    // Unfolding removes only the line break; the whitespace stays.
    append(line);
    return true;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon > kMaxFieldName) return false;
  std::string_view name = line.substr(0, colon);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  if (name.empty()) return false;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126) return false;
  }
  ++fields_;
  std::string lname = lowercase(name);
  current_ = nullptr;
  auto take = [&](bool* seen, std::string* value) {
    if (*seen) {
      if (duplicates_.size() < 16) duplicates_.push_back(lname);
      return;
    }
    *seen = true;
    current_ = value;
  };
  if (lname == "content-type") {
    take(&has_content_type_, &content_type_);
  } else if (lname == "content-transfer-encoding") {
    take(&has_cte_, &transfer_encoding_);
  } else if (lname == "content-disposition") {
    take(&has_disposition_, &disposition_);
  } else if (lname == "subject") {
    // Not a MIME field: a second one is no duplicate worth reporting here.
    if (!has_subject_) {
      has_subject_ = true;
      current_ = &subject_;
    }
  } else if (lname == "mime-version") {
    has_mime_version_ = true;
  }
  append(line.substr(colon + 1));
  return true;
}

void HeaderBlock::append(std::string_view more) {
  if (current_ == nullptr || current_->size() >= kMaxFieldBytes) return;
  current_->append(more.substr(0, kMaxFieldBytes - current_->size()));
}

bool HeaderValue::is_extended(std::string_view name) const {
  return std::find(extended.begin(), extended.end(), name) != extended.end();
}

const std::string* HeaderValue::param(std::string_view name) const {
  auto it = params.find(std::string(name));
  return it == params.end() ? nullptr : &it->second;
}

HeaderValue parse_header_value(std::string_view s) {
  HeaderValue hv;
  size_t i = 0;
  // The value proper: everything up to the first ';' minus CFWS.
  for (;;) {
    skip_cfws(s, &i);
    if (i >= s.size() || s[i] == ';') break;
    if (s[i] == '"') {
      hv.value += lowercase(read_quoted(s, &i));
    } else {
      hv.value.push_back(lower(s[i++]));
    }
  }

  std::map<std::string, std::string> plain;
  std::map<std::string, std::map<int, Segment>> segmented;
  size_t raw_count = 0;
  while (i < s.size() && raw_count < kMaxRawParams) {
    if (s[i] == ';') ++i;
    skip_cfws(s, &i);
    if (i >= s.size()) break;
    size_t name_start = i;
    while (i < s.size() && s[i] != '=' && s[i] != ';') ++i;
    std::string name = lowercase(trim(s.substr(name_start, i - name_start)));
    if (i >= s.size() || s[i] == ';') continue;  // a parameter without '=': skipped
    ++i;                                         // '='
    skip_cfws(s, &i);
    std::string value;
    if (i < s.size() && s[i] == '"') {
      value = read_quoted(s, &i);
      while (i < s.size() && s[i] != ';') ++i;  // junk after the closing quote
    } else {
      // Lenient: an unquoted value runs to ';' (real mail has spaces in them).
      size_t start = i;
      while (i < s.size() && s[i] != ';') ++i;
      value = std::string(trim(s.substr(start, i - start)));
    }
    ++raw_count;
    if (name.empty()) continue;

    size_t star = name.find('*');
    if (star == std::string::npos) {
      auto [it, added] = plain.emplace(name, value);
      if (!added && it->second != value) note_duplicate(&hv, name);
      continue;
    }
    // RFC 2231 3 and 4: "name*", "name*N" and "name*N*".
    std::string base = name.substr(0, star);
    std::string_view rest = std::string_view(name).substr(star + 1);
    if (base.empty()) continue;
    Segment seg;
    int index = 0;
    if (rest.empty()) {
      seg.encoded = true;
    } else {
      bool encoded = rest.back() == '*';
      if (encoded) rest.remove_suffix(1);
      if (rest.empty() || rest.size() > 4) continue;
      bool digits =
          std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits) continue;
      std::from_chars(rest.data(), rest.data() + rest.size(), index);
      if (index >= kMaxSegments) continue;
      seg.encoded = encoded;
    }
    seg.value = std::move(value);
    if (segmented.size() < kMaxParams || segmented.count(base)) {
      auto [it, added] = segmented[base].emplace(index, seg);
      if (!added && (it->second.value != seg.value || it->second.encoded != seg.encoded))
        note_duplicate(&hv, base);
    }
  }

  for (auto& [name, value] : plain) {
    if (hv.params.size() >= kMaxParams) break;
    hv.params.emplace(name, std::move(value));
  }
  for (auto& [base, segs] : segmented) {
    std::string charset;
    std::string bytes;
    for (int n = 0; n < kMaxSegments; ++n) {
      auto it = segs.find(n);
      if (it == segs.end()) break;  // RFC 2231 3: segments are consecutive
      std::string_view v = it->second.value;
      if (it->second.encoded) {
        if (n == 0) {
          // charset'language'value (RFC 2231 4); either part may be empty.
          size_t q1 = v.find('\'');
          size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
          if (q2 != std::string_view::npos) {
            charset = std::string(v.substr(0, q1));
            v = v.substr(q2 + 1);
          }
        }
        bytes += percent_decode(v);
      } else {
        bytes += v;
      }
      if (bytes.size() > kMaxFieldBytes) break;
    }
    if (segs.empty() || segs.begin()->first != 0) continue;
    hv.params[base] = to_utf8(charset, bytes);
    hv.extended.push_back(base);
  }
  return hv;
}

std::string normalize_mime_type(std::string_view value) {
  if (value.size() > kMaxMimeType) return {};
  size_t slash = value.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= value.size()) return {};
  for (size_t k = 0; k < value.size(); ++k) {
    if (k == slash) continue;
    if (!is_token_char(value[k])) return {};
  }
  return lowercase(value);
}

std::string to_utf8(std::string_view charset_in, std::string_view bytes) {
  std::string cs = lowercase(trim(charset_in));
  size_t star = cs.find('*');  // RFC 2231 5: charset*language
  if (star != std::string::npos) cs.resize(star);
  if (cs.empty() || cs == "utf-8" || cs == "utf8" || cs == "us-ascii" || cs == "ascii")
    return fix_utf8(bytes);
  if (cs == "iso-8859-1" || cs == "iso8859-1" || cs == "latin1" || cs == "l1") {
    std::string out;
    for (char c : bytes) append_utf8(static_cast<unsigned char>(c), &out);
    return out;
  }
  bool plausible = cs.size() <= kMaxCharsetName && std::all_of(cs.begin(), cs.end(), [](char c) {
                     return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '_' || c == '.' || c == ':';
                   });
  if (!plausible) return fix_utf8(bytes);
  iconv_t cd = iconv_open("UTF-8", cs.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return fix_utf8(bytes);

  std::string out;
  const size_t max_out = bytes.size() * 8 + 64;
  char buf[4096];
  char* in = const_cast<char*>(bytes.data());
  size_t in_left = bytes.size();
  bool flushing = false;
  while (out.size() < max_out) {
    char* o = buf;
    size_t o_left = sizeof buf;
    size_t r =
        flushing ? iconv(cd, nullptr, nullptr, &o, &o_left) : iconv(cd, &in, &in_left, &o, &o_left);
    int err = errno;
    out.append(buf, static_cast<size_t>(o - buf));
    if (r != static_cast<size_t>(-1)) {
      if (flushing) break;
      flushing = true;  // emit any shift sequence state (ISO-2022)
      continue;
    }
    if (err == E2BIG) continue;
    if (flushing) break;
    // EILSEQ / EINVAL: replace one byte and carry on.
    out.append("\xEF\xBF\xBD");
    if (in_left == 0) break;
    ++in;
    --in_left;
  }
  iconv_close(cd);
  return fix_utf8(out);
}

std::string decode_encoded_words(std::string_view s) {
  // Enough for any name that survives display_name()'s cap after decoding.
  s = s.substr(0, kMaxNameBytes * 16);
  std::string out;
  std::string raw;         // text outside encoded words, not yet converted
  std::string pending_ws;  // whitespace after an encoded word
  std::string ew_charset;  // charset of ew_bytes
  std::string ew_bytes;    // decoded bytes of adjacent encoded words
  bool after_ew = false;

  auto flush_ew = [&] {
    if (!ew_bytes.empty()) out += to_utf8(ew_charset, ew_bytes);
    ew_bytes.clear();
  };
  auto flush_raw = [&] {
    if (!raw.empty()) out += fix_utf8(raw);
    raw.clear();
  };

  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '=' && i + 1 < s.size() && s[i + 1] == '?') {
      // =?charset?encoding?text?=  (RFC 2047 2)
      // Searches are windowed so "=?=?=?..." stays linear.
      size_t q1 = s.substr(0, i + 2 + kMaxCharsetName + 20).find('?', i + 2);
      if (q1 != std::string_view::npos && q1 + 2 < s.size() && s[q1 + 2] == '?') {
        char enc = lower(s[q1 + 1]);
        size_t end = s.substr(0, q1 + 3 + kMaxEncodedWord + 2).find("?=", q1 + 3);
        std::string_view charset = s.substr(i + 2, q1 - (i + 2));
        if ((enc == 'b' || enc == 'q') && end != std::string_view::npos &&
            end - (q1 + 3) <= kMaxEncodedWord && !charset.empty()) {
          std::string_view text = s.substr(q1 + 3, end - (q1 + 3));
          std::string decoded;
          if (enc == 'b') {
            Base64Decoder d;
            d.decode(text, &decoded);
            d.finish(&decoded);
          } else {
            for (size_t k = 0; k < text.size(); ++k) {  // RFC 2047 4.2
              if (text[k] == '_') {
                decoded.push_back(' ');
              } else if (text[k] == '=' && k + 2 < text.size() && hex_value(text[k + 1]) >= 0 &&
                         hex_value(text[k + 2]) >= 0) {
                decoded.push_back(
                    static_cast<char>(hex_value(text[k + 1]) * 16 + hex_value(text[k + 2])));
                k += 2;
              } else {
                decoded.push_back(text[k]);
              }
            }
          }
          // 6.2: whitespace between adjacent encoded words is dropped; bytes of
          // words in the same charset are joined before conversion, since
          // encoders split multi-byte characters across words.
          std::string cs = lowercase(charset);
          if (!after_ew) flush_raw();
          if (!after_ew || cs != ew_charset) flush_ew();
          ew_charset = cs;
          ew_bytes += decoded;
          pending_ws.clear();
          after_ew = true;
          i = end + 2;
          continue;
        }
      }
    }
    if (after_ew && is_wsp(s[i])) {
      pending_ws.push_back(s[i++]);
      continue;
    }
    if (after_ew) {
      flush_ew();
      raw += pending_ws;
      pending_ws.clear();
      after_ew = false;
    }
    raw.push_back(s[i++]);
  }
  flush_ew();
  raw += pending_ws;
  flush_raw();
  return out;
}

std::string display_name(std::string_view in) {
  std::string s = fix_utf8(in);
  std::string out;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    size_t len = utf8_sequence(s, i, &cp);
    if (len == 0) len = 1;  // cannot happen after fix_utf8
    if (out.size() + len > kMaxNameBytes) break;
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
      out.push_back('_');
    } else {
      out.append(s, i, len);
    }
    i += len;
  }
  return out;
}

}  // namespace sandgate
