// ByteSourceInput: see pdf_input_source.h. Semantics follow qpdf's own
// BufferInputSource (read() sets last_offset to where it started; EOL search
// skips a run of CR/LF and returns where the run began).
#include "unpack/pdf/pdf_input_source.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace sandgate {

namespace {
// Small: qpdf seeks object to object; a large window copies bytes it never uses
// (and a block of 64 KiB or more makes glibc consolidate its heap on free).
constexpr size_t kCacheBytes = 16 * 1024;
}

ByteSourceInput::ByteSourceInput(ByteSourcePtr src, std::string name)
    : src_(std::move(src)),
      name_(std::move(name)),
      size_(static_cast<qpdf_offset_t>(src_->size())),
      cache_(kCacheBytes) {}

bool ByteSourceInput::fill(qpdf_offset_t pos) {
  if (pos < 0 || pos >= size_) return false;
  if (cache_len_ > 0 && pos >= cache_start_ &&
      pos < cache_start_ + static_cast<qpdf_offset_t>(cache_len_))
    return true;
  cache_start_ = pos;
  cache_len_ = src_->read_at(static_cast<uint64_t>(pos), cache_.data(), cache_.size());
  return cache_len_ > 0;
}

qpdf_offset_t ByteSourceInput::findAndSkipNextEOL() {
  if (pos_ < 0) throw std::logic_error("ByteSourceInput: negative offset");
  while (pos_ < size_) {
    if (!fill(pos_)) break;
    const char* base = cache_.data() + (pos_ - cache_start_);
    size_t avail = cache_len_ - static_cast<size_t>(pos_ - cache_start_);
    const void* cr = std::memchr(base, '\r', avail);
    const void* lf = std::memchr(base, '\n', avail);
    const char* hit = nullptr;
    if (cr && lf) hit = std::min(static_cast<const char*>(cr), static_cast<const char*>(lf));
    else if (cr) hit = static_cast<const char*>(cr);
    else if (lf) hit = static_cast<const char*>(lf);
    if (!hit) {
      pos_ += static_cast<qpdf_offset_t>(avail);
      continue;
    }
    qpdf_offset_t eol = pos_ + (hit - base);
    pos_ = eol + 1;
    // Skip the rest of the CR/LF run.
    while (pos_ < size_ && fill(pos_)) {
      char c = cache_[static_cast<size_t>(pos_ - cache_start_)];
      if (c != '\r' && c != '\n') break;
      ++pos_;
    }
    return eol;
  }
  pos_ = size_;
  last_offset = size_;
  return size_;
}

void ByteSourceInput::seek(qpdf_offset_t offset, int whence) {
  qpdf_offset_t base = 0;
  switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_END: base = size_; break;
    case SEEK_CUR: base = pos_; break;
    default: throw std::logic_error("ByteSourceInput: bad whence");
  }
  // Overflow-safe: offsets beyond the file are clamped by read().
  if ((offset < 0 && base + offset < 0) ||
      (offset > 0 && base > std::numeric_limits<qpdf_offset_t>::max() - offset))
    throw std::runtime_error(name_ + ": seek out of range");
  pos_ = base + offset;
}

size_t ByteSourceInput::read(char* buffer, size_t length) {
  last_offset = pos_;
  size_t done = 0;
  while (done < length && pos_ < size_) {
    if (!fill(pos_)) break;
    size_t off = static_cast<size_t>(pos_ - cache_start_);
    size_t n = std::min(length - done, cache_len_ - off);
    std::memcpy(buffer + done, cache_.data() + off, n);
    done += n;
    pos_ += static_cast<qpdf_offset_t>(n);
  }
  return done;
}

void ByteSourceInput::unreadCh(char) {
  if (pos_ > 0) --pos_;
}

}  // namespace sandgate
