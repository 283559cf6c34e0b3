// YARA rules: compilation with positioned diagnostics, per-thread scanners,
// and the per-scan context the engine hands the YARA analyzer (see
// yara_rules.h). libyara 4.2 API: compiler.h, rules.h, scanner.h.
#include "analyzers/yara/yara_rules.h"

#include <fcntl.h>
#include <unistd.h>
#include <yara.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace sandgate {
namespace {

// yr_initialize is reference counted; one reference held for the life of
// the process (rules outlive any scope that could finalize it safely).
bool ensure_libyara() {
  static std::once_flag once;
  static int rc = ERROR_SUCCESS;
  std::call_once(once, [] { rc = yr_initialize(); });
  return rc == ERROR_SUCCESS;
}

// Collects diagnostics for one compiler. libyara names the file given to
// yr_compiler_add_fd; for text, the display name stands in.
struct DiagnosticSink {
  std::vector<YaraDiagnostic>* out;
  std::string fallback_file;
  int errors = 0;
};

void on_compile_message(int level, const char* file_name, int line, const YR_RULE* rule,
                        const char* message, void* user) {
  (void)rule;
  auto* sink = static_cast<DiagnosticSink*>(user);
  YaraDiagnostic d;
  d.file = file_name ? file_name : sink->fallback_file;
  d.line = line > 0 ? line : 0;
  d.message = message ? message : "YARA compile error";
  d.warning = level == YARA_ERROR_LEVEL_WARNING;
  if (!d.warning) ++sink->errors;
  if (sink->out) sink->out->push_back(std::move(d));
}

struct CompilerDeleter {
  void operator()(YR_COMPILER* c) const { yr_compiler_destroy(c); }
};
using CompilerPtr = std::unique_ptr<YR_COMPILER, CompilerDeleter>;

// A compiler with the external variables declared and includes disabled.
CompilerPtr new_compiler(DiagnosticSink* sink) {
  YR_COMPILER* c = nullptr;
  if (yr_compiler_create(&c) != ERROR_SUCCESS) return nullptr;
  CompilerPtr compiler(c);
  yr_compiler_set_callback(c, on_compile_message, sink);
  // Null include callback: libyara answers `include` with "includes are
  // disabled", so every rule file is one the policy names (and watches).
  yr_compiler_set_include_callback(c, nullptr, nullptr, nullptr);
  if (yr_compiler_define_string_variable(c, "filename", "") != ERROR_SUCCESS ||
      yr_compiler_define_string_variable(c, "extension", "") != ERROR_SUCCESS ||
      yr_compiler_define_string_variable(c, "type_label", "") != ERROR_SUCCESS ||
      yr_compiler_define_integer_variable(c, "depth", 0) != ERROR_SUCCESS ||
      yr_compiler_define_string_variable(c, "channel", "") != ERROR_SUCCESS)
    return nullptr;
  return compiler;
}

// Adds one file; returns its error count (or 1 with a diagnostic when the
// file cannot be opened).
int add_file(YR_COMPILER* c, DiagnosticSink* sink, const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (sink->out) sink->out->push_back({path, 0, "cannot open YARA rule file", false});
    ++sink->errors;
    return 1;
  }
  int before = sink->errors;
  int n = yr_compiler_add_fd(c, fd, nullptr, path.c_str());
  ::close(fd);
  // The callback counted what it reported; trust the return value if it says more.
  if (n > sink->errors - before) sink->errors = before + n;
  return n;
}

void internal_error(std::vector<YaraDiagnostic>* out, const std::string& file, const char* what) {
  if (out) out->push_back({file, 0, what, false});
}

}  // namespace

YaraRules::YaraRules(YR_RULES* rules) : rules_(rules) {
  YR_RULE* rule = nullptr;
  yr_rules_foreach(rules_, rule) {
    if (!RULE_IS_PRIVATE(rule)) rule_names_.emplace_back(rule->identifier);
  }
}

YaraRules::~YaraRules() {
  if (rules_) yr_rules_destroy(rules_);
}

std::shared_ptr<const YaraRules> YaraRules::compile(const std::vector<std::string>& files,
                                                    std::vector<YaraDiagnostic>* diagnostics) {
  const std::string first = files.empty() ? std::string("yara") : files.front();
  if (!ensure_libyara()) {
    internal_error(diagnostics, first, "libyara cannot be initialised");
    return nullptr;
  }
  DiagnosticSink sink{diagnostics, first};
  CompilerPtr compiler = new_compiler(&sink);
  if (!compiler) {
    internal_error(diagnostics, first, "cannot create a YARA compiler");
    return nullptr;
  }
  bool failed = false;
  for (const auto& f : files) {
    if (!failed) {
      if (add_file(compiler.get(), &sink, f) > 0) failed = true;
      continue;
    }
    // After an error libyara's compiler cannot take more input; each
    // remaining file is checked on its own so all errors are reported.
    DiagnosticSink alone{diagnostics, f};
    if (CompilerPtr c = new_compiler(&alone)) add_file(c.get(), &alone, f);
  }
  if (failed || sink.errors > 0) return nullptr;
  YR_RULES* rules = nullptr;
  if (yr_compiler_get_rules(compiler.get(), &rules) != ERROR_SUCCESS || !rules) {
    internal_error(diagnostics, first, "cannot build the compiled YARA rules");
    return nullptr;
  }
  return std::shared_ptr<const YaraRules>(new YaraRules(rules));
}

std::shared_ptr<const YaraRules> YaraRules::compile_text(const std::string& text,
                                                         const std::string& display_name,
                                                         std::vector<YaraDiagnostic>* diagnostics) {
  if (!ensure_libyara()) {
    internal_error(diagnostics, display_name, "libyara cannot be initialised");
    return nullptr;
  }
  DiagnosticSink sink{diagnostics, display_name};
  CompilerPtr compiler = new_compiler(&sink);
  if (!compiler) {
    internal_error(diagnostics, display_name, "cannot create a YARA compiler");
    return nullptr;
  }
  int n = yr_compiler_add_string(compiler.get(), text.c_str(), nullptr);
  if (n > 0 || sink.errors > 0) return nullptr;
  YR_RULES* rules = nullptr;
  if (yr_compiler_get_rules(compiler.get(), &rules) != ERROR_SUCCESS || !rules) {
    internal_error(diagnostics, display_name, "cannot build the compiled YARA rules");
    return nullptr;
  }
  return std::shared_ptr<const YaraRules>(new YaraRules(rules));
}

// ---- scanning ----

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int on_scan_message(YR_SCAN_CONTEXT* context, int message, void* data, void* user) {
  if (message != CALLBACK_MSG_RULE_MATCHING) return CALLBACK_CONTINUE;
  auto* result = static_cast<YaraScanResult*>(user);
  const YR_RULE* rule = static_cast<const YR_RULE*>(data);
  if (RULE_IS_PRIVATE(rule)) return CALLBACK_CONTINUE;
  YaraMatch m;
  m.rule = rule->identifier;
  const char* tag = nullptr;
  yr_rule_tags_foreach(rule, tag) { m.tags.emplace_back(tag); }
  const YR_META* meta = nullptr;
  yr_rule_metas_foreach(rule, meta) {
    if (meta->type != META_TYPE_STRING || !meta->identifier || !meta->string) continue;
    std::string id = meta->identifier;
    if (id == "severity") m.severity = lower(meta->string);
    if (id == "description") m.description = meta->string;
  }
  const YR_STRING* s = nullptr;
  yr_rule_strings_foreach(rule, s) {
    if (STRING_IS_PRIVATE(s) || !s->identifier) continue;
    if (context->matches[s->idx].count <= 0) continue;
    std::string id = s->identifier;
    if (std::find(m.strings.begin(), m.strings.end(), id) == m.strings.end())
      m.strings.push_back(std::move(id));
  }
  result->matches.push_back(std::move(m));
  return CALLBACK_CONTINUE;
}

}  // namespace

YaraScanner::YaraScanner(std::shared_ptr<const YaraRules> rules) : rules_(std::move(rules)) {
  if (!rules_ || !rules_->raw()) {
    create_error_ = "no YARA rules";
    return;
  }
  if (yr_scanner_create(rules_->raw(), &scanner_) != ERROR_SUCCESS) {
    scanner_ = nullptr;
    create_error_ = "cannot create a YARA scanner";
  }
}

YaraScanner::~YaraScanner() {
  if (scanner_) yr_scanner_destroy(scanner_);
}

YaraScanResult YaraScanner::scan(std::span<const unsigned char> data, const YaraVariables& vars,
                                 int timeout_seconds) {
  YaraScanResult result;
  if (!scanner_) {
    result.error = create_error_;
    return result;
  }
  if (yr_scanner_define_string_variable(scanner_, "filename", vars.filename.c_str()) !=
          ERROR_SUCCESS ||
      yr_scanner_define_string_variable(scanner_, "extension", vars.extension.c_str()) !=
          ERROR_SUCCESS ||
      yr_scanner_define_string_variable(scanner_, "type_label", vars.type_label.c_str()) !=
          ERROR_SUCCESS ||
      yr_scanner_define_integer_variable(scanner_, "depth", vars.depth) != ERROR_SUCCESS ||
      yr_scanner_define_string_variable(scanner_, "channel", vars.channel.c_str()) !=
          ERROR_SUCCESS) {
    result.error = "cannot set the YARA external variables";
    return result;
  }
  yr_scanner_set_timeout(scanner_, std::max(1, timeout_seconds));
  // The buffer is ours and in memory: no SIGBUS/SIGSEGV guard is needed, and
  // libyara's guard would install process-wide signal handlers mid-scan.
  yr_scanner_set_flags(scanner_, SCAN_FLAGS_REPORT_RULES_MATCHING | SCAN_FLAGS_NO_TRYCATCH);
  yr_scanner_set_callback(scanner_, on_scan_message, &result);
  static const unsigned char kEmpty[1] = {0};
  int rc = yr_scanner_scan_mem(scanner_, data.empty() ? kEmpty : data.data(), data.size());
  yr_scanner_set_callback(scanner_, nullptr, nullptr);
  if (rc == ERROR_SCAN_TIMEOUT) {
    result.timed_out = true;
  } else if (rc != ERROR_SUCCESS) {
    result.error = "libyara error " + std::to_string(rc);
  }
  return result;
}

// ---- per-scan context ----

namespace {
thread_local const YaraScanContext* t_current = nullptr;
}  // namespace

const YaraScanContext* current_yara_scan() { return t_current; }

YaraScanScope::YaraScanScope(std::shared_ptr<const YaraRules> rules, std::string channel)
    : context_{std::move(rules), std::move(channel)}, previous_(t_current) {
  t_current = &context_;
}

YaraScanScope::~YaraScanScope() { t_current = previous_; }

}  // namespace sandgate
