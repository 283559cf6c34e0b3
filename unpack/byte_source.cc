// ByteSource implementations: a read-only file (pread), a memory buffer, and a
// window of another source. All reads are clipped to the source's size.
#include "unpack/byte_source.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace sandgate {

std::string ByteSource::read_string(uint64_t offset, size_t n) const {
  uint64_t total = size();
  if (offset >= total) return {};
  n = static_cast<size_t>(std::min<uint64_t>(n, total - offset));
  std::string out(n, '\0');
  size_t got = read_at(offset, out.data(), n);
  out.resize(got);
  return out;
}

namespace {

class FileSource final : public ByteSource {
 public:
  FileSource(int fd, uint64_t size) : fd_(fd), size_(size) {}
  ~FileSource() override {
    if (map_ != nullptr && map_ != MAP_FAILED) ::munmap(map_, static_cast<size_t>(size_));
    ::close(fd_);
  }
  uint64_t size() const override { return size_; }
  size_t read_at(uint64_t offset, void* buf, size_t n) const override {
    if (offset >= size_) return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, static_cast<char*>(buf) + done, n - done,
                          static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      done += static_cast<size_t>(r);
    }
    return done;
  }
  // Maps the file read-only on first use. The spool and scratch files under
  // a source are never truncated while it lives, so the mapping cannot fault.
  const unsigned char* view() const override {
    if (size_ < kMinMappedFile || size_ > kMaxMappedFile) return nullptr;
    std::call_once(map_once_, [this] {
      map_ = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE | MAP_POPULATE,
                    fd_, 0);
    });
    return map_ == MAP_FAILED ? nullptr : static_cast<const unsigned char*>(map_);
  }

 private:
  int fd_;
  uint64_t size_;
  mutable std::once_flag map_once_;
  mutable void* map_ = nullptr;
};

class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::string bytes) : bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_.size(); }
  size_t read_at(uint64_t offset, void* buf, size_t n) const override {
    if (offset >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - static_cast<size_t>(offset));
    std::memcpy(buf, bytes_.data() + offset, n);
    return n;
  }
  const unsigned char* view() const override {
    return reinterpret_cast<const unsigned char*>(bytes_.data());
  }

 private:
  std::string bytes_;
};

class SliceSource final : public ByteSource {
 public:
  SliceSource(ByteSourcePtr base, uint64_t offset, uint64_t length)
      : base_(std::move(base)), offset_(offset), length_(length) {}
  uint64_t size() const override { return length_; }
  size_t read_at(uint64_t offset, void* buf, size_t n) const override {
    if (offset >= length_) return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, length_ - offset));
    return base_->read_at(offset_ + offset, buf, n);
  }
  const unsigned char* view() const override {
    const unsigned char* v = base_->view();
    return v ? v + offset_ : nullptr;
  }

 private:
  ByteSourcePtr base_;
  uint64_t offset_;
  uint64_t length_;
};

}  // namespace

ByteSourcePtr open_file_source(const std::string& path, std::string* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (error) *error = path + ": " + std::strerror(errno);
    return nullptr;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (error) *error = path + ": not a regular file";
    ::close(fd);
    return nullptr;
  }
  return std::make_shared<FileSource>(fd, static_cast<uint64_t>(st.st_size));
}

ByteSourcePtr open_fd_source(int fd, std::string* error) {
  int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) {
    if (error) *error = std::string("descriptor: ") + std::strerror(errno);
    return nullptr;
  }
  struct stat st {};
  if (::fstat(own, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (error) *error = "descriptor: not a regular file";
    ::close(own);
    return nullptr;
  }
  return std::make_shared<FileSource>(own, static_cast<uint64_t>(st.st_size));
}

ByteSourcePtr memory_source(std::string bytes) {
  return std::make_shared<MemorySource>(std::move(bytes));
}

ByteSourcePtr slice_source(ByteSourcePtr base, uint64_t offset, uint64_t length) {
  uint64_t total = base->size();
  if (offset > total) offset = total;
  length = std::min(length, total - offset);
  return std::make_shared<SliceSource>(std::move(base), offset, length);
}

SourceStream::SourceStream(ByteSourcePtr src, uint64_t start)
    : src_(std::move(src)), pos_(start) {}

std::string_view SourceStream::next_chunk(size_t max) {
  // A buffer no larger than what is left: a 1 KiB file read with max = 1 MiB
  // must not allocate and zero 1 MiB (that cost a third of a small scan).
  const uint64_t size = src_->size();
  const size_t want = pos_ >= size ? 0 : static_cast<size_t>(std::min<uint64_t>(max, size - pos_));
  if (want == 0) return {};
  if (buf_.size() < want) buf_.resize(want);
  size_t got = src_->read_at(pos_, buf_.data(), want);
  pos_ += got;
  return std::string_view(buf_.data(), got);
}

}  // namespace sandgate
