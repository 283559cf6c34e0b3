// libFuzzer target for the HTTP intake's multipart/form-data splitter and
// header-parameter parsing (gateway/http/multipart.h). Input: the first line
// is the boundary, the rest the body; the body is fed in blocks whose sizes
// come from the input too, to exercise every split of a delimiter.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "gateway/http/multipart.h"

namespace {

struct Sink : sandgate::MultipartSink {
  size_t bytes = 0;
  bool open = false;
  bool begin_part(const sandgate::PartHeaders& h) override {
    if (open) __builtin_trap();  // parts never nest
    open = true;
    bytes += h.filename.size();
    return true;
  }
  bool part_data(const char*, size_t n) override {
    if (!open) __builtin_trap();
    bytes += n;
    return true;
  }
  bool end_part() override {
    if (!open) __builtin_trap();
    open = false;
    return true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  if (nl == std::string::npos || nl == 0 || nl > 70) return 0;
  std::string boundary = in.substr(0, nl);
  std::string body = in.substr(nl + 1);
  (void)sandgate::form_data_boundary("multipart/form-data; boundary=" + boundary);
  (void)sandgate::disposition_filename(boundary);
  Sink sink;
  sandgate::MultipartSplitter splitter(boundary, 8, sink, 512);
  size_t step = 1 + (static_cast<unsigned char>(boundary[0]) % 17);
  bool ok = true;
  for (size_t i = 0; ok && i < body.size(); i += step) ok = splitter.feed(body.data() + i, std::min(step, body.size() - i));
  if (ok) splitter.finish();
  if (sink.bytes > body.size() + 8 * 255) __builtin_trap();  // never more out than in
  return 0;
}
