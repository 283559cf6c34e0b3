// libFuzzer target for BinHex 4.0: the decoder on raw input (output bounded
// by the run-length expansion, data never longer than the header declares),
// the body scanner on the input as a mail body (each child finished once,
// one open at a time), and the password-candidate finder (bounded count and
// length) on the same bytes as text and as HTML.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "unpack/mime/mime_binhex.h"
#include "unpack/mime/mime_passwords.h"
#include "unpack/unpacker.h"

namespace {

using namespace sandgate;

class CheckingContext : public UnpackContext {
 public:
  class Writer : public ChildWriter {
   public:
    explicit Writer(CheckingContext* c) : c_(c) {}
    ~Writer() override {
      if (finishes_ != 1) std::abort();
    }
    bool write(const void* data, size_t n) override {
      if (finishes_ != 0 || (n > 0 && data == nullptr)) std::abort();
      bytes_ += n;
      return bytes_ < (1u << 20);
    }
    void add_finding(Finding) override {}
    void finish() override {
      ++finishes_;
      --c_->open_;
    }

   private:
    CheckingContext* c_;
    uint64_t bytes_ = 0;
    int finishes_ = 0;
  };
  std::unique_ptr<ChildWriter> begin_child(ChildInfo info) override {
    if (open_ != 0 || info.name.empty()) std::abort();
    if (++children_ > 50) return nullptr;
    ++open_;
    return std::make_unique<Writer>(this);
  }
  bool emit_child(ChildInfo, ByteSourcePtr) override { std::abort(); }
  void add_finding(Finding) override {}
  bool should_stop() const override { return false; }
  const Limits& limits() const override { return limits_; }
  bool account_output(uint64_t) override { return true; }

 private:
  Limits limits_;
  int children_ = 0;
  int open_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  uint64_t declared = 0, produced = 0;
  bool have_header = false;
  BinHexDecoder d(
      [&](const BinHexHeader& h) {
        if (have_header || h.name.size() > 255) std::abort();
        have_header = true;
        declared = h.data_length;
        return true;
      },
      [&](std::string_view piece) {
        produced += piece.size();
        return true;
      });
  d.feed(in);
  d.finish();
  if (produced > declared || produced > uint64_t(size) * 255) std::abort();

  CheckingContext ctx;
  bool stop = false;
  scan_binhex(*memory_source(std::string(in)), ctx, 20, size > 0 && (data[0] & 1), "part1", &stop);

  for (bool html : {false, true}) {
    auto c = find_password_candidates(in, html);
    if (c.size() > kMaxPasswordCandidates) std::abort();
    for (const auto& s : c)
      if (s.empty() || s.size() > kMaxPasswordBytes) std::abort();
  }
  return 0;
}
