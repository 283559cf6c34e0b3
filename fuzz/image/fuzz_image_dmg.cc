// libFuzzer target for unpack/image/dmg_reader: any bytes as a UDIF image;
// at most 8 MiB of the disk is decoded per input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "unpack/image/dmg_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto src = sandgate::memory_source(std::string(reinterpret_cast<const char*>(data), size));
  auto layout = sandgate::image::read_dmg_layout(*src);
  if (!layout.valid) return 0;
  std::vector<sandgate::Finding> findings;
  uint64_t total = 0;
  sandgate::image::decode_dmg(*src, layout, [&](const char*, size_t n) {
    total += n;
    return total < (8u << 20);
  }, findings);
  std::string out;
  sandgate::image::adc_decode(std::string_view(reinterpret_cast<const char*>(data), size), out, 1 << 20);
  return 0;
}
