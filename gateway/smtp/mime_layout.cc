// MIME layout (see mime_layout.h): the part walk and the leaf digests. The
// structure comes from MimeStructureWalk (unpack/mime/mime_walk.h), the same
// walk MimeUnpacker derives from, so part numbers, names and ranges agree; this
// records offsets instead of emitting bytes.
#include "gateway/smtp/mime_layout.h"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "unpack/hex.h"
#include "unpack/mime/mime_decode.h"
#include "unpack/mime/mime_header.h"
#include "unpack/mime/mime_line_reader.h"
#include "unpack/mime/mime_walk.h"

namespace sandgate::smtp {

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Records, for each part MimeStructureWalk finds, where it lies.
class LayoutWalk : public MimeStructureWalk {
 public:
  explicit LayoutWalk(const MimeLayoutOptions& options) : MimeStructureWalk(options) {}

  MimeLayout run(const ByteSource& src) {
    walk(src);
    layout_.newline = first_newline();
    layout_.multipart = root_is_multipart();
    return std::move(layout_);
  }

 private:
  void begin_leaf(const MimeLeafStart& start) override {
    leaf_ = MimeLeaf();
    leaf_.number = start.entity.path;
    leaf_.root = start.entity.is_root;
    leaf_.mime = start.mime;
    leaf_.encoding = start.cte;
    leaf_.disposition = start.disposition.value;
    leaf_.entity_begin = start.entity.begin;
    leaf_.body_begin = start.body_start;
    leaf_.newline = start.entity.newline;
    leaf_.has_file_name = !start.file_name.empty();
    leaf_.name = start.file_name.empty() ? mime_part_name(leaf_.number) : start.file_name;
  }

  void end_leaf(uint64_t body_end, uint64_t entity_end, bool /*at_eof*/) override {
    leaf_.body_end = std::max(body_end, leaf_.body_begin);
    leaf_.entity_end = entity_end;
    layout_.leaves.push_back(std::move(leaf_));
    leaf_ = MimeLeaf();
  }

  // The unpacker emits the preamble of a multipart without parts as a part of
  // its own (named after the multipart): a leaf whose entity is the
  // multipart's. Closed by its own delimiter, the entity runs on through the
  // epilogue to where the enclosing part ends, so that a notice replacing it
  // leaves no stray delimiter behind.
  void on_empty_multipart(const MimeLevel& level, uint64_t end, bool closed) override {
    MimeLeaf leaf;
    leaf.number = level.path.empty() ? "1" : level.path;
    leaf.root = level.path.empty();
    leaf.name = mime_part_name(leaf.number);
    leaf.mime = level.mime;
    leaf.entity_begin = level.entity_begin;
    leaf.entity_end = end;
    leaf.body_begin = level.body_start;
    leaf.body_end = end;
    leaf.newline = level.newline;
    layout_.leaves.push_back(std::move(leaf));
    if (closed) extend_ = layout_.leaves.size() - 1;
  }

  void on_skip_end(uint64_t end) override {
    if (extend_ < layout_.leaves.size())
      layout_.leaves[extend_].entity_end = std::max(layout_.leaves[extend_].entity_end, end);
    extend_ = kNone;
  }

  void on_part_limit() override { layout_.complete = false; }

  void on_input_end(const std::vector<MimeLevel>& open) override {
    for (const MimeLevel& level : open) layout_.open_boundaries.push_back(level.boundary);
  }

  static constexpr size_t kNone = static_cast<size_t>(-1);
  MimeLeaf leaf_;
  MimeLayout layout_;
  size_t extend_ = kNone;  // an empty multipart's leaf whose entity runs to the skip's end
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
  LayoutWalk walk(options);
  return walk.run(src);
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
