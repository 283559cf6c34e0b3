// Password candidates from message text (see the header). Line-oriented
// heuristics over a length-preserving lowercase copy of each line, so offsets
// found in the copy index the original bytes.
#include "unpack/mime/mime_passwords.h"

#include <algorithm>
#include <array>

namespace sandgate {

namespace {

// Longer keywords first, so "password" wins over "pass" at one position.
constexpr std::array<std::string_view, 15> kKeywords = {
    "mot de passe", "contraseña", "contrasena", "wachtwoord", "password",
    "passwort",     "kennwort",   "пароль",     "passwd",     "parola",
    "hasło",        "haslo",      "senha",      "pass",       "pwd"};

// Words between the keyword and the password ("password for the archive is").
constexpr std::array<std::string_view, 31> kConnectors = {
    "is",         "ist",  "est", "es",  "é",    "era", "lautet", "was",  "for", "the", "archive",
    "attachment", "file", "zip", "to",  "open", "of",  "this",   "it",   "de",  "la",  "du",
    "do",         "für",  "die", "das", "den",  "zum", "öffnen", "para", "pour"};

bool ascii_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
// Letters for word boundaries: ASCII alphanumerics and any non-ASCII byte
// (a UTF-8 letter such as "ñ" or "л").
bool wordish(unsigned char c) { return ascii_alnum(c) || c >= 0x80; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

// Lowercases ASCII, Latin-1 capitals (U+00C0-U+00DE) and Cyrillic capitals
// (U+0400-U+042F) without changing the byte length.
std::string lower_same_length(std::string_view s) {
  std::string out(s);
  for (size_t i = 0; i < out.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(out[i]);
    if (c >= 'A' && c <= 'Z') {
      out[i] = static_cast<char>(c + 32);
    } else if (i + 1 < out.size()) {
      unsigned char d = static_cast<unsigned char>(out[i + 1]);
      if (c == 0xC3 && d >= 0x80 && d <= 0x9E && d != 0x97) {
        out[i + 1] = static_cast<char>(d + 0x20);
        ++i;
      } else if (c == 0xD0 && d >= 0x90 && d <= 0x9F) {
        out[i + 1] = static_cast<char>(d + 0x20);
        ++i;
      } else if (c == 0xD0 && d >= 0xA0 && d <= 0xAF) {
        out[i] = static_cast<char>(0xD1);
        out[i + 1] = static_cast<char>(d - 0x20);
        ++i;
      } else if (c == 0xD0 && d >= 0x80 && d <= 0x8F) {  // Ѐ..Џ -> ѐ..џ
        out[i] = static_cast<char>(0xD1);
        out[i + 1] = static_cast<char>(d + 0x10);
        ++i;
      }
    }
  }
  return out;
}

// A few HTML character references and no tags: enough to read a sentence.
std::string html_to_text(std::string_view html) {
  std::string out;
  out.reserve(std::min(html.size(), kMaxPasswordText));
  for (size_t i = 0; i < html.size();) {
    char c = html[i];
    if (c == '<') {
      size_t close = html.find('>', i);
      if (close == std::string_view::npos) break;
      std::string tag = lower_same_length(html.substr(i + 1, std::min<size_t>(close - i - 1, 4)));
      bool block = tag.starts_with("br") || tag.starts_with("p") || tag.starts_with("div") ||
                   tag.starts_with("/p") || tag.starts_with("/div") || tag.starts_with("tr") ||
                   tag.starts_with("li");
      out.push_back(block ? '\n' : ' ');
      i = close + 1;
      continue;
    }
    if (c == '&') {
      static constexpr std::pair<std::string_view, std::string_view> kRefs[] = {
          {"&quot;", "\""}, {"&#34;", "\""}, {"&apos;", "'"}, {"&#39;", "'"},
          {"&amp;", "&"},   {"&nbsp;", " "}, {"&lt;", "<"},   {"&gt;", ">"}};
      bool done = false;
      for (const auto& [ref, text] : kRefs) {
        if (html.substr(i, ref.size()) == ref) {
          out.append(text);
          i += ref.size();
          done = true;
          break;
        }
      }
      if (done) continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

// The closing quote for an opening one at s[i], and the opener's length;
// empty when s[i] opens no quote.
struct Quote {
  size_t open_len = 0;
  std::array<std::string_view, 2> close{};
};

Quote quote_at(std::string_view s, size_t i) {
  std::string_view r = s.substr(i);
  if (r.starts_with("\"")) return {1, {"\"", "\""}};
  if (r.starts_with("'")) return {1, {"'", "'"}};
  if (r.starts_with("`")) return {1, {"`", "'"}};
  if (r.starts_with("\u201C")) return {3, {"\u201D", "\""}};      // “ ”
  if (r.starts_with("\u201E")) return {3, {"\u201C", "\u201D"}};  // „ “
  if (r.starts_with("\u00AB")) return {2, {"\u00BB", "\u00BB"}};  // « »
  if (r.starts_with("\u2018")) return {3, {"\u2019", "'"}};       // ‘ ’
  return {};
}

class Collector {
 public:
  explicit Collector(size_t max) : max_(max) {}

  bool full() const { return out_.size() >= max_; }
  std::vector<std::string> take() { return std::move(out_); }

  void add(std::string_view c) {
    if (full() || c.empty() || c.size() > kMaxPasswordBytes) return;
    std::string lc = lower_same_length(c);
    for (std::string_view k : kKeywords)
      if (lc == k) return;
    for (std::string_view k : kConnectors)
      if (lc == k) return;
    if (std::find(out_.begin(), out_.end(), c) != out_.end()) return;
    out_.emplace_back(c);
  }

  // A bare token: trailing sentence punctuation is most likely not part of
  // the password, but may be: both forms, the stripped one first.
  void add_token(std::string_view t) {
    while (!t.empty() && (t.front() == '(' || t.front() == '[' || t.front() == '<'))
      t.remove_prefix(1);
    std::string_view stripped = t;
    while (!stripped.empty() &&
           std::string_view(".,;:)!?]}>*").find(stripped.back()) != std::string_view::npos)
      stripped.remove_suffix(1);
    add(stripped);
    if (stripped != t) add(t);
  }

  // Reads a quoted string starting at line[i]; returns false if none.
  bool add_quoted(std::string_view line, size_t i, size_t* end) {
    Quote q = quote_at(line, i);
    if (q.open_len == 0) return false;
    size_t start = i + q.open_len;
    size_t best = std::string_view::npos, best_len = 0;
    for (std::string_view close : q.close) {
      size_t at = line.find(close, start);
      if (at != std::string_view::npos && at < best) {
        best = at;
        best_len = close.size();
      }
    }
    if (best == std::string_view::npos) return false;
    add(line.substr(start, best - start));
    *end = best + best_len;
    return true;
  }

 private:
  size_t max_;
  std::vector<std::string> out_;
};

// Matches a keyword at lower[i] on word boundaries; returns its length or 0.
size_t keyword_at(std::string_view lower, size_t i) {
  if (i > 0 && wordish(static_cast<unsigned char>(lower[i - 1]))) {
    // Non-ASCII before a keyword is a letter only if it is not punctuation
    // such as "«" or "“": those end in 0xAB / 0x9C and precede words freely.
    unsigned char p = static_cast<unsigned char>(lower[i - 1]);
    if (p < 0x80 || (p != 0xAB && p != 0x9C && p != 0x9E && p != 0x98)) return 0;
  }
  for (std::string_view k : kKeywords) {
    if (lower.substr(i, k.size()) != k) continue;
    size_t end = i + k.size();
    if (end < lower.size() && ascii_alnum(static_cast<unsigned char>(lower[end]))) continue;
    if (end < lower.size()) {
      // A Latin-1 or Cyrillic letter right after: a longer word ("passé").
      unsigned char n = static_cast<unsigned char>(lower[end]);
      if (n == 0xC3 || n == 0xD0 || n == 0xD1) continue;
    }
    return k.size();
  }
  return 0;
}

// Skips separators and connector words after a keyword; returns the offset
// of the password token (== line.size() when the line ends first).
size_t skip_connectors(std::string_view line, std::string_view lower, size_t i) {
  for (int rounds = 0; rounds < 8 && i < line.size(); ++rounds) {
    while (i < line.size()) {
      std::string_view r = line.substr(i);
      if (is_space(line[i]) || line[i] == ':' || line[i] == '=' || line[i] == '-' ||
          line[i] == '*' || line[i] == '>') {
        ++i;
      } else if (r.starts_with("\u2013") || r.starts_with("\u2014") || r.starts_with("\uFF1A")) {
        i += 3;
      } else {
        break;
      }
    }
    size_t w = i;
    while (w < line.size() && wordish(static_cast<unsigned char>(line[w]))) ++w;
    std::string_view word = lower.substr(i, w - i);
    if (word.empty() ||
        std::find(kConnectors.begin(), kConnectors.end(), word) == kConnectors.end())
      break;
    // A connector followed directly by a quote or the end is still a connector.
    i = w;
  }
  return i;
}

}  // namespace

std::vector<std::string> find_password_candidates(std::string_view text, bool html,
                                                  size_t max_candidates) {
  text = text.substr(0, kMaxPasswordText);
  std::string converted;
  if (html) {
    converted = html_to_text(text);
    text = converted;
  }
  Collector found(max_candidates);
  bool take_next = false;  // a keyword ended the previous line
  size_t start = 0;
  while (start < text.size() && !found.full()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    start = nl + 1;
    std::string lower_s = lower_same_length(line);
    std::string_view lower = lower_s;

    if (take_next) {
      size_t i = 0;
      while (i < line.size() && is_space(line[i])) ++i;
      if (i == line.size()) continue;  // blank lines in between
      take_next = false;
      size_t end;
      if (!found.add_quoted(line, i, &end)) {
        size_t e = i;
        while (e < line.size() && !is_space(line[e])) ++e;
        found.add_token(line.substr(i, e - i));
      }
    }

    bool keyword_line = false;
    for (size_t i = 0; i < lower.size() && !found.full();) {
      size_t k = keyword_at(lower, i);
      if (k == 0) {
        ++i;
        continue;
      }
      keyword_line = true;
      size_t t = skip_connectors(line, lower, i + k);
      if (t >= line.size()) {
        take_next = true;
        break;
      }
      size_t end;
      if (!found.add_quoted(line, t, &end)) {
        end = t;
        while (end < line.size() && !is_space(line[end])) ++end;
        found.add_token(line.substr(t, end - t));
      }
      i = std::max(end, i + k);
    }
    if (!keyword_line) continue;
    // Every double-quoted string on a line that speaks of a password.
    for (size_t i = 0; i < line.size() && !found.full(); ++i) {
      if (line[i] == '\'' || line[i] == '`') continue;  // apostrophes are prose
      size_t end;
      if (found.add_quoted(line, i, &end)) i = end - 1;
    }
  }
  return found.take();
}

}  // namespace sandgate
