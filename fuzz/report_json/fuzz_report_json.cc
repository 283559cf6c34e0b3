// Fuzz target for report_from_json: the front parses what a scan worker sends
// back, and a compromised worker can send anything. It must never crash or
// hang, and what it accepts must print back to JSON that parses the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gateway/report_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sandgate::Report report;
  std::string error;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!sandgate::report_from_json(text, report, &error)) return 0;
  const std::string again = sandgate::report_to_json(report);
  sandgate::Report second;
  if (!sandgate::report_from_json(again, second, &error)) std::abort();
  if (sandgate::report_to_json(second) != again) std::abort();
  return 0;
}
