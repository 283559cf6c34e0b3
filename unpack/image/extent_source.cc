// ExtentSource: see extent_source.h.
#include "unpack/image/extent_source.h"

#include <algorithm>
#include <cstring>

namespace sandgate {

void ExtentList::add(uint64_t base, uint64_t length) {
  if (length == 0) return;
  if (!extents_.empty()) {
    Extent& last = extents_.back();
    if (!last.zero && last.base + last.length == base) {
      last.length += length;
      size_ += length;
      return;
    }
  }
  extents_.push_back(Extent{size_, length, false, base});
  size_ += length;
}

void ExtentList::add_zero(uint64_t length) {
  if (length == 0) return;
  if (!extents_.empty() && extents_.back().zero) {
    extents_.back().length += length;
  } else {
    extents_.push_back(Extent{size_, length, true, 0});
  }
  size_ += length;
}

void ExtentList::truncate(uint64_t n) {
  if (n >= size_) return;
  while (!extents_.empty() && extents_.back().logical >= n) extents_.pop_back();
  if (!extents_.empty()) extents_.back().length = n - extents_.back().logical;
  size_ = n;
}

namespace {

class ExtentSource final : public ByteSource {
 public:
  ExtentSource(ByteSourcePtr base, ExtentList list)
      : base_(std::move(base)), extents_(list.extents()), size_(list.size()) {}

  uint64_t size() const override { return size_; }

  size_t read_at(uint64_t offset, void* buf, size_t n) const override {
    if (offset >= size_) return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    // First extent whose end lies past offset.
    auto it = std::upper_bound(extents_.begin(), extents_.end(), offset,
                               [](uint64_t off, const Extent& e) { return off < e.logical + e.length; });
    char* out = static_cast<char*>(buf);
    size_t done = 0;
    while (done < n && it != extents_.end()) {
      uint64_t in = offset + done - it->logical;
      size_t want = static_cast<size_t>(std::min<uint64_t>(n - done, it->length - in));
      if (it->zero) {
        std::memset(out + done, 0, want);
      } else {
        size_t got = base_->read_at(it->base + in, out + done, want);
        if (got < want) std::memset(out + done + got, 0, want - got);
      }
      done += want;
      ++it;
    }
    return done;
  }

 private:
  ByteSourcePtr base_;
  std::vector<Extent> extents_;
  uint64_t size_;
};

}  // namespace

ByteSourcePtr extent_source(ByteSourcePtr base, ExtentList list) {
  const auto& e = list.extents();
  if (e.empty()) return memory_source({});
  if (e.size() == 1 && !e[0].zero && e[0].base + e[0].length <= base->size())
    return slice_source(std::move(base), e[0].base, e[0].length);
  return std::make_shared<ExtentSource>(std::move(base), std::move(list));
}

}  // namespace sandgate
