// Probe and the small byte helpers shared by the type detectors. Every helper
// checks its range and answers 0/false instead of reading out of bounds.
#include "unpack/type/probe.h"

#include <algorithm>
#include <cstring>

namespace sandgate::type_detail {

Probe::Probe(const ByteSource& src) : src_(src), size_(src.size()) {
  size_t n = static_cast<size_t>(std::min<uint64_t>(size_, kPrefixBytes));
  prefix_.resize(n);
  prefix_.resize(src_.read_at(0, prefix_.data(), n));
  // A short read means the source shrank or failed: trust what we got.
  if (prefix_.size() < n) size_ = prefix_.size();
  if (size_ <= kPrefixBytes) {
    head_ = prefix_;
    head_loaded_ = true;
  }
}

std::string_view Probe::head() {
  if (!head_loaded_) {
    head_loaded_ = true;
    size_t n = static_cast<size_t>(std::min<uint64_t>(size_, kHeadBytes));
    head_.resize(n);
    head_.resize(src_.read_at(0, head_.data(), n));
    if (head_.size() < n) size_ = head_.size();
  }
  return head_;
}

std::string_view Probe::view(uint64_t offset, size_t n) {
  if (n > kMaxExtraRead || offset > size_ || n > size_ - offset) return {};
  if (offset + n <= prefix_.size()) return std::string_view(prefix_).substr(offset, n);
  if (head_loaded_ && offset + n <= head_.size()) return std::string_view(head_).substr(offset, n);
  std::string buf(n, '\0');
  size_t got = src_.read_at(offset, buf.data(), n);
  if (got != n) return {};
  reads_.push_back(std::move(buf));
  return reads_.back();
}

std::string_view Probe::tail(size_t n) {
  n = static_cast<size_t>(std::min<uint64_t>(n, size_));
  return view(size_ - n, n);
}

uint16_t le16(std::string_view s, size_t off) {
  if (off > s.size() || s.size() - off < 2) return 0;
  auto b = reinterpret_cast<const uint8_t*>(s.data()) + off;
  return static_cast<uint16_t>(b[0] | (b[1] << 8));
}

uint32_t le32(std::string_view s, size_t off) {
  if (off > s.size() || s.size() - off < 4) return 0;
  auto b = reinterpret_cast<const uint8_t*>(s.data()) + off;
  return uint32_t(b[0]) | (uint32_t(b[1]) << 8) | (uint32_t(b[2]) << 16) | (uint32_t(b[3]) << 24);
}

uint16_t be16(std::string_view s, size_t off) {
  if (off > s.size() || s.size() - off < 2) return 0;
  auto b = reinterpret_cast<const uint8_t*>(s.data()) + off;
  return static_cast<uint16_t>((b[0] << 8) | b[1]);
}

uint32_t be32(std::string_view s, size_t off) {
  if (off > s.size() || s.size() - off < 4) return 0;
  auto b = reinterpret_cast<const uint8_t*>(s.data()) + off;
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
}

bool bytes_at(std::string_view s, size_t off, std::string_view magic) {
  return off <= s.size() && s.size() - off >= magic.size() &&
         s.compare(off, magic.size(), magic) == 0;
}

namespace {
inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
}  // namespace

size_t find_bytes(std::string_view hay, std::string_view needle, size_t from) {
  if (needle.empty()) return from <= hay.size() ? from : std::string_view::npos;
  const char* base = hay.data();
  size_t i = from;
  while (i + needle.size() <= hay.size()) {
    const void* hit = std::memchr(base + i, needle[0], hay.size() - needle.size() + 1 - i);
    if (!hit) break;
    size_t at = static_cast<size_t>(static_cast<const char*>(hit) - base);
    if (std::memcmp(base + at, needle.data(), needle.size()) == 0) return at;
    i = at + 1;
  }
  return std::string_view::npos;
}

size_t ifind(std::string_view hay, std::string_view needle, size_t from) {
  if (needle.empty()) return from <= hay.size() ? from : std::string_view::npos;
  if (hay.size() < needle.size()) return std::string_view::npos;
  const char first = lower(needle[0]);
  const bool letter = first >= 'a' && first <= 'z';
  for (size_t i = from; i + needle.size() <= hay.size(); ++i) {
    if (!letter) {
      // Needles that start with punctuation ('<', '#') skip ahead with memchr.
      const void* hit = std::memchr(hay.data() + i, first, hay.size() - needle.size() + 1 - i);
      if (!hit) break;
      i = static_cast<size_t>(static_cast<const char*>(hit) - hay.data());
    } else if (lower(hay[i]) != first) {
      continue;
    }
    size_t k = 1;
    while (k < needle.size() && lower(hay[i + k]) == lower(needle[k])) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != lower(prefix[i])) return false;
  return true;
}

}  // namespace sandgate::type_detail
