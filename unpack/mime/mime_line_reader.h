// LineReader: splits a ByteSource into lines for the MIME parser in bounded
// memory. A line longer than kMaxFragment is returned in several fragments, so
// a 100 MB line without a newline costs at most a 128 KiB buffer. Line
// terminators are "\r\n" or "\n" (RFC 5322 2.1 says CRLF; bare LF is what
// Unix mail stores hold); a bare CR is data.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "unpack/byte_source.h"

namespace sandgate {

struct LineFragment {
  std::string_view data;   // bytes of the line, without the terminator
  std::string_view term;   // "\r\n", "\n", or "" (line continues, or end of input)
  uint64_t offset = 0;     // absolute offset of data in the source
  bool line_start = true;  // first fragment of a line
  bool line_end = true;    // last fragment of a line (term set, or end of input)

  // Offset just past this fragment and its terminator.
  uint64_t end_offset() const { return offset + data.size() + term.size(); }
};

class LineReader {
 public:
  static constexpr size_t kMaxFragment = 64 * 1024;

  // Reads src from start to its end. src must outlive the reader.
  explicit LineReader(const ByteSource& src, uint64_t start = 0);

  // Returns the next fragment; false at the end of input. The views in *out
  // stay valid until the next call.
  bool next(LineFragment* out);

 private:
  // Moves unread bytes to the front and reads more; false if nothing was added.
  bool fill();

  const ByteSource& src_;
  uint64_t read_pos_;  // next offset to read from src_
  std::vector<char> buf_;
  size_t begin_ = 0, end_ = 0;  // unread bytes are buf_[begin_, end_)
  uint64_t buf_offset_;         // source offset of buf_[0]
  bool eof_ = false;
  bool at_line_start_ = true;
};

// The longest boundary either MIME walker accepts (RFC 2046 says 70; a line
// cap is lenient enough).
inline constexpr size_t kMaxMimeBoundary = 998;

// Space, tab or CR: what may follow a boundary on its line.
inline bool is_mime_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// RFC 2046 5.1.1: a boundary line is "--", the boundary, optionally "--" (the
// close), then only blanks. levels[k].boundary is the boundary of nesting
// level k; the innermost (last) is tried first, and an enclosing one also
// matches (a missing close of an inner multipart). Called by
// MimeStructureWalk (mime_walk.h), which the MIME unpacker and the SMTP strip
// path's layout share.
template <typename Levels>
bool match_mime_boundary(std::string_view line, const Levels& levels, size_t* level, bool* close) {
  if (line.size() < 3 || line[0] != '-' || line[1] != '-') return false;
  for (size_t k = levels.size(); k-- > 0;) {
    std::string_view b = levels[k].boundary;
    if (line.size() < 2 + b.size() || line.compare(2, b.size(), b) != 0) continue;
    std::string_view rest = line.substr(2 + b.size());
    bool is_close = rest.substr(0, 2) == "--";
    if (is_close) rest.remove_prefix(2);
    if (!std::all_of(rest.begin(), rest.end(), is_mime_blank)) continue;
    *level = k;
    *close = is_close;
    return true;
  }
  return false;
}

}  // namespace sandgate
