// libFuzzer target for the OneNote unpacker (FileDataStoreObject scan).
// Seeds in fuzz/corpus/onenote/.
#include <cstddef>
#include <cstdint>

#include "fuzz/pdf/fuzz_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sandgate::fuzzing::analyze_and_unpack(data, size, "onenote");
  return 0;
}
