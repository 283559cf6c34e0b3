// YARA analyzer: scans every object with the YARA rules of the policy the
// current scan runs under (current_yara_scan(), set by the engine; see
// yara_rules.h). A matching rule RULE becomes the finding `yara.RULE`, with the
// severity of the rule's `severity` meta (medium when absent or unknown) and
// the rule's tags and matched string identifiers as evidence.
//
// Bounds: at most the first kYaraMaxScanBytes of an object are scanned (a
// match's evidence says so when the object was longer), each object's scan
// stops after kYaraTimeoutSeconds (finding yara.timeout), and the read buffer
// is reused across the objects of one scan.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "analyzers/analyzer.h"
#include "analyzers/name_util.h"
#include "analyzers/yara/yara_rules.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"yara.timeout", Severity::medium,
     "YARA scanning of the object timed out: rules may have missed it"},
    {"yara.error", Severity::medium, "YARA scanning of the object failed"},
    {"yara.partial", Severity::low,
     "the object is larger than the YARA scan window: rules saw only its beginning"},
});

namespace {

constexpr uint64_t kYaraMaxScanBytes = 16ull << 20;
constexpr int kYaraTimeoutSeconds = 5;
// Buffers larger than this are released after each object, not kept.
constexpr size_t kKeepBufferBytes = 1u << 20;

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += ",";
    s += x;
  }
  return s;
}

class YaraAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "yara"; }

  void analyze(Object& obj) override {
    const YaraScanContext* ctx = current_yara_scan();
    if (!ctx || !ctx->rules || !obj.bytes) return;
    if (!scanner_ || scanner_->rules() != ctx->rules.get())
      scanner_ = std::make_unique<YaraScanner>(ctx->rules);

    const uint64_t size = obj.bytes->size();
    const size_t want = static_cast<size_t>(std::min(size, kYaraMaxScanBytes));
    // The object's own memory when it has a view; else a copy into buffer_.
    const unsigned char* data = obj.bytes->view();
    size_t have = want;
    if (!data) {
      buffer_.resize(want);
      have = 0;
      while (have < want) {
        size_t got = obj.bytes->read_at(have, buffer_.data() + have, want - have);
        if (got == 0) break;
        have += got;
      }
      data = buffer_.data();
    }
    const bool cut = have < size;

    YaraVariables vars;
    std::string_view leaf = leaf_name(obj.name.empty() ? obj.path : obj.name);
    vars.filename.assign(leaf);
    vars.extension = last_extension(leaf);
    vars.type_label = obj.type.label;
    vars.depth = obj.depth;
    vars.channel = ctx->channel;
    YaraScanResult r = scanner_->scan({data, have}, vars, kYaraTimeoutSeconds);
    if (buffer_.capacity() > kKeepBufferBytes) std::vector<unsigned char>().swap(buffer_);

    const std::string scope = cut ? "; scanned the first " + std::to_string(have) + " of " +
                                        std::to_string(size) + " bytes"
                                  : std::string();
    for (const auto& m : r.matches) {
      Finding f;
      f.id = "yara." + m.rule;
      f.severity = parse_severity(m.severity).value_or(Severity::medium);
      f.message = m.description.empty() ? "matches YARA rule " + m.rule
                                        : m.description + " (YARA rule " + m.rule + ")";
      f.evidence = "tags=" + join(m.tags) + "; strings=" + join(m.strings) + scope;
      obj.findings.push_back(std::move(f));
    }
    if (cut)
      obj.findings.push_back(make_finding(
          "yara.partial", "YARA rules saw only the beginning of the object",
          "scanned the first " + std::to_string(have) + " of " + std::to_string(size) + " bytes"));
    if (r.timed_out)
      obj.findings.push_back(make_finding(
          "yara.timeout", "YARA scan stopped after " + std::to_string(kYaraTimeoutSeconds) + " s",
          std::to_string(have) + " bytes" + scope));
    if (!r.error.empty())
      obj.findings.push_back(make_finding("yara.error", "YARA scan failed", r.error));
  }

 private:
  std::unique_ptr<YaraScanner> scanner_;  // for the rules of the last scan context
  std::vector<unsigned char> buffer_;
};

SANDGATE_REGISTER_ANALYZER(YaraAnalyzer);

}  // namespace
}  // namespace sandgate
