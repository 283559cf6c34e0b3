// libFuzzer target for unpack/image/partition_table: MBR (with its EBR
// chain) and GPT over any bytes: no crash, no hang, partitions inside the disk.
#include <cstddef>
#include <cstdint>
#include <string>

#include "unpack/image/partition_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto src = sandgate::memory_source(std::string(reinterpret_cast<const char*>(data), size));
  for (auto scan : {sandgate::image::read_mbr(*src), sandgate::image::read_gpt(*src),
                    sandgate::image::read_apm(*src)}) {
    for (const auto& p : scan.partitions)
      if (p.offset > src->size() || p.length > src->size() - p.offset) __builtin_trap();
  }
  return 0;
}
