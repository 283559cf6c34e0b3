// Text formats: e-mail messages, markup (HTML, HTA, SVG, WSF, XML), scripts
// (scripts.cc) and plain text. Input is the head, already transcoded to UTF-8
// when it began with a UTF-16 BOM. Only content that is "texty" (no NUL, no
// control bytes besides the usual whitespace, ESC, BS, BEL and DOS EOF) is
// classified at all; plain "text" additionally needs well-formed UTF-8.
#include <algorithm>
#include <bit>
#include <cstring>

#include "unpack/type/probe.h"
#include "unpack/type/text_detail.h"
#include "unpack/utf8.h"

namespace sandgate::type_detail {
namespace {

inline bool texty_byte(uint8_t c) {
  return c >= 0x20 || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0x1B ||
         c == 0x08 || c == 0x07 || c == 0x1A;
}

bool is_texty(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  // Eight bytes at a time while none is below 0x20 (the SWAR test flags a
  // word holding any byte < 0x20; high bytes may flag falsely, which only
  // sends that word through the exact per-byte check).
  while (i + 8 <= n) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (((w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull) == 0) {
      i += 8;
      continue;
    }
    for (size_t k = i; k < i + 8; ++k)
      if (!texty_byte(p[k])) return false;
    i += 8;
  }
  for (; i < n; ++i)
    if (!texty_byte(p[i])) return false;
  return true;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

std::string_view skip_space(std::string_view s) {
  while (!s.empty() && is_space(s[0])) s.remove_prefix(1);
  return s;
}

// RFC 5322 section 2.2 header fields at the very start: every line up to the
// first empty one is text, and "name: value" (name of printable ASCII without
// ':') or a folded continuation. Then enough names of real message headers must occur
// that a "key: value" config file does not pass.
bool is_email(std::string_view s) {
  static constexpr std::string_view kKnown[] = {"from",
                                                "to",
                                                "cc",
                                                "subject",
                                                "date",
                                                "message-id",
                                                "mime-version",
                                                "received",
                                                "content-type",
                                                "content-transfer-encoding",
                                                "return-path",
                                                "delivered-to",
                                                "reply-to",
                                                "sender",
                                                "x-mailer",
                                                "dkim-signature",
                                                "authentication-results",
                                                "references",
                                                "in-reply-to",
                                                "x-originating-ip",
                                                "thread-topic",
                                                "arc-seal",
                                                "user-agent",
                                                "importance"};
  static constexpr std::string_view kStrong[] = {"mime-version", "received",     "message-id",
                                                 "return-path",  "delivered-to", "dkim-signature"};
  uint32_t seen = 0;  // bit per kKnown entry
  bool strong = false;
  int fields = 0;
  size_t pos = 0;
  for (int line_no = 0; line_no < 1000 && pos < s.size(); ++line_no) {
    size_t nl = s.find('\n', pos);
    std::string_view line = s.substr(pos, nl == std::string_view::npos ? s.size() - pos : nl - pos);
    pos = nl == std::string_view::npos ? s.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // end of the header section
    // The cheap structural checks first: most files fail on their first line
    // without a scan of the whole line.
    if (line[0] == ' ' || line[0] == '\t') {
      if (fields == 0 || !is_texty(line)) return false;
      continue;
    }
    size_t colon = line.substr(0, 77).find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;
    std::string name(line.substr(0, colon));
    for (char& c : name) {
      if (static_cast<uint8_t>(c) <= 32 || static_cast<uint8_t>(c) > 126) return false;
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    if (!is_texty(line.substr(colon + 1))) return false;
    ++fields;
    for (size_t i = 0; i < std::size(kKnown); ++i)
      if (name == kKnown[i]) seen |= 1u << i;
    for (std::string_view k : kStrong) strong = strong || name == k;
  }
  int known = std::popcount(seen);
  return fields >= 2 && (known >= 3 || (known >= 2 && strong));
}

// The tag name after each '<' in low (already lowercase), in one pass.
template <typename F>
bool any_tag(std::string_view low, F&& pred) {
  const char* base = low.data();
  const char* end = base + low.size();
  for (const char* p = base; p < end;) {
    const char* lt = static_cast<const char*>(std::memchr(p, '<', static_cast<size_t>(end - p)));
    if (!lt) break;
    const char* q = lt + 1;
    if (q < end && *q == '!') ++q;
    while (q < end && ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9'))) ++q;
    // A name ends at whitespace, '>' or '/'; a name cut by the sample counts too.
    if (q == end || is_space(*q) || *q == '>' || *q == '/') {
      if (pred(std::string_view(lt + 1, static_cast<size_t>(q - lt - 1)), q)) return true;
    }
    p = lt + 1;
  }
  return false;
}

bool has_tag(std::string_view low, std::string_view name) {
  return any_tag(low, [&](std::string_view tag, const char*) { return tag == name; });
}

bool html_tag_in(std::string_view low) {
  static constexpr std::string_view kTags[] = {
      "html", "head", "body", "script", "iframe", "meta", "title", "style", "div",    "table",
      "a",    "p",    "br",   "img",    "form",   "h1",   "link",  "font",  "center", "object"};
  const char* end = low.data() + low.size();
  return any_tag(low, [&](std::string_view tag, const char* after) {
    if (tag == "!doctype") {
      std::string_view rest(after, static_cast<size_t>(end - after));
      while (!rest.empty() && is_space(rest[0])) rest.remove_prefix(1);
      return rest.starts_with("html");
    }
    for (std::string_view t : kTags)
      if (tag == t) return true;
    return false;
  });
}

// Markup by its root element, after the XML declaration, processing
// instructions, comments and a DOCTYPE. `s` starts with '<'.
std::optional<TypeInfo> detect_markup(std::string_view s, std::string_view low_kib) {
  bool xml_decl = false, doctype_html = false;
  size_t pos = 0;
  for (int i = 0; i < 64; ++i) {
    while (pos < s.size() && is_space(s[pos])) ++pos;
    std::string_view rest = s.substr(pos);
    size_t end;
    if (rest.starts_with("<?")) {
      xml_decl = xml_decl || istarts_with(rest, "<?xml");
      end = rest.find("?>");
      if (end != std::string_view::npos) end += 2;
    } else if (rest.starts_with("<!--")) {
      end = rest.find("-->");
      if (end != std::string_view::npos) end += 3;
    } else if (istarts_with(rest, "<!doctype")) {
      doctype_html = doctype_html || istarts_with(rest, "<!doctype html");
      size_t bracket = rest.find('['), close = rest.find('>');
      if (bracket != std::string_view::npos && bracket < close) close = rest.find("]>", bracket);
      end = close == std::string_view::npos ? close : rest.find('>', close) + 1;
    } else {
      break;
    }
    if (end == std::string_view::npos) break;
    pos += end;
  }
  std::string root;
  if (pos < s.size() && s[pos] == '<') {
    for (size_t i = pos + 1; i < s.size() && root.size() < 64; ++i) {
      char c = s[i];
      bool name_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == ':' || c == '-' || c == '.';
      if (!name_char) break;
      root.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    }
  }
  // An HTA is HTML that mshta.exe runs with full rights; the tag may sit
  // anywhere in the head.
  auto html_or_hta = [&] {
    if (ifind(s, "<hta:application") != std::string_view::npos)
      return make_type("hta", "application/hta");
    return make_type("html", "text/html");
  };
  if (root == "svg" || (root.size() > 4 && root.ends_with(":svg")))
    return make_type("svg", "image/svg+xml");
  if (doctype_html || root == "html" || root == "hta:application") return html_or_hta();
  // Windows Script Host file: <job> or <package> holding <script language=...>.
  if ((root == "job" || root == "package") && ifind(s, "<script") != std::string_view::npos &&
      ifind(s, "language") != std::string_view::npos)
    return make_type("wsf", "text/x-wsf");
  if (xml_decl) return make_type("xml", "application/xml");
  if (html_tag_in(low_kib)) return html_or_hta();
  if (!root.empty() && (find_bytes(s, "</" + root) != std::string_view::npos ||
                        find_bytes(s, "/>") != std::string_view::npos))
    return make_type("xml", "application/xml");
  return std::nullopt;
}

}  // namespace

bool is_valid_utf8(std::string_view s, bool allow_cut_end) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // Fast path over ASCII, 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    uint8_t c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) {
      for (size_t k = i + 1; k < n; ++k)
        if ((p[k] & 0xC0) != 0x80) return false;
      return allow_cut_end;
    }
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF (RFC 3629 section 3).
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

std::optional<std::string> utf16_to_utf8(std::string_view s, bool little_endian) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  auto unit = [&](size_t at) { return little_endian ? le16(s, at) : be16(s, at); };
  while (i + 1 < s.size()) {
    uint32_t cp = unit(i);
    i += 2;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (i + 1 >= s.size()) break;  // cut by the end of the head
      uint32_t lo = unit(i);
      if (lo < 0xDC00 || lo > 0xDFFF) return std::nullopt;
      i += 2;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
      return std::nullopt;
    }
    append_utf8(out, cp);
  }
  return out;
}

std::optional<TypeInfo> detect_text(std::string_view text, bool whole_source) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  // The structured checks look at the first kScriptSample bytes; only plain
  // "text" vouches for the whole head.
  if (text.empty()) return std::nullopt;
  // A message is known by its header section alone (is_email reads only up
  // to the first blank line, and checks that each of its lines is text): a
  // preamble or body may hold any byte (8bit, binary, a NUL put there to make
  // the message look like opaque data), and the message must still be
  // unpacked.
  if (is_email(text)) return make_type("eml", "message/rfc822");
  if (!is_texty(text.substr(0, kScriptSample))) return std::nullopt;
  std::string_view body = skip_space(text);
  // Lowercase copies, made only as far as each check needs.
  std::string low_kib = lowercase(body.substr(0, 1024));
  if (body.starts_with("<")) {
    if (auto t = detect_markup(body, low_kib)) return t;
  } else if (low_kib.find("<!doctype html") != std::string_view::npos || has_tag(low_kib, "html")) {
    // Browsers render an HTML file whatever text precedes its tags.
    if (ifind(text, "<hta:application") != std::string_view::npos)
      return make_type("hta", "application/hta");
    return make_type("html", "text/html");
  }
  if (auto t = detect_script(text)) return t;
  if (!is_texty(text)) return std::nullopt;
  if (is_valid_utf8(text, !whole_source)) return make_type("text", "text/plain");
  // Legacy 8-bit text (Latin-1, Windows-1252 ...): mostly ASCII with some
  // high bytes. Deciding it here spares a libmagic call (~1 ms on text).
  // Mostly-high-byte content (CJK legacy encodings, or binary that avoids
  // control bytes) is left to libmagic.
  size_t high = 0;
  for (char c : text) high += static_cast<uint8_t>(c) >= 0x80;
  if (high * 4 <= text.size()) return make_type("text", "text/plain");
  return std::nullopt;
}

}  // namespace sandgate::type_detail
