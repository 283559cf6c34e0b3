// Raw keyword scan of PDF bytes: the fallback when qpdf cannot open a file or
// reports damage. Finds name tokens (ISO 32000-1 7.3.5) anywhere in the file,
// decoding #xx escapes so /J#61vaScript counts as /JavaScript, and records
// them by offset. It cannot see inside compressed streams; the qpdf walk
// covers those whenever the file opens at all. Streams through the source in
// bounded blocks; memory does not grow with the file.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>

#include "unpack/pdf/pdf_document.h"

namespace sandgate {

namespace {

constexpr size_t kMaxName = 127;     // implementation limit of PDF names
constexpr size_t kOverlap = 512;     // bytes carried between blocks
constexpr size_t kMaxListed = 32;

bool is_delimiter(unsigned char c) {
  return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ' || c == '(' ||
         c == ')' || c == '<' || c == '>' || c == '[' || c == ']' || c == '{' || c == '}' ||
         c == '/' || c == '%';
}

int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes the name starting after '/' at s[i] into out (at most
// kMaxKeyword characters are kept: longer names are never keywords, and
// their length is reported as kMaxKeyword + 1). Returns the decoded length;
// *end is where the name ends. Allocation-free: this runs on every '/' of
// the file, most of them in binary stream data.
constexpr size_t kMaxKeyword = 16;
size_t read_name(std::string_view s, size_t i, size_t* end, char (&out)[kMaxKeyword + 1]) {
  size_t n = 0;
  size_t start = i;
  while (i < s.size() && !is_delimiter(static_cast<unsigned char>(s[i])) && i - start <= 3 * kMaxName) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '#' && i + 2 < s.size() && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      c = static_cast<unsigned char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 3;
    } else {
      ++i;
    }
    if (n < kMaxKeyword) out[n] = static_cast<char>(c);
    ++n;
  }
  *end = i;
  return std::min(n, kMaxKeyword + 1);
}

// A literal string "(...)" after optional whitespace, for URI evidence.
std::string read_string_after(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\r' || s[i] == '\n' || s[i] == '\t')) ++i;
  if (i >= s.size() || s[i] != '(') return "";
  std::string out;
  for (++i; i < s.size() && s[i] != ')' && out.size() < 300; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out.push_back(c < 0x20 || c >= 0x7f ? '.' : static_cast<char>(c));
  }
  return out;
}

constexpr size_t kMaxHits = 100000;

// The names the scan acts on (decoded). Checked before building evidence so
// the common case (any other name) costs one switch on the first letter.
bool interesting(std::string_view n) {
  switch (n[0]) {
    case 'J': return n == "JavaScript" || n == "JS";
    case 'L': return n == "Launch";
    case 'O': return n == "OpenAction" || n == "ObjStm";
    case 'A': return n == "AA";
    case 'E': return n == "EmbeddedFile" || n == "EmbeddedFiles" || n == "EF" || n == "Encrypt";
    case 'R': return n == "RichMedia" || n == "RichMediaExecute" || n == "RichMediaContent";
    case 'X': return n == "XFA";
    case 'S': return n == "SubmitForm";
    case 'G': return n == "GoToR" || n == "GoToE";
    case 'U': return n == "URI";
    default: return false;
  }
}

void add(std::vector<std::string>& v, std::string s) {
  if (v.size() < kMaxListed) v.push_back(std::move(s));
}

}  // namespace

void raw_scan_pdf(const ByteSource& src, PdfFeatures& out, PdfRawHits* hits) {
  out.raw_scanned = true;
  // buf holds the carried-over tail of the previous block, then the next
  // block read straight into it (one copy per byte).
  constexpr size_t kBlock = 1 << 20;
  std::string buf;
  uint64_t buf_start = 0;  // file offset of buf[0]
  uint64_t next = 0;       // file offset of the next block
  bool eof = false;
  while (!eof) {
    size_t carried = buf.size();
    // resize() zero-fills: never more than what is left to read (a 100 KB
    // file zeroed a whole 1 MiB block on every scan).
    const size_t block = static_cast<size_t>(std::min<uint64_t>(kBlock, src.size() > next ? src.size() - next : 0));
    if (buf.capacity() < carried + block) buf.reserve(carried + block);
    buf.resize(carried + block);
    size_t got = block ? src.read_at(next, buf.data() + carried, block) : 0;
    buf.resize(carried + got);
    next += got;
    if (got == 0) eof = true;
    size_t limit = eof ? buf.size() : (buf.size() > kOverlap ? buf.size() - kOverlap : 0);
    size_t i = 0;
    while (i < limit) {
      const void* p = std::memchr(buf.data() + i, '/', limit - i);
      if (!p) break;
      i = static_cast<size_t>(static_cast<const char*>(p) - buf.data()) + 1;
      size_t end = i;
      char raw_name[kMaxKeyword + 1];
      size_t len = read_name(buf, i, &end, raw_name);
      if (len < 2 || len > kMaxKeyword || !interesting(std::string_view(raw_name, len))) {
        i = std::max(end, i);
        continue;
      }
      const std::string name(raw_name, len);
      const uint64_t offset = buf_start + i - 1;
      // URIs are taken from this scan for uncompressed objects (they are
      // evidence only), so they do not make the walk resolve an object.
      if (hits && name != "ObjStm" && name != "Encrypt" && name != "URI") {
        if (hits->offsets.size() < kMaxHits) hits->offsets.push_back(offset);
        else hits->overflow = true;
      }
      const std::string at = "offset " + std::to_string(offset) + " (raw scan)";
      if (name == "JavaScript" || name == "JS") add(out.javascript, at + ": /" + name);
      else if (name == "Launch") add(out.launch, at);
      else if (name == "OpenAction") add(out.openaction, at);
      else if (name == "AA") add(out.auto_actions, at);
      else if (name == "EmbeddedFile" || name == "EmbeddedFiles") {
        if (out.embedded.size() < kMaxListed) out.embedded.push_back(PdfEmbeddedFile{});
      } else if (name == "RichMedia" || name == "RichMediaExecute") add(out.richmedia, at);
      else if (name == "XFA") add(out.xfa, at);
      else if (name == "SubmitForm") add(out.submitform, at);
      else if (name == "GoToR" || name == "GoToE") add(out.gotor, at + ": /" + name);
      else if (name == "URI") {
        std::string uri = read_string_after(buf, end);
        if (!uri.empty()) {
          ++out.uri_count;
          add(out.uris, uri);
        }
      } else if (name == "Encrypt") {
        out.encrypted = true;
      } else if (name == "ObjStm") {
        if (hits) hits->object_streams = true;
      }
      i = std::max(end, i);
    }
    size_t keep = std::min(buf.size(), std::max(i, limit));
    buf_start += keep;
    buf.erase(0, keep);
  }
  out.openaction_runs_script = !out.openaction.empty() && (!out.javascript.empty() || !out.launch.empty());
  out.auto_action_runs_script = !out.auto_actions.empty() && (!out.javascript.empty() || !out.launch.empty());
}

}  // namespace sandgate
