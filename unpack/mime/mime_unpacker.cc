// MimeUnpacker (see mime_unpacker.h). An iterative state machine over the
// lines of the message: header block -> body or preamble -> boundary -> ...
// RFC 2046 5.1.1 (boundaries), RFC 2045 (fields and encodings), RFC 2183.
// Guarantees: memory is bounded by the line reader's buffer, the stack of at
// most max_nesting boundaries and the header field caps; every input ends
// (each step consumes input); a missing final boundary ends the last part at
// the end of input.
#include "unpack/mime/mime_unpacker.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "unpack/mime/mime_binhex.h"
#include "unpack/mime/mime_decode.h"
#include "unpack/mime/mime_header.h"
#include "unpack/mime/mime_line_reader.h"
#include "unpack/mime/mime_passwords.h"
#include "unpack/mime/mime_uuencode.h"
#include "unpack/type_detect.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"mime.malformed", Severity::low,
     "the message structure is broken (missing boundary, header syntax); parsed leniently"},
    {"mime.nesting", Severity::medium,
     "multiparts nested deeper than the limit; the rest is one opaque part"},
    {"mime.too_many_parts", Severity::medium, "more parts than the limit; the rest was not read"},
    {"mime.bad_encoding", Severity::low,
     "invalid characters in a base64, quoted-printable or uuencoded part (skipped)"},
    {"mime.unknown_encoding", Severity::low,
     "unknown Content-Transfer-Encoding; the part is passed on undecoded"},
    {"mime.encrypted", Severity::medium, "an encrypted or opaque-signed part cannot be inspected"},
    {"mime.header_limit", Severity::medium,
     "a header block is over the size or line limit; the rest was read as body"},
    {"mime.duplicate_header", Severity::medium,
     "a MIME header field appears twice; mail clients disagree on which one counts"},
    {"mime.hidden_data", Severity::low,
     "substantial text in a multipart preamble or epilogue, which mail clients do not show"},
});

namespace {

constexpr int kMaxReportsPerId = 10;  // findings of one id per message

enum class Encoding { kIdentity, kBase64, kQuotedPrintable };

// A multipart whose parts are being read.
struct Level {
  std::string boundary;
  std::string path;  // numeric path of the multipart itself ("" for the root)
  std::string mime;
  bool digest = false;  // RFC 2046 5.1.5: parts default to message/rfc822
  int parts = 0;        // delimiters seen
  uint64_t body_start = 0;
};

// A part whose header block is being read.
struct Entity {
  std::string path;  // "1", "2.1"
  HeaderBlock headers;
  bool digest_child = false;
  bool is_root = false;
  bool first_line = true;
  size_t header_bytes = 0;
  size_t header_lines = 0;
};

// A leaf part whose body is being read.
struct Leaf {
  ChildInfo info;
  std::string path;
  Encoding encoding = Encoding::kIdentity;
  bool stream = false;  // decoded through begin_child; else emitted as a slice at the end
  bool uu_scan = false;
  bool binhex_scan = false;      // look for BinHex 4.0 files in the body
  bool binhex_declared = false;  // application/mac-binhex40: no banner needed
  bool text_scan = false;        // text/plain or text/html: look for passwords
  bool html = false;
  std::string charset;
  std::string text;  // decoded head of a streamed text part, for text_scan
  uint64_t body_start = 0;
  std::string_view pending_term;  // terminator held until the next line is known
  std::unique_ptr<ChildWriter> writer;
  bool writer_dead = false;
  Base64Decoder b64;
  QuotedPrintableDecoder qp;
  std::string out;
  std::vector<Finding> findings;
};

std::string part_name(const std::string& path) { return "part" + path; }

// Where a multipart is, for evidence: the root multipart has an empty path.
std::string where(const std::string& path) { return path.empty() ? "message" : "part" + path; }

class MimeWalk {
 public:
  MimeWalk(const Object& obj, UnpackContext& ctx, const MimeOptions& options)
      : obj_(obj), ctx_(ctx), opt_(options) {
    nesting_limit_ = std::clamp(std::min(opt_.max_nesting, ctx.limits().max_depth), 1, 1000);
  }

  void run() {
    const ByteSource& src = *obj_.bytes;
    entity_ = Entity();
    entity_.path = "1";
    entity_.is_root = true;
    state_ = State::kHeaders;
    LineReader reader(src);
    LineFragment f;
    while (!stop_ && !done_ && reader.next(&f)) {
      if (ctx_.should_stop()) {
        stop_ = true;
        break;
      }
      process(f);
      prev_term_ = f.term.size();
    }
    on_end(src.size());
  }

 private:
  enum class State { kHeaders, kBody, kSkip };

  void report(std::string_view id, std::string message, std::string evidence = {}) {
    if (++reports_[std::string(id)] > kMaxReportsPerId) return;
    ctx_.add_finding(make_finding(id, std::move(message), std::move(evidence)));
  }


  void process(const LineFragment& f) {
    if (f.line_start && f.line_end && !levels_.empty()) {
      size_t k;
      bool close;
      if (match_mime_boundary(f.data, levels_, &k, &close)) {
        on_boundary(k, close, f.offset);
        return;
      }
    }
    switch (state_) {
      case State::kHeaders:
        on_header(f);
        break;
      case State::kBody:
        on_body(f);
        break;
      case State::kSkip:
        on_skip(f);
        break;
    }
  }

  void on_header(const LineFragment& f) {
    Entity& e = entity_;
    e.header_bytes += f.data.size() + f.term.size();
    if (f.line_start) ++e.header_lines;
    if (e.header_bytes > opt_.max_header_bytes || e.header_lines > opt_.max_header_lines) {
      report("mime.header_limit", "header block over the limit; the rest is read as body",
             part_name(e.path));
      start_body(f.offset);
      if (!stop_) process(f);
      return;
    }
    if (!f.line_start) {
      e.headers.append(f.data);
      return;
    }
    if (f.data.empty() && f.line_end) {
      start_body(f.end_offset());
      return;
    }
    bool first = e.first_line;
    e.first_line = false;
    if (first && e.is_root && f.data.substr(0, 5) == "From ") return;  // mbox separator
    if (!e.headers.add_line(f.data)) {
      // Not a field and not a continuation: the body began without the
      // blank line. Reading it as body keeps its content visible.
      report("mime.malformed", "header block ended by a line that is not a header field",
             part_name(e.path));
      start_body(f.offset);
      if (!stop_) process(f);
    }
  }

  // The header block of entity_ is complete; the body starts at body_start.
  void start_body(uint64_t body_start) {
    const Entity& e = entity_;
    const HeaderBlock& h = e.headers;
    if (e.is_root && !h.subject().empty()) {
      auto found = find_password_candidates(decode_encoded_words(h.subject()));
      if (!found.empty()) ctx_.add_password_candidates(std::move(found), "the subject");
    }
    for (const std::string& name : h.duplicates())
      report("mime.duplicate_header", "duplicate " + name + " field; the first one is used",
             part_name(e.path));
    HeaderValue ct = parse_header_value(h.content_type());
    std::string mime;
    if (h.has_content_type()) {
      mime = normalize_mime_type(ct.value);
      if (mime.empty()) {
        // RFC 2045 5.2: an invalid Content-Type means text/plain.
        report("mime.malformed", "invalid Content-Type", ct.value.substr(0, 100));
        mime = "text/plain";
      }
    } else {
      mime = e.digest_child ? "message/rfc822" : "text/plain";
    }
    std::string cte = parse_header_value(h.transfer_encoding()).value;

    if (mime.substr(0, 10) == "multipart/" && mime != "multipart/encrypted") {
      const std::string* boundary = ct.param("boundary");
      bool identity = cte.empty() || cte == "7bit" || cte == "8bit" || cte == "binary";
      if (boundary == nullptr || boundary->empty() || boundary->size() > kMaxMimeBoundary) {
        report("mime.malformed", "multipart without a usable boundary; read as one part",
               part_name(e.path));
      } else if (!identity) {
        // RFC 2045 6.4: a multipart is never encoded; decode it as one part.
        report("mime.malformed", "encoded multipart; read as one part", part_name(e.path));
      } else if (static_cast<int>(levels_.size()) >= nesting_limit_) {
        report("mime.nesting",
               "multipart nesting over " + std::to_string(nesting_limit_) +
                   " levels; the rest is one part",
               part_name(e.path));
      } else {
        Level level;
        level.boundary = *boundary;
        level.path = e.is_root ? std::string() : e.path;
        level.mime = mime;
        level.digest = mime == "multipart/digest";
        level.body_start = body_start;
        levels_.push_back(std::move(level));
        begin_skip();
        return;
      }
    }
    begin_leaf(mime, cte, ct, parse_header_value(h.disposition()), body_start);
  }

  void begin_leaf(const std::string& mime, const std::string& cte, const HeaderValue& ct,
                  const HeaderValue& disposition, uint64_t body_start) {
    leaf_ = Leaf();
    Leaf& l = leaf_;
    l.path = entity_.path;
    l.body_start = body_start;

    const std::string* fn = disposition.param("filename");
    bool extended = disposition.is_extended("filename");
    if (fn == nullptr) {
      fn = ct.param("name");
      extended = ct.is_extended("name");
    }
    std::string name;
    // RFC 2231 values are already decoded; RFC 2047 words in a quoted
    // filename are not allowed (2047 5) but common, so decode them too.
    if (fn != nullptr) name = display_name(extended ? *fn : decode_encoded_words(*fn));
    l.info.name = name.empty() ? part_name(l.path) : name;
    l.info.declared_mime = mime;

    bool uu_cte = cte == "x-uuencode" || cte == "uuencode" || cte == "x-uue";
    if (cte == "base64") {
      l.encoding = Encoding::kBase64;
    } else if (cte == "quoted-printable") {
      l.encoding = Encoding::kQuotedPrintable;
    } else if (!(cte.empty() || cte == "7bit" || cte == "8bit" || cte == "binary" || uu_cte)) {
      l.findings.push_back(make_finding("mime.unknown_encoding",
                                        "unknown Content-Transfer-Encoding; passed on as is",
                                        cte.substr(0, 100)));
    }
    if (mime == "multipart/encrypted" || mime == "application/pkcs7-mime" ||
        mime == "application/x-pkcs7-mime") {
      l.info.encrypted = true;
      l.findings.push_back(make_finding(
          "mime.encrypted", "encrypted or opaque-signed part: content not inspected", mime));
    }
    l.uu_scan = l.encoding == Encoding::kIdentity && (mime == "text/plain" || uu_cte);
    l.binhex_declared = mime == "application/mac-binhex40" || mime == "application/mac-binhex" ||
                        mime == "application/x-binhex40" || mime == "application/binhex";
    l.binhex_scan = l.encoding == Encoding::kIdentity && (mime == "text/plain" || l.binhex_declared);
    l.text_scan = mime == "text/plain" || mime == "text/html";
    l.html = mime == "text/html";
    if (const std::string* cs = ct.param("charset")) l.charset = cs->substr(0, 64);
    l.stream = l.encoding != Encoding::kIdentity || !l.findings.empty();
    state_ = State::kBody;
    if (l.stream) {
      l.writer = ctx_.begin_child(l.info);
      if (!l.writer) stop_ = true;
    }
  }

  void flush_out() {
    Leaf& l = leaf_;
    if (l.text_scan && l.text.size() < kMaxPasswordText)
      l.text.append(l.out, 0, kMaxPasswordText - l.text.size());
    if (!l.out.empty() && !l.writer_dead && !l.writer->write(l.out.data(), l.out.size()))
      l.writer_dead = true;
    l.out.clear();
  }

  void on_body(const LineFragment& f) {
    Leaf& l = leaf_;
    if (!l.stream || !l.writer || l.writer_dead) return;  // a slice needs only offsets
    if (f.line_start && !l.pending_term.empty()) {
      if (l.encoding == Encoding::kQuotedPrintable) {
        l.qp.line_break(l.pending_term, &l.out);
      } else if (l.encoding == Encoding::kIdentity) {
        l.out.append(l.pending_term);
      }
      l.pending_term = {};
    }
    switch (l.encoding) {
      case Encoding::kBase64:
        l.b64.decode(f.data, &l.out);
        break;
      case Encoding::kQuotedPrintable:
        l.qp.decode(f.data, &l.out);
        break;
      case Encoding::kIdentity:
        l.out.append(f.data);
        break;
    }
    if (!f.term.empty()) l.pending_term = f.term;
    flush_out();  // out holds at most one fragment's worth
  }

  // Ends the leaf at end (exclusive; the line break before a boundary belongs
  // to the boundary, RFC 2046 5.1.1, but at the end of input it is body).
  void finish_leaf(uint64_t end, bool at_eof = false) {
    Leaf& l = leaf_;
    if (at_eof && l.stream && l.writer && !l.writer_dead && !l.pending_term.empty()) {
      if (l.encoding == Encoding::kQuotedPrintable) {
        l.qp.line_break(l.pending_term, &l.out);
      } else if (l.encoding == Encoding::kIdentity) {
        l.out.append(l.pending_term);
      }
      l.pending_term = {};
    }
    state_ = State::kSkip;
    end = std::max(end, l.body_start);
    if (!l.stream) {
      if (stop_) return;
      ByteSourcePtr body = slice_source(obj_.bytes, l.body_start, end - l.body_start);
      if (l.text_scan) collect_passwords(body->read_string(0, kMaxPasswordText));
      if (!ctx_.emit_child(l.info, body)) {
        stop_ = true;
        return;
      }
      if (l.uu_scan && end > l.body_start) scan_uu(*body, l.path);
      // A part typed "binhex" (its banner near the start) was decoded by the
      // binhex unpacker as the part's child: only the others are scanned here
      // (a banner further into a text, or a declared part without one).
      if (!stop_ && l.binhex_scan && end > l.body_start && detect_type(*body).label != "binhex")
        scan_bx(*body, l.path, l.binhex_declared);
      return;
    }
    if (!l.writer) return;
    if (l.encoding == Encoding::kBase64) {
      l.b64.finish(&l.out);
      if (l.b64.bad_chars() > 0)
        l.findings.push_back(make_finding(
            "mime.bad_encoding", "invalid characters in base64 skipped",
            std::to_string(l.b64.bad_chars()) + " bad characters, first at encoded offset " +
                std::to_string(l.b64.first_bad_offset())));
    } else if (l.encoding == Encoding::kQuotedPrintable) {
      l.qp.finish(&l.out);
      if (l.qp.bad_sequences() > 0)
        l.findings.push_back(make_finding("mime.bad_encoding",
                                          "invalid quoted-printable sequences kept as is",
                                          std::to_string(l.qp.bad_sequences()) + " sequences"));
    }
    flush_out();
    if (l.text_scan) collect_passwords(std::move(l.text));
    for (Finding& finding : l.findings) l.writer->add_finding(std::move(finding));
    l.writer->finish();
    l.writer.reset();
  }

  void scan_uu(const ByteSource& body, const std::string& path) {
    size_t budget = opt_.max_parts > parts_ ? opt_.max_parts - parts_ : 0;
    bool stop = false;
    size_t n = scan_uuencoded(
        body, ctx_, std::min(budget, opt_.max_uu_files),
        [&path](ChildWriter& w, const UuDefects& d) {
          if (d.bad_chars > 0 || d.missing_end)
            w.add_finding(make_finding("mime.bad_encoding",
                                       "broken uuencoded file in " + part_name(path),
                                       std::to_string(d.bad_chars) + " bad characters" +
                                           (d.missing_end ? ", no end line" : "")));
        },
        &stop);
    parts_ += n;
    if (stop) stop_ = true;
  }

  void scan_bx(const ByteSource& body, const std::string& path, bool declared) {
    size_t budget = opt_.max_parts > parts_ ? opt_.max_parts - parts_ : 0;
    bool stop = false;
    parts_ += scan_binhex(body, ctx_, std::min(budget, opt_.max_uu_files), declared,
                          part_name(path), &stop);
    if (stop) stop_ = true;
  }

  // Password candidates for encrypted attachments, from a text part's
  // decoded head. Collected when the part ends, before any later sibling is
  // emitted: the usual order (text, then the attachment) works; an archive
  // placed before the text that names its password is not retried (the
  // subject, read before every part, covers the common case).
  void collect_passwords(std::string text) {
    const Leaf& l = leaf_;
    auto found = find_password_candidates(to_utf8(l.charset, text), l.html);
    if (!found.empty()) ctx_.add_password_candidates(std::move(found),
                                   "the text of " + part_name(l.path));
  }

  void begin_skip() {
    state_ = State::kSkip;
    skip_nonblank_ = 0;
  }

  void on_skip(const LineFragment& f) {
    skip_nonblank_ += static_cast<uint64_t>(
        std::count_if(f.data.begin(), f.data.end(), [](char c) { return !is_mime_blank(c); }));
    if (levels_.empty() && skip_nonblank_ > opt_.hidden_data_bytes) {
      // Top-level epilogue: nothing more can follow; report and stop reading.
      end_skip();
      done_ = true;
    }
  }

  void end_skip() {
    if (skip_nonblank_ > opt_.hidden_data_bytes)
      report("mime.hidden_data", "text in a multipart preamble or epilogue",
             std::to_string(skip_nonblank_) + " non-blank bytes");
    skip_nonblank_ = 0;
  }

  // Ends the innermost multipart at end. One without any part still shows
  // its preamble, which would otherwise escape inspection.
  void close_innermost(uint64_t end, bool proper) {
    Level& level = levels_.back();
    if (!proper)
      report("mime.malformed", "missing closing boundary",
             where(level.path) + " boundary \"" + level.boundary.substr(0, 100) + "\"");
    if (level.parts == 0) {
      report("mime.malformed", level.mime + " without any part", where(level.path));
      if (!stop_ && end > level.body_start) {
        ChildInfo info;
        info.name = part_name(level.path.empty() ? "1" : level.path);
        info.declared_mime = level.mime;
        if (!ctx_.emit_child(info,
                             slice_source(obj_.bytes, level.body_start, end - level.body_start)))
          stop_ = true;
      }
    }
    levels_.pop_back();
  }

  void on_boundary(size_t k, bool close, uint64_t line_offset) {
    uint64_t end = line_offset >= prev_term_ ? line_offset - prev_term_ : line_offset;
    switch (state_) {
      case State::kBody:
        finish_leaf(end);
        break;
      case State::kHeaders:
        report("mime.malformed", "part ended inside its header block", part_name(entity_.path));
        start_body(line_offset);
        if (state_ == State::kBody) finish_leaf(line_offset);
        break;
      case State::kSkip:
        end_skip();
        break;
    }
    while (levels_.size() > k + 1) close_innermost(end, false);
    if (close) {
      close_innermost(end, true);
      begin_skip();  // the epilogue
      return;
    }
    Level& level = levels_[k];
    ++level.parts;
    if (++parts_ > opt_.max_parts) {
      report("mime.too_many_parts",
             "more than " + std::to_string(opt_.max_parts) + " parts; the rest is not read");
      // Also a limit, so that the policy's on_limit decides: parts past it
      // are never seen, and the engine's own object limit may be higher.
      ctx_.add_finding(make_finding("limits.objects",
                                    "more parts in one message than the limit; the rest were not read",
                                    std::to_string(opt_.max_parts) + " parts read"));
      stop_ = true;
      return;
    }
    entity_ = Entity();
    entity_.path = (level.path.empty() ? "" : level.path + ".") + std::to_string(level.parts);
    entity_.digest_child = level.digest;
    state_ = State::kHeaders;
  }

  void on_end(uint64_t size) {
    if (stop_) {
      if (state_ == State::kBody) finish_leaf(size, true);  // an open child is finished once
      return;
    }
    switch (state_) {
      case State::kBody:
        finish_leaf(size, true);
        break;
      case State::kHeaders:
        start_body(size);
        if (state_ == State::kBody) finish_leaf(size);
        break;
      case State::kSkip:
        end_skip();
        break;
    }
    while (!levels_.empty()) close_innermost(size, false);
  }

  const Object& obj_;
  UnpackContext& ctx_;
  const MimeOptions& opt_;
  int nesting_limit_ = 32;
  State state_ = State::kHeaders;
  Entity entity_;
  Leaf leaf_;
  std::vector<Level> levels_;
  size_t parts_ = 0;  // parts started, uuencoded files included
  uint64_t prev_term_ = 0;
  uint64_t skip_nonblank_ = 0;
  bool stop_ = false;  // a limit or the context ended the scan
  bool done_ = false;  // nothing more worth reading
  std::map<std::string, int> reports_;
};

}  // namespace

void MimeUnpacker::unpack(const Object& obj, UnpackContext& ctx) {
  if (!obj.bytes) return;
  MimeWalk walk(obj, ctx, options_);
  walk.run();
}

SANDGATE_REGISTER_UNPACKER(MimeUnpacker, {"eml"});

}  // namespace sandgate
