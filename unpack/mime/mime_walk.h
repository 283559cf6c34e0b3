// MimeStructureWalk: the part structure of an RFC 5322 / MIME message, read
// line by line. It alone decides where a part begins and ends (RFC 2046 5.1.1
// delimiters, innermost boundary first, a missing close ended by an enclosing
// delimiter or the end of input), how parts are numbered ("1", "2.1") and
// named, which multipart is read as one part (no usable boundary, encoded,
// too deep), and when the walk stops (part limit, a long top-level epilogue).
// The MIME unpacker (which decodes and emits the parts) and the SMTP strip
// path's layout (which records where they lie) both derive from it, so the
// two cannot disagree about a message's parts.
//
// Guarantees: memory is bounded by the line reader's buffer, at most
// max_nesting open multiparts and the header block caps; every input ends
// (each step consumes input); total: malformed input is reported through
// problem() and read leniently, never an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "unpack/byte_source.h"
#include "unpack/mime/mime_header.h"
#include "unpack/mime/mime_line_reader.h"

namespace sandgate {

struct MimeWalkLimits {
  int max_nesting = 32;                  // open multiparts, clamped to 1..1000
  size_t max_parts = 10000;              // parts started, plus what count_parts() adds
  size_t max_header_bytes = 256 * 1024;  // one header block
  size_t max_header_lines = 10000;       // one header block
  uint64_t hidden_data_bytes = 4096;     // non-blank preamble/epilogue bytes worth a finding
};

// A part whose header block is being read.
struct MimeEntity {
  std::string path;  // "1", "2.1"
  HeaderBlock headers;
  bool digest_child = false;  // inside multipart/digest: defaults to message/rfc822
  bool is_root = false;       // the message's own header block
  uint64_t begin = 0;         // first byte of the header block
  std::string newline = "\r\n";  // line break of the delimiter line before it
  // Reading state.
  bool first_line = true;
  size_t header_bytes = 0;
  size_t header_lines = 0;
};

// A multipart whose parts are being read.
struct MimeLevel {
  std::string boundary;
  std::string path;  // numeric path of the multipart itself ("" for the root)
  std::string mime;
  bool digest = false;      // RFC 2046 5.1.5
  int parts = 0;            // delimiters seen
  uint64_t entity_begin = 0;  // the multipart's own header block
  uint64_t body_start = 0;    // its preamble
  std::string newline = "\r\n";
};

// A leaf part whose header block has been read.
struct MimeLeafStart {
  const MimeEntity& entity;
  const std::string& mime;  // lowercase type/subtype, RFC 2045 5.2 defaults applied
  const std::string& cte;   // Content-Transfer-Encoding value, lowercase; "" if absent
  const HeaderValue& content_type;
  const HeaderValue& disposition;
  // The RFC 2231/2047-decoded file name (Content-Disposition filename, else
  // Content-Type name) made safe by display_name(); "" when there is none.
  const std::string& file_name;
  uint64_t body_start;
};

// The name a part gets without a file name: "part1", "part2.1".
inline std::string mime_part_name(std::string_view path) { return "part" + std::string(path); }

class MimeStructureWalk {
 public:
  explicit MimeStructureWalk(const MimeWalkLimits& limits);
  virtual ~MimeStructureWalk() = default;
  MimeStructureWalk(const MimeStructureWalk&) = delete;
  MimeStructureWalk& operator=(const MimeStructureWalk&) = delete;

 protected:
  // Reads src from its start to its end (or until stop()), calling the hooks.
  void walk(const ByteSource& src);

  // Hooks, in document order.
  // Something malformed or over a limit; id is a finding id ("mime.malformed").
  virtual void problem(std::string_view id, std::string message, std::string evidence) {
    (void)id, (void)message, (void)evidence;
  }
  // Polled once per line; true ends the walk as stop() does.
  virtual bool cancelled() { return false; }
  // Every header block, complete, before its part is classified.
  virtual void on_header_block(const MimeEntity& entity) { (void)entity; }
  // A leaf part's body starts; its lines follow through on_body().
  virtual void begin_leaf(const MimeLeafStart& leaf) = 0;
  virtual void on_body(const LineFragment& f) { (void)f; }
  // The leaf ends. Its body ends at body_end: the line break before a
  // delimiter belongs to the delimiter (RFC 2046 5.1.1), but at the end of
  // input (at_eof) the body keeps its last line break. Its entity (header
  // block and body) ends at entity_end.
  virtual void end_leaf(uint64_t body_end, uint64_t entity_end, bool at_eof) = 0;
  // A multipart closed without any part; its preamble [body_start, end) is
  // all it holds and must not escape inspection. closed: by its own close
  // delimiter (its epilogue follows), else by an enclosing delimiter or the
  // end of input. Not called when the preamble is empty or the walk was
  // stopped.
  virtual void on_empty_multipart(const MimeLevel& level, uint64_t end, bool closed) {
    (void)level, (void)end, (void)closed;
  }
  // A preamble or epilogue ends at end (before the line break of the line that
  // ends it, or the end of input).
  virtual void on_skip_end(uint64_t end) { (void)end; }
  // The part limit was passed: the walk stops after this.
  virtual void on_part_limit() {}
  // A multipart nested deeper than max_nesting is read as one opaque part:
  // the parts inside it are not seen.
  virtual void on_nesting_limit() {}
  // The end of input, with the multiparts still open (no closing delimiter),
  // outermost first. Not called when the walk was stopped.
  virtual void on_input_end(const std::vector<MimeLevel>& open) { (void)open; }

  // For the hooks.
  void stop() { stop_ = true; }
  bool stopped() const { return stop_; }
  // Counts parts found inside a body (uuencoded files) against max_parts.
  void count_parts(size_t n) { parts_ += n; }
  size_t parts_left() const { return limits_.max_parts > parts_ ? limits_.max_parts - parts_ : 0; }
  bool root_is_multipart() const { return root_multipart_; }
  // Line break of the message's first line ("\r\n" when it has none).
  const std::string& first_newline() const { return first_newline_; }
  const MimeWalkLimits& limits() const { return limits_; }

 private:
  enum class State { kHeaders, kBody, kSkip };

  void process(const LineFragment& f);
  void on_header(const LineFragment& f);
  void start_body(uint64_t body_start);
  void report_duplicates(const HeaderValue& value, std::string_view field, const std::string& path);
  void finish_leaf(uint64_t body_end, uint64_t entity_end, bool at_eof);
  void begin_skip();
  void on_skip(const LineFragment& f);
  void end_skip(uint64_t end);
  void close_innermost(uint64_t end, bool proper);
  void on_boundary(size_t k, bool close, const LineFragment& f);
  void on_end(uint64_t size);

  MimeWalkLimits limits_;
  State state_ = State::kHeaders;
  MimeEntity entity_;
  std::vector<MimeLevel> levels_;
  size_t parts_ = 0;
  uint64_t prev_term_ = 0;  // terminator length of the previous line
  uint64_t skip_nonblank_ = 0;
  std::string first_newline_ = "\r\n";
  bool root_multipart_ = false;
  bool stop_ = false;  // a limit or a hook ended the walk
  bool done_ = false;  // nothing more worth reading (a long top-level epilogue)
};

}  // namespace sandgate
