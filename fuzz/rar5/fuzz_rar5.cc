// libFuzzer target for unpack/archive/rar5_headers: any bytes must walk
// without crashing, hanging, or allocating without bound.
#include <cstddef>
#include <cstdint>
#include <string>

#include "unpack/archive/rar5_headers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto src = sandgate::memory_source(std::string(reinterpret_cast<const char*>(data), size));
  auto r = sandgate::read_rar5_encryption(*src, 256);
  // Bounded by the block limit, and every name came from a walked block.
  if (r.blocks > 256 || r.encrypted_files.size() > r.blocks) __builtin_trap();
  if (!r.rar5 && (r.blocks || r.headers_encrypted)) __builtin_trap();
  return 0;
}
