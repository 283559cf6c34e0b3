// libFuzzer target for the PE parser, Authenticode verification and the PE
// analyzer: any bytes must yield findings, never a crash, hang, leak or
// out-of-bounds read. Seeds in fuzz/corpus/pe/.
#include <cstddef>
#include <cstdint>
#include <string>

#include "analyzers/analyzer.h"
#include "analyzers/pe/code_signing.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  sandgate::CodeSignTrust t;
  t.use_system_bundle = false;  // keep each run cheap; chain code still runs
  sandgate::set_codesign_trust(t);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto analyzers = sandgate::AnalyzerRegistry::instance().create_all();
  sandgate::Object o;
  o.name = "fuzz.exe";
  o.type.label = "pe";
  o.bytes = sandgate::memory_source(std::string(reinterpret_cast<const char*>(data), size));
  for (auto& a : analyzers) a->analyze(o);
  return 0;
}
