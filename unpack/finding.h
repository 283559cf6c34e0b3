// Finding: one fact an unpacker or analyzer reports about an object.
// Findings describe; they never decide (policies do).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sandgate {

enum class Severity { info = 0, low = 1, medium = 2, high = 3, critical = 4 };

std::string_view severity_name(Severity s);
// Returns nullopt for an unknown name.
std::optional<Severity> parse_severity(std::string_view name);

struct Finding {
  std::string id;        // stable dotted name, e.g. "archive.zip.overlap"
  Severity severity = Severity::info;
  std::string message;   // one sentence for a person
  std::string evidence;  // optional detail: offsets, names, values
};

}  // namespace sandgate

#include <span>
#include <vector>

namespace sandgate {

// The catalogue of finding ids, so policies can reject an id nothing emits.
// Every unpacker and analyzer declares the ids it may emit with
// SANDGATE_DECLARE_FINDINGS in the file that emits them.
struct FindingSpec {
  std::string_view id;
  Severity severity;
  std::string_view summary;
};

class FindingCatalog {
 public:
  static FindingCatalog& instance();
  void add(std::span<const FindingSpec> specs);
  const FindingSpec* find(std::string_view id) const;
  const std::vector<FindingSpec>& all() const { return specs_; }

 private:
  std::vector<FindingSpec> specs_;
};

struct FindingCatalogRegistration {
  explicit FindingCatalogRegistration(std::span<const FindingSpec> specs) {
    FindingCatalog::instance().add(specs);
  }
};

// Builds a Finding with the catalogue's severity for id (info if undeclared).
Finding make_finding(std::string_view id, std::string message, std::string evidence = {});

}  // namespace sandgate

#define SANDGATE_FINDINGS_CONCAT2(a, b) a##b
#define SANDGATE_FINDINGS_CONCAT(a, b) SANDGATE_FINDINGS_CONCAT2(a, b)
// SANDGATE_DECLARE_FINDINGS({{"archive.encrypted", Severity::medium, "..."}, ...});
#define SANDGATE_DECLARE_FINDINGS(...)                                                   \
  static const ::sandgate::FindingSpec SANDGATE_FINDINGS_CONCAT(specs_, __LINE__)[] =    \
      __VA_ARGS__;                                                                       \
  static ::sandgate::FindingCatalogRegistration SANDGATE_FINDINGS_CONCAT(findreg_, __LINE__)( \
      SANDGATE_FINDINGS_CONCAT(specs_, __LINE__))
