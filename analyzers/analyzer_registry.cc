// The list of analyzers; each registers itself from its own file.
#include "analyzers/analyzer.h"

namespace sandgate {

AnalyzerRegistry& AnalyzerRegistry::instance() {
  static AnalyzerRegistry registry;
  return registry;
}

std::vector<std::unique_ptr<Analyzer>> AnalyzerRegistry::create_all() const {
  std::vector<std::unique_ptr<Analyzer>> out;
  out.reserve(factories_.size());
  for (const auto& f : factories_) out.push_back(f());
  return out;
}

}  // namespace sandgate
