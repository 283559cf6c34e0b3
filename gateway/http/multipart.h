// A bounded, incremental multipart/form-data splitter (RFC 7578 over RFC 2046
// 5.1.1) for request bodies, fed block by block as they arrive, and the
// header-parameter parsing shared with raw uploads (Content-Disposition).
//
// Why our own: Poco's MultipartReader loops forever on a missing final
// boundary (FACTS.md). Guarantees: memory is bounded by the block fed plus
// max_header_bytes plus the delimiter length; at most max_parts parts; a body
// without its closing delimiter, with oversized part headers or with too many
// parts is an error (never a hang, never an exception).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sandgate {

struct PartHeaders {
  std::string name;          // Content-Disposition name=
  std::string filename;      // Content-Disposition filename= (or filename*=), base name only
  std::string content_type;  // the part's Content-Type, if any
};

class MultipartSink {
 public:
  virtual ~MultipartSink() = default;
  // Each returns false to stop the split (the sink's own error, e.g. disk full).
  virtual bool begin_part(const PartHeaders& headers) = 0;
  virtual bool part_data(const char* data, size_t size) = 0;
  virtual bool end_part() = 0;
};

class MultipartSplitter {
 public:
  MultipartSplitter(std::string boundary, size_t max_parts, MultipartSink& sink,
                    size_t max_header_bytes = 16 * 1024);

  // Feeds the next block of the body. False on a malformed body or when the
  // sink refused; error() says why. Data after the closing delimiter is ignored.
  bool feed(const char* data, size_t size);
  // At the end of the body: true only when the closing delimiter was seen.
  bool finish();

  const std::string& error() const { return error_; }
  size_t parts() const { return parts_; }

 private:
  enum class State { preamble, after_delimiter, headers, body, done, failed };
  bool fail(std::string why);
  bool step(bool* progressed);
  bool parse_headers(std::string_view block, PartHeaders& out);

  std::string delimiter_;  // "\r\n--" boundary
  size_t max_parts_;
  size_t max_header_bytes_;
  MultipartSink& sink_;
  std::string buffer_;
  State state_ = State::preamble;
  size_t parts_ = 0;
  std::string error_;
};

// The boundary parameter of a multipart Content-Type (RFC 2046 5.1.1: 1 to 70
// characters); nullopt when it is not multipart/form-data or has no valid one.
std::optional<std::string> form_data_boundary(const std::string& content_type);

// The value of parameter `param` (case-insensitive) in a header value such as
// `form-data; name="f"; filename="a.pdf"`; quoted strings are unescaped.
// `filename*` (RFC 6266/8187, UTF-8''percent-encoded) is decoded when asked for.
std::optional<std::string> header_parameter(std::string_view value, std::string_view param);

// The file name a client gave in a Content-Disposition value: filename*
// before filename, reduced to its base name (after the last '/' or '\'),
// at most 255 bytes; "" when none.
std::string disposition_filename(std::string_view value);

}  // namespace sandgate
