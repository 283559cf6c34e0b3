// Severity names and the catalogue of finding ids.
#include "unpack/finding.h"

namespace sandgate {

namespace {
constexpr std::string_view kSeverityNames[] = {"info", "low", "medium", "high", "critical"};
}

std::string_view severity_name(Severity s) {
  auto i = static_cast<size_t>(s);
  return i < std::size(kSeverityNames) ? kSeverityNames[i] : "info";
}

std::optional<Severity> parse_severity(std::string_view name) {
  for (size_t i = 0; i < std::size(kSeverityNames); ++i)
    if (kSeverityNames[i] == name) return static_cast<Severity>(i);
  return std::nullopt;
}

FindingCatalog& FindingCatalog::instance() {
  static FindingCatalog catalog;
  return catalog;
}

void FindingCatalog::add(std::span<const FindingSpec> specs) {
  for (const auto& s : specs)
    if (!find(s.id)) specs_.push_back(s);
}

const FindingSpec* FindingCatalog::find(std::string_view id) const {
  for (const auto& s : specs_)
    if (s.id == id) return &s;
  return nullptr;
}

Finding make_finding(std::string_view id, std::string message, std::string evidence) {
  const FindingSpec* spec = FindingCatalog::instance().find(id);
  return Finding{std::string(id), spec ? spec->severity : Severity::info, std::move(message),
                 std::move(evidence)};
}

}  // namespace sandgate
