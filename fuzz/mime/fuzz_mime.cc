// libFuzzer target for the MIME unpacker and its helpers: header values and
// RFC 2231 parameters, RFC 2047 encoded words, charset conversion, the
// base64 / quoted-printable / uuencode decoders, and the whole part splitter
// driven on an in-memory source with a context that accepts every child and
// discards its bytes. Checks the invariants the rest of Sandgate relies on:
// names are valid UTF-8 without controls, every child is finished once,
// slices stay inside the message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "unpack/mime/mime_decode.h"
#include "unpack/mime/mime_header.h"
#include "unpack/mime/mime_unpacker.h"

namespace {

using namespace sandgate;

bool valid_utf8_no_controls(std::string_view s) {
  // display_name() output: re-running it must not change anything.
  return display_name(s) == s;
}

class DiscardContext : public UnpackContext {
 public:
  explicit DiscardContext(uint64_t message_size) : message_size_(message_size) {}

  class Writer : public ChildWriter {
   public:
    explicit Writer(DiscardContext* ctx) : ctx_(ctx) {}
    ~Writer() override {
      if (finishes_ != 1) std::abort();  // finish() must be called exactly once
    }
    bool write(const void* data, size_t n) override {
      if (finishes_ != 0 || (n > 0 && data == nullptr)) std::abort();
      bytes_ += n;
      return bytes_ < (1u << 20);  // exercise the "stop this child" path
    }
    void add_finding(Finding) override {}
    void finish() override {
      ++finishes_;
      --ctx_->open_;
    }

   private:
    DiscardContext* ctx_;
    uint64_t bytes_ = 0;
    int finishes_ = 0;
  };

  std::unique_ptr<ChildWriter> begin_child(ChildInfo info) override {
    check_name(info.name);
    if (open_ != 0) std::abort();  // one child at a time
    if (++children_ > 200) return nullptr;
    ++open_;
    return std::make_unique<Writer>(this);
  }
  bool emit_child(ChildInfo info, ByteSourcePtr bytes) override {
    check_name(info.name);
    if (open_ != 0 || !bytes || bytes->size() > message_size_) std::abort();
    char buf[4096];
    for (uint64_t off = 0; off < bytes->size();) {
      size_t got = bytes->read_at(off, buf, sizeof buf);
      if (got == 0) std::abort();  // a slice must be readable to its size
      off += got;
    }
    return ++children_ <= 200;
  }
  void add_finding(Finding) override {}
  bool should_stop() const override { return false; }
  const Limits& limits() const override { return limits_; }
  bool account_output(uint64_t) override { return true; }

 private:
  static void check_name(const std::string& name) {
    if (name.empty() || !valid_utf8_no_controls(name)) std::abort();
  }
  Limits limits_;
  uint64_t message_size_;
  int children_ = 0;
  int open_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  // Helpers on (a prefix of) the raw input.
  std::string_view head = in.substr(0, 8192);
  HeaderValue hv = parse_header_value(head);
  for (const auto& [name, value] : hv.params) {
    if (!valid_utf8_no_controls(display_name(value))) std::abort();
  }
  std::string words = decode_encoded_words(head);
  if (display_name(words) != display_name(display_name(words))) std::abort();
  size_t nl = head.find('\n');
  std::string_view charset = head.substr(0, std::min<size_t>(nl, 32));
  (void)to_utf8(charset, head.substr(charset.size()));

  std::string out;
  Base64Decoder b64;
  b64.decode(in, &out);
  b64.finish(&out);
  if (out.size() > size) std::abort();
  out.clear();
  QuotedPrintableDecoder qp;
  size_t start = 0;
  while (start < in.size()) {
    size_t end = in.find('\n', start);
    if (end == std::string_view::npos) end = in.size();
    qp.decode(in.substr(start, end - start), &out);
    if (end < in.size()) qp.line_break("\n", &out);
    start = end + 1;
  }
  qp.finish(&out);
  if (out.size() > size) std::abort();

  // The whole unpacker, with small caps so each run stays fast.
  MimeOptions options;
  options.max_parts = 100;
  options.max_nesting = 8;
  options.max_header_bytes = 4096;
  options.max_header_lines = 64;
  options.hidden_data_bytes = 256;
  Object obj;
  obj.type.label = "eml";
  obj.bytes = memory_source(std::string(in));
  DiscardContext ctx(size);
  MimeUnpacker(options).unpack(obj, ctx);
  return 0;
}
