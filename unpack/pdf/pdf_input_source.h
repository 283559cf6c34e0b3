// ByteSourceInput: a qpdf InputSource that reads an object's ByteSource
// through a small window cache, so qpdf parses a PDF of any size without the
// whole file in memory and without a file descriptor of its own. Never reads
// outside the source; seeking before the start throws std::runtime_error,
// which qpdf turns into a parse error (callers catch every exception).
#pragma once

#include <qpdf/InputSource.hh>

#include <string>
#include <vector>

#include "unpack/byte_source.h"

namespace sandgate {

class ByteSourceInput final : public InputSource {
 public:
  ByteSourceInput(ByteSourcePtr src, std::string name);

  qpdf_offset_t findAndSkipNextEOL() override;
  std::string const& getName() const override { return name_; }
  qpdf_offset_t tell() override { return pos_; }
  void seek(qpdf_offset_t offset, int whence) override;
  void rewind() override { pos_ = 0; }
  size_t read(char* buffer, size_t length) override;
  void unreadCh(char ch) override;

 private:
  // Makes the cache cover pos; returns false at or past the end.
  bool fill(qpdf_offset_t pos);

  ByteSourcePtr src_;
  std::string name_;
  qpdf_offset_t size_;
  qpdf_offset_t pos_ = 0;
  std::vector<char> cache_;
  qpdf_offset_t cache_start_ = 0;
  size_t cache_len_ = 0;
};

}  // namespace sandgate
