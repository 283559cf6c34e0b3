// YARA rules for the YARA analyzer: compiled once per policy load, scanned by
// every scan thread with its own scanner.
//
// Who does what:
// - The policy loader (policies/language) calls YaraRules::compile() on the
//   rule files its `yara:` section names; compile errors come back as
//   diagnostics with the rule file and line, so a broken rule file fails
//   policy validation. The compiled policy owns the result (shared_ptr).
// - The engine (gateway/engine.cc) makes the policy's rules current for the
//   duration of one scan with a YaraScanScope; the YARA analyzer
//   (yara_analyzer.cc) reads current_yara_scan() on the same thread.
//   Analyzers never see a policy, only this narrow context.
//
// Guarantees: never throws; libyara is initialised once per process; a
// YaraRules is immutable after compile() and safe to scan from any number of
// threads at once, each through its own YaraScanner (libyara's YR_RULES is
// shared read-only between scanners). Rule files may not `include` other
// files: every file is named by the policy, so a reload sees every change.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

struct YR_RULES;
struct YR_SCAN_CONTEXT;

namespace sandgate {

struct YaraDiagnostic {
  std::string file;  // the rule file (as given to compile())
  int line = 0;      // 1-based; 0 when libyara names no line
  std::string message;
  bool warning = false;
};

// The external variables every rule may use; compile() declares them with
// empty/zero defaults, the scanner sets them per object.
//   filename    the object's own name ("Job.pdf.exe")
//   extension   its last extension, lowercase, no dot ("exe"; "" if none)
//   type_label  the detected type label ("pe", "pdf", "text", ...)
//   depth       0 for the submission itself
//   channel     "mail" or "upload"
struct YaraVariables {
  std::string filename;
  std::string extension;
  std::string type_label;
  int64_t depth = 0;
  std::string channel;
};

struct YaraMatch {
  std::string rule;         // rule identifier
  std::string severity;     // the rule's `severity` meta, lowercase; "" if none
  std::string description;  // the rule's `description` meta, if any
  std::vector<std::string> tags;
  std::vector<std::string> strings;  // identifiers of the strings that matched ("$mz")
};

struct YaraScanResult {
  std::vector<YaraMatch> matches;  // public rules that matched, in rule order
  bool timed_out = false;          // the matches so far are kept
  std::string error;               // a libyara error other than a timeout
};

class YaraRules {
 public:
  // Compiles the files in order, in one namespace (rule names are unique
  // across files, so a finding id yara.RULE names one rule). Returns null and
  // fills *diagnostics with every error found when any file fails; warnings
  // are reported either way.
  static std::shared_ptr<const YaraRules> compile(const std::vector<std::string>& files,
                                                  std::vector<YaraDiagnostic>* diagnostics);
  // Same from rule text in memory; `display_name` names it in diagnostics.
  static std::shared_ptr<const YaraRules> compile_text(const std::string& text,
                                                       const std::string& display_name,
                                                       std::vector<YaraDiagnostic>* diagnostics);
  ~YaraRules();
  YaraRules(const YaraRules&) = delete;
  YaraRules& operator=(const YaraRules&) = delete;

  // Identifiers of the public rules, in rule order.
  const std::vector<std::string>& rule_names() const { return rule_names_; }
  YR_RULES* raw() const { return rules_; }

 private:
  explicit YaraRules(YR_RULES* rules);
  YR_RULES* rules_;
  std::vector<std::string> rule_names_;
};

// One thread's scanner over one YaraRules. Not thread-safe: one per thread.
class YaraScanner {
 public:
  explicit YaraScanner(std::shared_ptr<const YaraRules> rules);
  ~YaraScanner();
  YaraScanner(const YaraScanner&) = delete;
  YaraScanner& operator=(const YaraScanner&) = delete;

  const YaraRules* rules() const { return rules_.get(); }
  // Scans data with the variables; timeout in whole seconds (libyara's unit),
  // at least 1.
  YaraScanResult scan(std::span<const unsigned char> data, const YaraVariables& vars,
                      int timeout_seconds);

 private:
  std::shared_ptr<const YaraRules> rules_;
  YR_SCAN_CONTEXT* scanner_ = nullptr;
  std::string create_error_;
};

// What the engine hands the YARA analyzer for one scan.
struct YaraScanContext {
  std::shared_ptr<const YaraRules> rules;  // null: no YARA rules configured
  std::string channel;
};

// The context of the scan running on this thread, or null outside one.
const YaraScanContext* current_yara_scan();

// Makes a context current on this thread for its lifetime (restores the
// previous one after). REQUIRES: destroyed on the thread that created it.
class YaraScanScope {
 public:
  YaraScanScope(std::shared_ptr<const YaraRules> rules, std::string channel);
  ~YaraScanScope();
  YaraScanScope(const YaraScanScope&) = delete;
  YaraScanScope& operator=(const YaraScanScope&) = delete;

 private:
  YaraScanContext context_;
  const YaraScanContext* previous_;
};

}  // namespace sandgate
