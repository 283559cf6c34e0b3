// Streaming XML tag lexer; see xml_scan.h.
#include "analyzers/office/xml_scan.h"

#include <cstring>

#include "unpack/utf8.h"

namespace sandgate::office {

namespace {
bool is_name_delim(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '>' || c == '/';
}
}  // namespace

void XmlTagScanner::name_done() {
  std::string_view n = name_;
  bool end = n.starts_with("/");
  if (end) n.remove_prefix(1);
  bool ordinary = !n.empty() && !name_.starts_with("!") && !name_.starts_with("?");
  if (ordinary && h_.wants_tag(n)) {
    state_ = State::collect;
    tag_ = name_;
    quote_ = 0;
  } else {
    state_ = State::skip;
  }
}

void XmlTagScanner::feed(std::string_view chunk) {
  size_t i = 0;
  while (i < chunk.size()) {
    switch (state_) {
      case State::text: {
        const void* lt = std::memchr(chunk.data() + i, '<', chunk.size() - i);
        size_t end = lt ? static_cast<size_t>(static_cast<const char*>(lt) - chunk.data()) : chunk.size();
        if (end > i && h_.wants_text()) h_.on_text(chunk.substr(i, end - i));
        if (!lt) return;
        i = end + 1;
        name_.clear();
        // Fast path: the whole name lies in this chunk, so it is judged in
        // place; only names cut by the chunk end go through name_.
        size_t k = i;
        if (k < chunk.size() && chunk[k] == '/') ++k;
        size_t local = k;
        while (k < chunk.size() && !is_name_delim(chunk[k])) {
          if (chunk[k] == ':') local = k + 1;
          ++k;
        }
        if (k < chunk.size() && k - i < kMaxName) {
          bool end_tag = chunk[i] == '/';
          std::string_view local_name = chunk.substr(local, k - local);
          i = k;
          if (!local_name.empty() && local_name[0] != '!' && local_name[0] != '?' &&
              h_.wants_tag(local_name)) {
            tag_.assign(end_tag ? "/" : "");
            tag_.append(local_name);
            quote_ = 0;
            state_ = State::collect;
          } else {
            state_ = State::skip;
          }
          break;
        }
        state_ = State::name;
        break;
      }
      case State::name: {
        char c = chunk[i];
        bool delim = is_name_delim(c) && !(c == '/' && name_.empty());
        if (!delim) {
          // Keep only the local name (and the '/' of an end tag): a prefix
          // may be any length, and must not push the name out of the buffer.
          if (c == ':')
            name_.resize(name_.starts_with("/") ? 1 : 0);
          else if (name_.size() < kMaxName)
            name_.push_back(c);
          ++i;
          break;
        }
        name_done();
        break;  // the delimiter is handled by the new state
      }
      case State::skip: {
        const void* gt = std::memchr(chunk.data() + i, '>', chunk.size() - i);
        if (!gt) return;
        i = static_cast<size_t>(static_cast<const char*>(gt) - chunk.data()) + 1;
        state_ = State::text;
        break;
      }
      case State::collect: {
        size_t start = i;
        for (; i < chunk.size(); ++i) {
          char c = chunk[i];
          if (quote_) {
            if (c == quote_) quote_ = 0;
          } else if (c == '"' || c == '\'') {
            quote_ = c;
          } else if (c == '>') {
            break;
          }
        }
        size_t take = i - start;
        if (tag_.size() < kMaxTag)
          tag_.append(chunk.substr(start, std::min(take, kMaxTag - tag_.size())));
        if (i < chunk.size()) {  // found '>'
          ++i;
          state_ = State::text;
          h_.on_tag(tag_);
        }
        break;
      }
    }
  }
}

void scan_xml(const ByteSource& src, XmlHandler& h, uint64_t max_bytes) {
  XmlTagScanner scanner(h);
  std::string buf(64 * 1024, '\0');
  uint64_t off = 0;
  while (off < max_bytes) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), max_bytes - off));
    size_t n = src.read_at(off, buf.data(), want);
    if (n == 0) break;
    scanner.feed(std::string_view(buf.data(), n));
    off += n;
  }
}

namespace {

bool name_char(char c) {
  return c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '/' && c != '>' && c != '=';
}

std::string_view local(std::string_view qname) {
  size_t colon = qname.find(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

}  // namespace

std::string_view start_tag_name(std::string_view tag) {
  if (tag.empty() || tag[0] == '/' || tag[0] == '!' || tag[0] == '?') return {};
  size_t n = 0;
  while (n < tag.size() && name_char(tag[n])) ++n;
  return local(tag.substr(0, n));
}

std::string_view end_tag_name(std::string_view tag) {
  if (tag.size() < 2 || tag[0] != '/') return {};
  size_t n = 1;
  while (n < tag.size() && name_char(tag[n])) ++n;
  return local(tag.substr(1, n - 1));
}

bool is_self_closing(std::string_view tag) { return !tag.empty() && tag.back() == '/'; }

std::optional<std::string> attribute(std::string_view tag, std::string_view name) {
  size_t i = 0;
  while (i < tag.size() && name_char(tag[i])) ++i;  // element name
  while (i < tag.size()) {
    while (i < tag.size() && !name_char(tag[i])) ++i;
    size_t ns = i;
    while (i < tag.size() && name_char(tag[i])) ++i;
    std::string_view qname = tag.substr(ns, i - ns);
    while (i < tag.size() && (tag[i] == ' ' || tag[i] == '\t' || tag[i] == '\r' || tag[i] == '\n'))
      ++i;
    if (i >= tag.size() || tag[i] != '=') continue;
    ++i;
    while (i < tag.size() && (tag[i] == ' ' || tag[i] == '\t' || tag[i] == '\r' || tag[i] == '\n'))
      ++i;
    if (i >= tag.size()) break;
    char q = tag[i];
    std::string_view value;
    if (q == '"' || q == '\'') {
      size_t end = tag.find(q, i + 1);
      if (end == std::string_view::npos) end = tag.size();
      value = tag.substr(i + 1, end - i - 1);
      i = end + 1;
    } else {
      size_t vs = i;
      while (i < tag.size() && name_char(tag[i])) ++i;
      value = tag.substr(vs, i - vs);
    }
    if (local(qname) == name) return decode_entities(value);
  }
  return std::nullopt;
}

std::string decode_entities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out.push_back('&');
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    uint32_t cp = 0;
    bool ok = true;
    if (ent == "amp") cp = '&';
    else if (ent == "lt") cp = '<';
    else if (ent == "gt") cp = '>';
    else if (ent == "quot") cp = '"';
    else if (ent == "apos") cp = '\'';
    else if (ent.size() > 1 && ent[0] == '#') {
      bool hex = ent[1] == 'x' || ent[1] == 'X';
      for (size_t k = hex ? 2 : 1; k < ent.size() && ok; ++k) {
        char c = ent[k];
        int d = (c >= '0' && c <= '9') ? c - '0'
                : hex && (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : hex && (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                : -1;
        if (d < 0 || cp > 0x10FFFF) ok = false;
        else cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
      }
      if (cp > 0x10FFFF) ok = false;
    } else {
      ok = false;
    }
    if (!ok) {
      out.push_back('&');
      continue;
    }
    append_utf8(out, cp);
    i = semi;
  }
  return out;
}

}  // namespace sandgate::office
