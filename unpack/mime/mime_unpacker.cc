// MimeUnpacker (see mime_unpacker.h): the parts as MimeStructureWalk
// (mime_walk.h) finds them, decoded and emitted. Memory is bounded by the
// walk's guarantees and one decoded line per streamed part.
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
#include "unpack/mime/mime_walk.h"
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
    {"mime.duplicate_parameter", Severity::medium,
     "a parameter of a MIME header field (boundary, filename) appears twice with different "
     "values; mail clients disagree on which one counts"},
    {"mime.hidden_data", Severity::low,
     "substantial text in a multipart preamble or epilogue, which mail clients do not show"},
});

namespace {

constexpr int kMaxReportsPerId = 10;  // findings of one id per message

enum class Encoding { kIdentity, kBase64, kQuotedPrintable };

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

MimeWalkLimits walk_limits(const MimeOptions& opt, const UnpackContext& ctx) {
  MimeWalkLimits limits = opt;
  limits.max_nesting = std::min(opt.max_nesting, ctx.limits().max_depth);
  return limits;
}

// The structure comes from MimeStructureWalk; this decodes and emits the
// leaves, looks into text bodies (uuencode, BinHex, passwords) and turns the
// walk's problems into findings.
class MimeWalk : public MimeStructureWalk {
 public:
  MimeWalk(const Object& obj, UnpackContext& ctx, const MimeOptions& options)
      : MimeStructureWalk(walk_limits(options, ctx)), obj_(obj), ctx_(ctx), opt_(options) {}

  void run() { walk(*obj_.bytes); }

 private:
  void problem(std::string_view id, std::string message, std::string evidence) override {
    if (++reports_[std::string(id)] > kMaxReportsPerId) return;
    ctx_.add_finding(make_finding(id, std::move(message), std::move(evidence)));
  }

  bool cancelled() override { return ctx_.should_stop(); }

  void on_header_block(const MimeEntity& e) override {
    const HeaderBlock& h = e.headers;
    if (e.is_root && !h.subject().empty()) {
      auto found = find_password_candidates(decode_encoded_words(h.subject()));
      if (!found.empty()) ctx_.add_password_candidates(std::move(found), "the subject");
    }
    for (const std::string& name : h.duplicates())
      problem("mime.duplicate_header", "duplicate " + name + " field; the first one is used",
              mime_part_name(e.path));
  }

  void begin_leaf(const MimeLeafStart& start) override {
    leaf_ = Leaf();
    Leaf& l = leaf_;
    const std::string& mime = start.mime;
    const std::string& cte = start.cte;
    l.path = start.entity.path;
    l.body_start = start.body_start;
    l.info.name = start.file_name.empty() ? mime_part_name(l.path) : start.file_name;
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
    if (const std::string* cs = start.content_type.param("charset")) l.charset = cs->substr(0, 64);
    l.stream = l.encoding != Encoding::kIdentity || !l.findings.empty();
    if (l.stream) {
      l.writer = ctx_.begin_child(l.info);
      if (!l.writer) stop();
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

  void on_body(const LineFragment& f) override {
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

  void end_leaf(uint64_t end, uint64_t /*entity_end*/, bool at_eof) override {
    Leaf& l = leaf_;
    if (at_eof && l.stream && l.writer && !l.writer_dead && !l.pending_term.empty()) {
      if (l.encoding == Encoding::kQuotedPrintable) {
        l.qp.line_break(l.pending_term, &l.out);
      } else if (l.encoding == Encoding::kIdentity) {
        l.out.append(l.pending_term);
      }
      l.pending_term = {};
    }
    end = std::max(end, l.body_start);
    if (!l.stream) {
      if (stopped()) return;
      ByteSourcePtr body = slice_source(obj_.bytes, l.body_start, end - l.body_start);
      if (l.text_scan) collect_passwords(body->read_string(0, kMaxPasswordText));
      if (!ctx_.emit_child(l.info, body)) {
        stop();
        return;
      }
      if (l.uu_scan && end > l.body_start) scan_uu(*body, l.path);
      // A part typed "binhex" (its banner near the start) was decoded by the
      // binhex unpacker as the part's child: only the others are scanned here
      // (a banner further into a text, or a declared part without one).
      if (!stopped() && l.binhex_scan && end > l.body_start &&
          detect_type(*body).label != "binhex")
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
    bool stop_scan = false;
    size_t n = scan_uuencoded(
        body, ctx_, std::min(parts_left(), opt_.max_uu_files),
        [&path](ChildWriter& w, const UuDefects& d) {
          if (d.bad_chars > 0 || d.missing_end)
            w.add_finding(make_finding("mime.bad_encoding",
                                       "broken uuencoded file in " + mime_part_name(path),
                                       std::to_string(d.bad_chars) + " bad characters" +
                                           (d.missing_end ? ", no end line" : "")));
        },
        &stop_scan);
    count_parts(n);
    if (stop_scan) stop();
  }

  void scan_bx(const ByteSource& body, const std::string& path, bool declared) {
    bool stop_scan = false;
    count_parts(scan_binhex(body, ctx_, std::min(parts_left(), opt_.max_uu_files), declared,
                            mime_part_name(path), &stop_scan));
    if (stop_scan) stop();
  }

  // Password candidates for encrypted attachments, from a text part's
  // decoded head. Collected when the part ends, before any later sibling is
  // emitted: the usual order (text, then the attachment) works; an archive
  // placed before the text that names its password is not retried (the
  // subject, read before every part, covers the common case).
  void collect_passwords(std::string text) {
    const Leaf& l = leaf_;
    auto found = find_password_candidates(to_utf8(l.charset, text), l.html);
    if (!found.empty())
      ctx_.add_password_candidates(std::move(found), "the text of " + mime_part_name(l.path));
  }

  // A multipart without any part still shows its preamble, which would
  // otherwise escape inspection.
  void on_empty_multipart(const MimeLevel& level, uint64_t end, bool /*closed*/) override {
    ChildInfo info;
    info.name = mime_part_name(level.path.empty() ? "1" : level.path);
    info.declared_mime = level.mime;
    if (!ctx_.emit_child(info, slice_source(obj_.bytes, level.body_start, end - level.body_start)))
      stop();
  }

  void on_nesting_limit() override {
    // The nesting cap is the policy's depth limit (or 32): a depth limit, so
    // that the policy's on_limit decides about the parts never seen.
    if (nesting_limit_reported_) return;
    nesting_limit_reported_ = true;
    ctx_.add_finding(make_finding("limits.depth",
                                  "multiparts nested deeper than the limit; the parts inside were not read",
                                  std::to_string(limits().max_nesting) + " levels"));
  }

  void on_part_limit() override {
    // Also a limit, so that the policy's on_limit decides: parts past it
    // are never seen, and the engine's own object limit may be higher.
    ctx_.add_finding(make_finding("limits.objects",
                                  "more parts in one message than the limit; the rest were not read",
                                  std::to_string(opt_.max_parts) + " parts read"));
  }

  const Object& obj_;
  UnpackContext& ctx_;
  const MimeOptions& opt_;
  Leaf leaf_;
  std::map<std::string, int> reports_;
  bool nesting_limit_reported_ = false;
};

}  // namespace

void MimeUnpacker::unpack(const Object& obj, UnpackContext& ctx) {
  if (!obj.bytes) return;
  MimeWalk walk(obj, ctx, options_);
  walk.run();
}

SANDGATE_REGISTER_UNPACKER(MimeUnpacker, {"eml"});

}  // namespace sandgate
