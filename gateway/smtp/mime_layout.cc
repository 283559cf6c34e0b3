// MIME layout (see mime_layout.h): the part walk and the leaf digests. The
// walk mirrors MimeUnpacker's state machine (unpack/mime/mime_unpacker.cc)
// line for line where it decides structure, so part numbers and names agree;
// it records offsets instead of emitting bytes.
#include "gateway/smtp/mime_layout.h"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "unpack/hex.h"
#include "unpack/mime/mime_decode.h"
#include "unpack/mime/mime_header.h"
#include "unpack/mime/mime_line_reader.h"

namespace sandgate::smtp {

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

class LayoutWalk {
 public:
  LayoutWalk(const ByteSource& src, const MimeLayoutOptions& options) : src_(src), opt_(options) {
    nesting_limit_ = std::clamp(opt_.max_nesting, 1, 1000);
  }

  MimeLayout run() {
    entity_ = Entity();
    entity_.path = "1";
    entity_.is_root = true;
    LineReader reader(src_);
    LineFragment f;
    bool first = true;
    while (!stop_ && reader.next(&f)) {
      if (first && !f.term.empty()) layout_.newline = std::string(f.term);
      first = false;
      process(f);
      prev_term_ = f.term.size();
    }
    on_end(src_.size());
    return std::move(layout_);
  }

 private:
  enum class State { kHeaders, kBody, kSkip };

  struct Level {
    std::string boundary;
    std::string path;  // numeric path of the multipart ("" for the root)
    bool digest = false;
    int parts = 0;
  };

  struct Entity {
    std::string path;
    HeaderBlock headers;
    bool digest_child = false;
    bool is_root = false;
    bool first_line = true;
    size_t header_bytes = 0;
    size_t header_lines = 0;
    uint64_t begin = 0;
    std::string newline = "\r\n";
  };


  void process(const LineFragment& f) {
    if (f.line_start && f.line_end && !levels_.empty()) {
      size_t k;
      bool close;
      if (match_mime_boundary(f.data, levels_, &k, &close)) {
        on_boundary(k, close, f);
        return;
      }
    }
    if (state_ == State::kHeaders) on_header(f);
    // Body and skipped lines only matter through the offsets of what follows.
  }

  void on_header(const LineFragment& f) {
    Entity& e = entity_;
    e.header_bytes += f.data.size() + f.term.size();
    if (f.line_start) ++e.header_lines;
    if (e.header_bytes > opt_.max_header_bytes || e.header_lines > opt_.max_header_lines) {
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
    if (first && e.is_root && starts_with(f.data, "From ")) return;  // mbox separator
    if (!e.headers.add_line(f.data)) {
      start_body(f.offset);
      if (!stop_) process(f);
    }
  }

  void start_body(uint64_t body_start) {
    const HeaderBlock& h = entity_.headers;
    HeaderValue ct = parse_header_value(h.content_type());
    std::string mime;
    if (h.has_content_type()) {
      mime = normalize_mime_type(ct.value);
      if (mime.empty()) mime = "text/plain";  // RFC 2045 5.2
    } else {
      mime = entity_.digest_child ? "message/rfc822" : "text/plain";
    }
    std::string cte = parse_header_value(h.transfer_encoding()).value;
    if (starts_with(mime, "multipart/") && mime != "multipart/encrypted") {
      const std::string* boundary = ct.param("boundary");
      bool identity = cte.empty() || cte == "7bit" || cte == "8bit" || cte == "binary";
      if (boundary != nullptr && !boundary->empty() && boundary->size() <= kMaxMimeBoundary &&
          identity && static_cast<int>(levels_.size()) < nesting_limit_) {
        if (entity_.is_root) layout_.multipart = true;
        Level level;
        level.boundary = *boundary;
        level.path = entity_.is_root ? std::string() : entity_.path;
        level.digest = mime == "multipart/digest";
        levels_.push_back(std::move(level));
        state_ = State::kSkip;
        return;
      }
    }
    begin_leaf(mime, cte, ct, parse_header_value(h.disposition()), body_start);
  }

  void begin_leaf(const std::string& mime, const std::string& cte, const HeaderValue& ct,
                  const HeaderValue& disposition, uint64_t body_start) {
    leaf_ = MimeLeaf();
    leaf_.number = entity_.path;
    leaf_.root = entity_.is_root;
    leaf_.mime = mime;
    leaf_.encoding = cte;
    leaf_.disposition = disposition.value;
    leaf_.entity_begin = entity_.begin;
    leaf_.body_begin = body_start;
    leaf_.newline = entity_.newline;
    // The name exactly as MimeUnpacker::begin_leaf derives it.
    const std::string* fn = disposition.param("filename");
    bool extended = disposition.is_extended("filename");
    if (fn == nullptr) {
      fn = ct.param("name");
      extended = ct.is_extended("name");
    }
    std::string name;
    if (fn != nullptr) name = display_name(extended ? *fn : decode_encoded_words(*fn));
    leaf_.has_file_name = !name.empty();
    leaf_.name = name.empty() ? "part" + leaf_.number : name;
    state_ = State::kBody;
  }

  // Ends the leaf: its body at body_end (as MimeUnpacker slices it), the
  // entity at entity_end.
  void finish_leaf(uint64_t body_end, uint64_t entity_end) {
    state_ = State::kSkip;
    leaf_.body_end = std::max(body_end, leaf_.body_begin);
    leaf_.entity_end = entity_end;
    layout_.leaves.push_back(std::move(leaf_));
    leaf_ = MimeLeaf();
  }

  void on_boundary(size_t k, bool close, const LineFragment& f) {
    uint64_t line_offset = f.offset;
    uint64_t end = line_offset >= prev_term_ ? line_offset - prev_term_ : line_offset;
    switch (state_) {
      case State::kBody:
        finish_leaf(end, end);
        break;
      case State::kHeaders:
        start_body(line_offset);
        if (state_ == State::kBody) finish_leaf(line_offset, end);
        break;
      case State::kSkip:
        break;
    }
    while (levels_.size() > k + 1) levels_.pop_back();  // closed by an outer delimiter
    if (close) {
      levels_.pop_back();
      state_ = State::kSkip;  // the epilogue
      return;
    }
    Level& level = levels_[k];
    ++level.parts;
    if (++parts_ > opt_.max_parts) {
      layout_.complete = false;
      stop_ = true;
      return;
    }
    entity_ = Entity();
    entity_.path = (level.path.empty() ? "" : level.path + ".") + std::to_string(level.parts);
    entity_.digest_child = level.digest;
    entity_.begin = f.end_offset();
    entity_.newline = f.term.empty() ? layout_.newline : std::string(f.term);
    state_ = State::kHeaders;
  }

  void on_end(uint64_t size) {
    if (stop_) return;
    switch (state_) {
      case State::kBody:
        finish_leaf(size, size);
        break;
      case State::kHeaders:
        start_body(size);
        if (state_ == State::kBody) finish_leaf(size, size);
        break;
      case State::kSkip:
        break;
    }
    for (const Level& level : levels_) layout_.open_boundaries.push_back(level.boundary);
  }

  const ByteSource& src_;
  const MimeLayoutOptions& opt_;
  int nesting_limit_ = 12;
  State state_ = State::kHeaders;
  Entity entity_;
  MimeLeaf leaf_;
  std::vector<Level> levels_;
  MimeLayout layout_;
  size_t parts_ = 0;
  uint64_t prev_term_ = 0;
  bool stop_ = false;
};

// SHA-256 over a stream of pieces.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    if (ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) ctx_.reset();
  }
  void update(std::string_view s) {
    size_ += s.size();
    if (ctx_ && !s.empty()) EVP_DigestUpdate(ctx_.get(), s.data(), s.size());
  }
  LeafDigest finish() {
    LeafDigest d;
    d.size = size_;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (ctx_ && EVP_DigestFinal_ex(ctx_.get(), md, &n) == 1) d.sha256 = hex_lower(md, n);
    return d;  // an empty digest never equals an object's
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
  uint64_t size_ = 0;
};
}  // namespace

bool MimeLeaf::is_attachment() const {
  return has_file_name || disposition == "attachment" || !starts_with(mime, "text/");
}

bool MimeLeaf::identity_encoded() const {
  if (encoding == "base64" || encoding == "quoted-printable") return false;
  return true;  // 7bit, 8bit, binary, uuencode and unknown ones are passed as is
}

MimeLayout scan_mime_layout(const ByteSource& src, const MimeLayoutOptions& options) {
  LayoutWalk walk(src, options);
  return walk.run();
}

LeafDigest leaf_digest(const ByteSourcePtr& src, const MimeLeaf& leaf) {
  Sha256 sha;
  uint64_t len = leaf.body_end > leaf.body_begin ? leaf.body_end - leaf.body_begin : 0;
  ByteSourcePtr body = slice_source(src, leaf.body_begin, len);
  if (leaf.identity_encoded()) {
    SourceStream in(body);
    for (auto c = in.next_chunk(); !c.empty(); c = in.next_chunk()) sha.update(c);
    return sha.finish();
  }
  // Decoded line by line as MimeUnpacker does: base64 ignores line breaks;
  // quoted-printable reproduces each one that is followed by more of the
  // body. The body range ends before the line break that precedes a
  // delimiter, and at the end of input includes the last one, which the
  // unpacker keeps there too.
  const bool b64 = leaf.encoding == "base64";
  Base64Decoder b64d;
  QuotedPrintableDecoder qp;
  std::string out, pending;
  LineReader reader(*body);
  LineFragment f;
  while (reader.next(&f)) {
    if (!b64 && f.line_start && !pending.empty()) qp.line_break(pending, &out);
    pending.clear();
    if (b64) {
      b64d.decode(f.data, &out);
    } else {
      qp.decode(f.data, &out);
      pending = std::string(f.term);
    }
    sha.update(out);
    out.clear();
  }
  if (b64) {
    b64d.finish(&out);
  } else {
    if (!pending.empty()) qp.line_break(pending, &out);
    qp.finish(&out);
  }
  sha.update(out);
  return sha.finish();
}

}  // namespace sandgate::smtp
