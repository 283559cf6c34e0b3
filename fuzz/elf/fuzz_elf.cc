// libFuzzer target for the ELF analyzer: any bytes must yield facts or the
// finding elf.malformed, never a crash or out-of-bounds read. Seeds in
// fuzz/corpus/elf/.
#include <cstddef>
#include <cstdint>
#include <string>

#include "analyzers/analyzer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto analyzers = sandgate::AnalyzerRegistry::instance().create_all();
  sandgate::Object o;
  o.type.label = "elf";
  o.bytes = sandgate::memory_source(std::string(reinterpret_cast<const char*>(data), size));
  for (auto& a : analyzers) a->analyze(o);
  return 0;
}
