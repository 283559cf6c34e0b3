// libFuzzer target for unpack/image/fat_reader: any bytes as a FAT volume.
// Every file's view must stay within bounds and the walk must end.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/image/fuzz_image_common.h"
#include "unpack/image/fat_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto src = sandgate::memory_source(std::string(reinterpret_cast<const char*>(data), size));
  uint64_t files = 0;
  sandgate::image::FatWalkLimits limits;
  limits.max_entries = 1 << 16;
  auto walk = sandgate::image::walk_fat(src, [&](sandgate::image::FatFile& f) {
    if (f.bytes->size() != f.size) __builtin_trap();
    sandgate::fuzz::touch(*f.bytes, 64 << 10);
    return ++files < 4096;
  }, limits);
  if (walk.findings.size() > 80) __builtin_trap();
  return 0;
}
