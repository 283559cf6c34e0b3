// ByteSource: read-only random access to an object's bytes, wherever they live
// (a region of the spool file, a scratch file, or a small memory buffer).
// A whole submission never has to fit in memory: readers pull what they need.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sandgate {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Reads up to n bytes at offset into buf; returns the count read, 0 at or
  // past the end. Short reads happen only at the end. Thread-safe.
  virtual size_t read_at(uint64_t offset, void* buf, size_t n) const = 0;

  // Reads [offset, offset+n) clipped to the source into a string.
  std::string read_string(uint64_t offset, size_t n) const;

  // The whole contents as one contiguous read-only span when the source can
  // give one without copying (a memory buffer, a window of one, or a file of
  // kMinMappedFile to kMaxMappedFile bytes, mapped on first use); nullptr
  // otherwise.
  // Valid as long as the source lives. Thread-safe. Hot loops that stream a
  // whole object (digests, entropy) use it to skip read_at's copy.
  virtual const unsigned char* view() const { return nullptr; }
  // Files mapped by view(): small enough to stay far below a worker's
  // address-space limit (1 GiB) with a chain of mapped ancestors in flight,
  // and large enough that the mapping costs less than a copy (a mmap/munmap
  // pair costs about what reading 100 KiB does).
  static constexpr uint64_t kMinMappedFile = 128ull << 10;
  static constexpr uint64_t kMaxMappedFile = 16ull << 20;
};

using ByteSourcePtr = std::shared_ptr<const ByteSource>;

// Opens a file read-only. On failure returns null and sets *error.
ByteSourcePtr open_file_source(const std::string& path, std::string* error);
// A source over a duplicate of an open descriptor of a regular file (the
// caller keeps its own). On failure returns null and sets *error.
ByteSourcePtr open_fd_source(int fd, std::string* error);
// Owns a copy of the bytes.
ByteSourcePtr memory_source(std::string bytes);
// A window [offset, offset+length) of another source, clipped to its size.
ByteSourcePtr slice_source(ByteSourcePtr base, uint64_t offset, uint64_t length);

// Sequential reader over a ByteSource with a small buffer, for streaming parsers.
class SourceStream {
 public:
  explicit SourceStream(ByteSourcePtr src, uint64_t start = 0);
  // Returns the next chunk (empty at end). Valid until the next call.
  std::string_view next_chunk(size_t max = 64 * 1024);
  uint64_t position() const { return pos_; }
  void seek(uint64_t pos) { pos_ = pos; }

 private:
  ByteSourcePtr src_;
  uint64_t pos_;
  std::vector<char> buf_;
};

}  // namespace sandgate
