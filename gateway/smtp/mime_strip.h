// MIME strip: locates the attachment parts of a spooled message by byte
// offset, maps the objects a scan report blames to those parts, and writes a
// copy of the message in which each offending attachment is replaced by a
// short text/plain notice (the policy action `strip`).
//
// Guarantees:
// - Streaming and bounded: the structure comes from mime_layout.h (line by
//   line, bounded buffers) and the copy is made by ranges; the work per plan
//   is capped (offending objects, replaced parts, attached messages walked).
// - Same structure as the scan saw: a part is only ever matched to a report
//   object when its name (MimeUnpacker's naming), its decoded size and its
//   SHA-256 are the object's. Anything that cannot be located that way makes
//   the plan fail, and the caller holds the whole message (fail closed).
// - Every byte outside the replaced parts is copied unchanged: headers and
//   bodies of the other parts, preambles, epilogues and delimiter lines. The
//   only additions are the notices and, when the message ended without its
//   closing delimiters, those delimiters at the very end (so the result is
//   complete MIME).
// - Total: malformed input gives a failed plan, never an exception or a
//   crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/engine.h"
#include "gateway/smtp/mime_layout.h"
#include "unpack/byte_source.h"

namespace sandgate::smtp {

// One part of the message to replace with a notice.
struct StripTarget {
  uint64_t begin = 0, end = 0;  // the entity's range in the message
  bool pad_newline = false;     // the entity was empty: the notice ends with its own line break
  std::string newline = "\r\n";
  std::string file_name;             // the attachment's name as the report names it
  std::string object_path;           // its report path
  std::vector<std::string> reasons;  // "rule: finding (object path)", distinct
};

struct StripPlan {
  bool ok = false;
  std::string why_not;               // set when !ok: why the message must be held whole
  std::vector<StripTarget> targets;  // sorted by begin, not overlapping
  std::string suffix;                // closing delimiters appended at the end ("" usually)
};

// Decides which parts of `message` to replace for the report's reasons: each
// reason's object is mapped to the top-most attachment part that holds it
// (inside an attached message/rfc822 with identity encoding, the innermost
// attachment part that can be located; else the whole attached message).
// A reason names its object by path; when several objects share that path,
// the reason's witness (a type, size or finding the object has or lacks)
// picks among them, and when it cannot, all of them are stripped.
// Fails (ok == false) when a reason names the message itself, a body text
// part, an object that cannot be located by name, size and SHA-256, or when
// the layout is incomplete.
StripPlan plan_strip(const ByteSourcePtr& message, const Report& report,
                     const MimeLayoutOptions& options = {});

// The text/plain part (header block and body, without a final line break)
// that takes a stripped attachment's place: UTF-8, quoted-printable (so it is
// 7-bit clean and its lines are short), naming the file, the reasons and the
// quarantine id when there is one.
std::string notice_part(const StripTarget& target, std::string_view quarantine_id);

// Writes `message` with the plan applied to out. Returns false with *error
// on an I/O error or a plan that does not fit the message.
bool write_stripped(const ByteSource& message, const StripPlan& plan,
                    std::string_view quarantine_id, std::FILE* out, std::string* error);

}  // namespace sandgate::smtp
