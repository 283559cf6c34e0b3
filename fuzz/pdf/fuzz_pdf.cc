// libFuzzer target for the PDF path: the qpdf walk, the raw keyword scan, the
// PDF analyzer and the embedded-file unpacker. Any bytes must give findings,
// never a crash, hang or unbounded allocation. Seeds in fuzz/corpus/pdf/.
#include <cstddef>
#include <cstdint>

#include "fuzz/pdf/fuzz_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sandgate::fuzzing::analyze_and_unpack(data, size, "pdf");
  return 0;
}
