// libFuzzer target for MS-OVBA decompression and the dir stream parser, plus
// the Ole10Native and OLE1 parsers: bounded output, no out-of-bounds reads.
#include <cstddef>
#include <cstdint>
#include <string>

#include "unpack/ole2/ole_native.h"
#include "unpack/ole2/vba_project.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sandgate;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string out;
  bool truncated = false;
  ovba::decompress(in, 1 << 20, &out, &truncated);
  if (out.size() > (1 << 20)) __builtin_trap();
  ovba::parse_dir(out);
  ovba::parse_dir(in);
  ole::parse_native_package(in, true);
  ole::parse_native_package(in, false);
  ole::parse_ole1_object(in);
  return 0;
}
