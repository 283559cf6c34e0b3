// libFuzzer target for the LNK parser and analyzer ([MS-SHLLINK]). Seeds in
// fuzz/corpus/lnk/.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "analyzers/lnk/lnk_parser.h"
#include "fuzz/pdf/fuzz_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sandgate::parse_lnk(std::string_view(reinterpret_cast<const char*>(data), size));
  sandgate::fuzzing::analyze_and_unpack(data, size, "lnk");
  return 0;
}
