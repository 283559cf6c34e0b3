// libFuzzer target for unpack/image/virtual_disk: any bytes as VHD and as
// VHDX; the resulting disk view is read in part.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/image/fuzz_image_common.h"
#include "unpack/image/virtual_disk.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto src = sandgate::memory_source(std::string(reinterpret_cast<const char*>(data), size));
  auto vhd = sandgate::image::open_vhd(src);
  if (vhd.disk) sandgate::fuzz::touch(*vhd.disk);
  auto vhdx = sandgate::image::open_vhdx(src);
  if (vhdx.disk) sandgate::fuzz::touch(*vhdx.disk);
  return 0;
}
