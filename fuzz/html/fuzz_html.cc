// libFuzzer target for the HTML/SVG and script analyzers, the script unpacker
// (base64 payloads, Script Encoder blocks) and the decoders behind them. The
// first byte picks the label. Seeds in fuzz/corpus/html/.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/pdf/fuzz_context.h"
#include "unpack/script/script_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* kLabels[] = {"html", "svg", "hta", "vbe", "js", "ps1", "bat", "wsf"};
  if (size == 0) return 0;
  const char* label = kLabels[data[0] % 8];
  sandgate::fuzzing::analyze_and_unpack(data + 1, size - 1, label);
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string out;
  sandgate::decode_script_encoder(text, &out, 1 << 20);
  sandgate::decode_base64(text, 1 << 20);
  return 0;
}
