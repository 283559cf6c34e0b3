// ByteCursor: the one bounds-checked reader every parser of untrusted bytes uses.
// Reads past the end never touch memory; they set failed() and return zero, so a
// parser reads a length, checks it against remaining(), and only then uses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sandgate {

class ByteCursor {
 public:
  ByteCursor() = default;
  ByteCursor(const void* data, size_t size)
      : data_(static_cast<const uint8_t*>(data)), size_(size) {}
  explicit ByteCursor(std::string_view s) : ByteCursor(s.data(), s.size()) {}

  size_t size() const { return size_; }
  size_t offset() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  bool failed() const { return failed_; }
  bool has(size_t n) const { return n <= remaining(); }

  // Moves to an absolute offset; beyond the end fails.
  bool seek(size_t off) {
    if (off > size_) return fail();
    pos_ = off;
    return true;
  }
  bool skip(size_t n) {
    if (!has(n)) return fail();
    pos_ += n;
    return true;
  }
  uint8_t u8() { return static_cast<uint8_t>(le(1)); }
  uint16_t u16le() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32le() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64le() { return le(8); }
  uint16_t u16be() { return static_cast<uint16_t>(be(2)); }
  uint32_t u32be() { return static_cast<uint32_t>(be(4)); }
  uint64_t u64be() { return be(8); }
  // A view of the next n bytes (empty and failed if fewer remain).
  std::string_view bytes(size_t n) {
    if (!has(n)) {
      fail();
      return {};
    }
    std::string_view v(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return v;
  }
  // Peeks without moving; false if fewer than n bytes remain.
  bool starts_with(std::string_view magic) const {
    return has(magic.size()) && std::memcmp(data_ + pos_, magic.data(), magic.size()) == 0;
  }

 private:
  bool fail() {
    failed_ = true;
    pos_ = size_;
    return false;
  }
  uint64_t le(size_t n) {
    if (!has(n)) {
      fail();
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t(data_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }
  uint64_t be(size_t n) {
    if (!has(n)) {
      fail();
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | data_[pos_ + i];
    pos_ += n;
    return v;
  }

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace sandgate
