// libFuzzer target for the RTF object scanner and the RTF unpacker (OLE1 and
// Ole10Native parsing of what it decodes): any bytes must scan without
// crashing, hanging or allocating without bound.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/ole2/fuzz_context.h"
#include "unpack/rtf/rtf_objects.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sandgate;
  auto src = memory_source(std::string(reinterpret_cast<const char*>(data), size));
  rtf::ScanLimits lim;
  lim.max_data = 1 << 20;
  auto r = rtf::scan_objects(*src, lim);
  for (const auto& o : r.objects)
    if (o.data.size() > lim.max_data) __builtin_trap();
  fuzzing::run_unpacker("rtf", src);
  return 0;
}
