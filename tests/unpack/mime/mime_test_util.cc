// Recording UnpackContext and reference encoders for the MIME tests.
#include "tests/unpack/mime/mime_test_util.h"

namespace sandgate::testing {

namespace {

class RecordingWriter : public ChildWriter {
 public:
  RecordingWriter(RecordingContext* ctx, size_t index) : ctx_(ctx), index_(index) {}
  bool write(const void* data, size_t n) override {
    RecordedChild& c = ctx_->children[index_];
    if (c.bytes.size() + n > ctx_->max_child_bytes) return false;
    c.bytes.append(static_cast<const char*>(data), n);
    return true;
  }
  void add_finding(Finding f) override { ctx_->children[index_].findings.push_back(std::move(f)); }
  void finish() override {
    ++ctx_->children[index_].finish_calls;
    --ctx_->open_writers;
  }

 private:
  RecordingContext* ctx_;
  size_t index_;
};

}  // namespace

std::unique_ptr<ChildWriter> RecordingContext::begin_child(ChildInfo info) {
  if (children.size() >= max_children) return nullptr;
  children.push_back(RecordedChild{std::move(info), {}, {}, 0, false});
  ++open_writers;
  max_open_writers = std::max(max_open_writers, open_writers);
  return std::make_unique<RecordingWriter>(this, children.size() - 1);
}

bool RecordingContext::emit_child(ChildInfo info, ByteSourcePtr bytes) {
  if (children.size() >= max_children) return false;
  RecordedChild c{std::move(info), {}, {}, 1, true};
  c.bytes = bytes->read_string(0, static_cast<size_t>(bytes->size()));
  children.push_back(std::move(c));
  return true;
}

std::unique_ptr<RecordingContext> unpack_message(std::string message, MimeOptions options,
                                                 Limits limits) {
  auto ctx = std::make_unique<RecordingContext>();
  ctx->limit_values = limits;
  Object obj;
  obj.name = "mail.eml";
  obj.type.label = "eml";
  obj.bytes = memory_source(std::move(message));
  MimeUnpacker unpacker(options);
  unpacker.unpack(obj, *ctx);
  return ctx;
}

std::string base64_encode(std::string_view data, size_t line_length) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out, line;
  for (size_t i = 0; i < data.size(); i += 3) {
    uint32_t v = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    if (i + 2 < data.size()) v |= static_cast<unsigned char>(data[i + 2]);
    line += kAlphabet[(v >> 18) & 63];
    line += kAlphabet[(v >> 12) & 63];
    line += i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=';
    line += i + 2 < data.size() ? kAlphabet[v & 63] : '=';
    if (line_length > 0 && line.size() >= line_length) {
      out += line + "\r\n";
      line.clear();
    }
  }
  if (!line.empty()) out += line + "\r\n";
  return out;
}

std::string uuencode(std::string_view data, std::string_view name) {
  auto enc = [](uint32_t v) { return static_cast<char>(v == 0 ? '`' : v + 32); };
  std::string out = "begin 644 " + std::string(name) + "\n";
  for (size_t i = 0; i < data.size(); i += 45) {
    std::string_view chunk = data.substr(i, 45);
    out += enc(static_cast<uint32_t>(chunk.size()));
    for (size_t k = 0; k < chunk.size(); k += 3) {
      uint32_t v = static_cast<unsigned char>(chunk[k]) << 16;
      if (k + 1 < chunk.size()) v |= static_cast<unsigned char>(chunk[k + 1]) << 8;
      if (k + 2 < chunk.size()) v |= static_cast<unsigned char>(chunk[k + 2]);
      for (int s = 18; s >= 0; s -= 6) out += enc((v >> s) & 63);
    }
    out += "\n";
  }
  out += "`\nend\n";
  return out;
}

std::string crlf(std::string_view lf_text) {
  std::string out;
  for (char c : lf_text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

}  // namespace sandgate::testing
