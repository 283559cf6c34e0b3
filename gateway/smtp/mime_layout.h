// MIME layout: where the parts of a message lie, by byte offset, with the
// part numbers and names MimeUnpacker gives them, and each leaf's content
// digest as the unpacker decodes it. The strip rewriter (mime_strip.h) maps
// report objects to parts with it.
//
// Guarantees: streaming and bounded (LineReader's 64 KiB fragments, the
// header field caps of HeaderBlock, the nesting and part limits), whatever the
// message size; total: malformed input gives a best-effort layout, never an
// exception. The walk is MimeUnpacker's own (unpack/mime/mime_walk.h): the
// same delimiters, part numbers "1", "2.1", names, and parts (a multipart
// without parts is a leaf holding its preamble, as the unpacker emits it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "unpack/byte_source.h"
#include "unpack/mime/mime_walk.h"

namespace sandgate::smtp {

// The walk's limits, as MimeUnpacker's but for the nesting: it uses
// min(32, the policy's depth limit); 12 is the shipped policy's and the
// engine's default depth. A different value only makes deep parts unmatched
// (held whole), never mismatched.
struct MimeLayoutOptions : MimeWalkLimits {
  MimeLayoutOptions() { max_nesting = 12; }
};

// A leaf part as MimeUnpacker emits it, with where it lies in the message.
struct MimeLeaf {
  std::string number;       // "1", "2.1": MimeUnpacker's part numbering
  std::string name;         // the child's name: decoded file name, else "part" + number
  std::string mime;         // declared type, lowercase (RFC 2045 5.2 defaults applied)
  std::string encoding;     // Content-Transfer-Encoding, lowercase; "" when absent
  std::string disposition;  // Content-Disposition value, lowercase; "" when absent
  bool has_file_name = false;
  bool root = false;  // the message is not multipart: this is its body
  // Byte ranges in the source. The entity is the part's header block and body:
  // from just after the delimiter line to the line break before the next
  // delimiter (RFC 2046 5.1.1: that line break belongs to the delimiter), or
  // the end of input. The body range is what MimeUnpacker decodes.
  uint64_t entity_begin = 0, entity_end = 0;
  uint64_t body_begin = 0, body_end = 0;
  std::string newline = "\r\n";  // line break of the delimiter line before the part

  // An attachment, as opposed to body text: a file name, a disposition of
  // "attachment", or a type that is not text/*.
  bool is_attachment() const;
  // Decoded with identity (7bit, 8bit, binary, none): body bytes are content.
  bool identity_encoded() const;
};

struct MimeLayout {
  std::vector<MimeLeaf> leaves;  // document order
  // Boundaries of the multiparts still open at the end of input (no closing
  // delimiter), outermost first.
  std::vector<std::string> open_boundaries;
  bool complete = true;          // false: the part limit stopped the walk
  bool multipart = false;        // the message itself is a multipart
  std::string newline = "\r\n";  // line break of the message's first line
};

// Walks the message in src. Never fails; see MimeLayout::complete.
MimeLayout scan_mime_layout(const ByteSource& src, const MimeLayoutOptions& options = {});

// Size and lowercase hex SHA-256 of a leaf's content decoded as MimeUnpacker
// decodes it (base64, quoted-printable; other encodings as is).
struct LeafDigest {
  uint64_t size = 0;
  std::string sha256;
};
LeafDigest leaf_digest(const ByteSourcePtr& src, const MimeLeaf& leaf);

}  // namespace sandgate::smtp
