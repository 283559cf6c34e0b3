// Analyzer: looks at one object and attaches findings to it. Analyzers describe;
// they never decide. Each lives in its own file and registers itself with
// SANDGATE_REGISTER_ANALYZER; it declares the ids it emits with
// SANDGATE_DECLARE_FINDINGS (unpack/finding.h).
//
// Contract: analyze() is called once per object after its type is known and
// before it is unpacked; obj.bytes is set. Hostile bytes are normal: never
// throw for bad input, report it as a finding.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "unpack/object.h"

namespace sandgate {

class Analyzer {
 public:
  virtual ~Analyzer() = default;
  virtual std::string_view name() const = 0;
  virtual void analyze(Object& obj) = 0;
};

class AnalyzerRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Analyzer>()>;
  static AnalyzerRegistry& instance();
  void add(Factory factory) { factories_.push_back(std::move(factory)); }
  // A fresh set of every registered analyzer (one set per scan thread).
  std::vector<std::unique_ptr<Analyzer>> create_all() const;

 private:
  std::vector<Factory> factories_;
};

struct AnalyzerRegistration {
  explicit AnalyzerRegistration(AnalyzerRegistry::Factory f) {
    AnalyzerRegistry::instance().add(std::move(f));
  }
};

#define SANDGATE_ANALYZER_CONCAT2(a, b) a##b
#define SANDGATE_ANALYZER_CONCAT(a, b) SANDGATE_ANALYZER_CONCAT2(a, b)
#define SANDGATE_REGISTER_ANALYZER(Type)                                              \
  static ::sandgate::AnalyzerRegistration SANDGATE_ANALYZER_CONCAT(areg_, __LINE__)( \
      [] { return std::unique_ptr<::sandgate::Analyzer>(new Type()); })

}  // namespace sandgate
