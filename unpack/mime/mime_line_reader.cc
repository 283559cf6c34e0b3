// LineReader: bounded line splitting for the MIME parser (see the header).
#include "unpack/mime/mime_line_reader.h"

#include <algorithm>
#include <cstring>

namespace sandgate {

namespace {
constexpr std::string_view kCrLf = "\r\n";
constexpr std::string_view kLf = "\n";
// Room for a whole kMaxFragment line plus its terminator, and for reading ahead.
constexpr size_t kBufferSize = 2 * LineReader::kMaxFragment + 4096;
}  // namespace

LineReader::LineReader(const ByteSource& src, uint64_t start)
    : src_(src), read_pos_(start), buf_offset_(start) {
  // Small messages get a small buffer; fill() grows it if size() was short.
  uint64_t size = src.size();
  uint64_t left = size > start ? size - start : 0;
  buf_.resize(static_cast<size_t>(std::min<uint64_t>(kBufferSize, left + 1)));
}

bool LineReader::fill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    buf_offset_ += begin_;
    begin_ = 0;
  }
  if (end_ == buf_.size()) {
    if (buf_.size() >= kBufferSize) return false;
    buf_.resize(kBufferSize);
  }
  size_t got = src_.read_at(read_pos_, buf_.data() + end_, buf_.size() - end_);
  if (got == 0) {
    eof_ = true;
    return false;
  }
  read_pos_ += got;
  end_ += got;
  return true;
}

bool LineReader::next(LineFragment* out) {
  for (;;) {
    const char* base = buf_.data() + begin_;
    size_t avail = end_ - begin_;
    // A line of up to kMaxFragment bytes plus "\r\n" is returned whole.
    size_t window = std::min(avail, kMaxFragment + 2);
    const char* nl = static_cast<const char*>(std::memchr(base, '\n', window));
    if (nl != nullptr) {
      size_t len = static_cast<size_t>(nl - base);
      std::string_view term = kLf;
      if (len > 0 && base[len - 1] == '\r') {
        --len;
        term = kCrLf;
      }
      out->data = std::string_view(base, len);
      out->term = term;
      out->offset = buf_offset_ + begin_;
      out->line_start = at_line_start_;
      out->line_end = true;
      at_line_start_ = true;
      begin_ += static_cast<size_t>(nl - base) + 1;
      return true;
    }
    if (avail >= kMaxFragment + 2 || (eof_ && avail > 0)) {
      // Either an over-long line (emit a piece of it) or the last line
      // without a terminator.
      size_t len = std::min(avail, kMaxFragment);
      bool last = eof_ && len == avail;
      out->data = std::string_view(base, len);
      out->term = {};
      out->offset = buf_offset_ + begin_;
      out->line_start = at_line_start_;
      out->line_end = last;
      at_line_start_ = last;
      begin_ += len;
      return true;
    }
    if (!fill()) {
      eof_ = true;  // no progress is possible: what is buffered is the rest
      if (end_ == begin_) return false;
    }
  }
}

}  // namespace sandgate
