// libFuzzer target for detect_type: any bytes must yield a catalogued label,
// never a crash, hang, exception or out-of-bounds read. Also checks that the
// answer is stable (same bytes, same type) across calls.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "unpack/byte_source.h"
#include "unpack/type_detect.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto src = sandgate::memory_source(std::string(reinterpret_cast<const char*>(data), size));
  sandgate::TypeInfo t = sandgate::detect_type(*src);
  if (!sandgate::is_known_type_label(t.label) || t.mime.empty()) std::abort();
  sandgate::TypeInfo again = sandgate::detect_type(*src);
  if (again.label != t.label || again.mime != t.mime) std::abort();
  (void)sandgate::is_executable_label(t.label);
  (void)sandgate::extensions_for_label(t.label);
  return 0;
}
