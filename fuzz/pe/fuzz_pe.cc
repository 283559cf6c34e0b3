// libFuzzer target for the PE parser, Authenticode verification and the PE
// analyzer: any bytes must yield findings, never a crash, hang, leak or
// out-of-bounds read. Seeds in fuzz/corpus/pe/.
#include <cstddef>
#include <cstdint>
#include <string>

#include "analyzers/analyzer.h"
#include "analyzers/pe/authenticode.h"
#include "analyzers/pe/code_signing.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  sandgate::CodeSignTrust t;
  t.use_system_bundle = false;  // keep each run cheap; chain code still runs
  sandgate::set_codesign_trust(t);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto analyzers = sandgate::AnalyzerRegistry::instance().create_all();
  // Inputs are small: odd-sized ones take the path of a large file (the
  // digest algorithm peeked from the DER, parse and verification on the
  // second thread), even-sized ones the single-thread path.
  sandgate::set_authenticode_parallel_from(size % 2 ? 0 : UINT64_MAX);
  sandgate::Object o;
  o.name = "fuzz.exe";
  o.type.label = "pe";
  o.bytes = sandgate::memory_source(std::string(reinterpret_cast<const char*>(data), size));
  for (auto& a : analyzers) a->analyze(o);
  return 0;
}
