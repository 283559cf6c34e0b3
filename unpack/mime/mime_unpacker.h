// MimeUnpacker: turns an RFC 5322 / MIME message (type label "eml") into its
// parts as children. A bounded streaming parser of our own (not Poco's, see
// FACTS.md): it reads the message line by line from its ByteSource, never
// holds a part in memory, keeps at most max_nesting boundaries, and stops at
// max_parts parts.
//
// Children:
// - every leaf part, decoded (base64, quoted-printable; 7bit/8bit/binary and
//   unknown encodings as is). Name: the RFC 2231/2047-decoded filename
//   (Content-Disposition filename, else Content-Type name), else "partN"
//   where N is the part's position in the tree: "part1", "part2" for the
//   parts of the top multipart, "part2.1" for the first part of a multipart
//   that is part 2. A message that is not multipart has one child, "part1".
//   declared_mime: the lowercase type/subtype (RFC 2045 5.2 default
//   text/plain, message/rfc822 inside multipart/digest).
// - message/rfc822 parts are leaves: the engine types them "eml" and calls
//   this unpacker again, so recursion is bounded by the engine's depth limit.
// - files uuencoded in 7bit/8bit text/plain bodies (and bodies with a
//   Content-Transfer-Encoding of x-uuencode), named by their "begin" line.
// - BinHex 4.0 files in 7bit/8bit text/plain bodies (after the "(This file
//   must be converted with BinHex" banner) and in application/mac-binhex40
//   parts: the data fork, named from the BinHex header (mime_binhex.h).
// - multipart/encrypted and application/pkcs7-mime parts are emitted as is,
//   flagged encrypted, with finding "mime.encrypted".
// - a multipart nested deeper than the nesting limit is emitted as one
//   opaque part (finding "mime.nesting").
//
// Password candidates (mime_passwords.h) from the decoded Subject of the
// message and from its text/plain and text/html parts are handed to
// UnpackContext::add_password_candidates, for encrypted archives that follow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "unpack/mime/mime_walk.h"
#include "unpack/unpacker.h"

namespace sandgate {

// The walk's limits (mime_walk.h: nesting, also capped by Limits::max_depth;
// parts, uuencoded files included; header block caps; hidden data), and:
struct MimeOptions : MimeWalkLimits {
  size_t max_uu_files = 1000;  // uuencoded files taken from one body
};

class MimeUnpacker : public Unpacker {
 public:
  MimeUnpacker() = default;
  explicit MimeUnpacker(MimeOptions options) : options_(options) {}
  std::string_view name() const override { return "mime"; }
  void unpack(const Object& obj, UnpackContext& ctx) override;

 private:
  MimeOptions options_;
};

}  // namespace sandgate
