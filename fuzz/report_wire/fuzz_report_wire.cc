// Fuzz target for the scan workers' binary messages (gateway/isolation/
// wire.h): the front reads every report a worker sends, and a compromised
// worker can send anything. Neither reader may crash, hang or allocate beyond
// the input; what the report reader accepts must encode back to bytes that
// decode to the same report.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gateway/isolation/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sandgate::isolation;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  sandgate::Submission sub;
  double seconds = 0;
  if (job_from_wire(bytes, sub, seconds)) {
    sandgate::Submission again;
    double again_seconds = 0;
    if (!job_from_wire(job_to_wire(sub, seconds), again, again_seconds)) std::abort();
    if (again.name != sub.name || again.facts.recipients != sub.facts.recipients) std::abort();
  }
  sandgate::Report report;
  std::string error;
  if (!report_from_wire(bytes, report, &error)) return 0;
  const std::string encoded = report_to_wire(report);
  sandgate::Report second;
  if (!report_from_wire(encoded, second, &error)) std::abort();
  if (report_to_wire(second) != encoded) std::abort();
  for (size_t i = 0; i < second.objects.size(); ++i)
    if (second.objects[i].parent != report.objects[i].parent) std::abort();
  return 0;
}
