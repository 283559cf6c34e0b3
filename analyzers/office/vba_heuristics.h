// Heuristics over VBA macro source in the spirit of olevba/mraptor: entry
// points that run by themselves (auto-exec), and idioms that write, execute,
// download or hide code. Only describes what it sees: the caller turns the
// lists into findings.
#pragma once

#include <set>
#include <string>
#include <string_view>

namespace sandgate::office {

struct VbaIndicators {
  std::set<std::string> autoexec;    // e.g. "AutoOpen", "Document_Open", "TextBox1_Change"
  std::set<std::string> suspicious;  // e.g. "Shell", "CreateObject", "Chr() chain (42)"
};

// Adds what source shows to *out. Linear in the source; no allocation per byte.
void scan_vba_source(std::string_view source, VbaIndicators* out);

}  // namespace sandgate::office
