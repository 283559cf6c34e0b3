// LNK analyzer (label "lnk"): publishes a shortcut's target, arguments,
// working directory and icon location as facts (lnk.*) and flags what
// shortcut-borne attacks do: start a shell or LOLBin (lnk.lolbin), carry an
// encoded PowerShell command (lnk.encoded_command), or pad the arguments so
// the Properties dialog hides them (lnk.padded_arguments). Parsing is
// [MS-SHLLINK], bounds-checked (lnk_parser.h); a broken structure is
// lnk.malformed.
#include <string>

#include "analyzers/analyzer.h"
#include "analyzers/lnk/lnk_parser.h"
#include "analyzers/web/script_heuristics.h"
#include "unpack/script/script_decode.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"lnk.lolbin", Severity::high, "the shortcut starts a shell or a system tool abused to run code"},
    {"lnk.encoded_command", Severity::high, "the shortcut's arguments carry an encoded command"},
    {"lnk.padded_arguments", Severity::medium,
     "the shortcut's arguments are padded to hide them from the Properties dialog"},
    {"lnk.malformed", Severity::medium, "the shortcut's structure is truncated or inconsistent"},
});

namespace {

constexpr size_t kMaxRead = 4 << 20;
constexpr size_t kMaxFact = 2048;

std::string cap(const std::string& s) { return s.size() > kMaxFact ? s.substr(0, kMaxFact) + "..." : s; }

class LnkAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "lnk"; }

  void analyze(Object& obj) override {
    if (obj.type.label != "lnk" || !obj.bytes) return;
    std::string bytes = obj.bytes->read_string(0, kMaxRead);
    LnkInfo l = parse_lnk(bytes);
    if (!l.error.empty()) obj.findings.push_back(make_finding("lnk.malformed", "malformed shortcut", l.error));
    auto fact = [&](const char* k, const std::string& v) {
      if (!v.empty()) obj.facts[k] = cap(v);
    };
    fact("lnk.target", l.target);
    fact("lnk.target_source", l.target_source);
    fact("lnk.arguments", l.arguments);
    fact("lnk.working_dir", l.working_dir);
    fact("lnk.icon_location", l.icon_location);
    fact("lnk.name", l.name);
    fact("lnk.relative_path", l.relative_path);

    std::string evidence = "target: " + cap(l.target) +
                           (l.arguments.empty() ? "" : "; arguments: " + cap(l.arguments)) +
                           (l.working_dir.empty() ? "" : "; working dir: " + cap(l.working_dir)) +
                           (l.icon_location.empty() ? "" : "; icon: " + cap(l.icon_location));

    std::string bin = lolbin_name(l.target);
    if (bin.empty()) bin = lolbin_name(l.relative_path);
    if (bin.empty()) bin = lolbin_name(l.env_target);
    std::string low_args = ascii_lower(l.arguments);
    std::vector<std::string> in_args = lolbins_in(low_args);
    if (!bin.empty() || !in_args.empty()) {
      std::string which = bin.empty() ? in_args.front() + " (in arguments)" : bin;
      obj.findings.push_back(make_finding("lnk.lolbin", "the shortcut starts " + which, evidence));
    }

    std::string ev, decoded;
    if (find_encoded_command(low_args, l.arguments, &ev, &decoded)) {
      obj.findings.push_back(make_finding("lnk.encoded_command", "encoded PowerShell command",
                                          ev + (decoded.empty() ? "" : "; decodes to: " + decoded.substr(0, 300))));
    } else if (low_args.find("frombase64string") != std::string::npos ||
               !find_base64_runs(l.arguments, 200, 1).empty()) {
      obj.findings.push_back(make_finding("lnk.encoded_command", "base64 data in the arguments",
                                          cap(l.arguments).substr(0, 200)));
    }

    size_t lead = l.arguments.find_first_not_of(" \t\r\n");
    if (l.arguments.size() > 260 && lead != std::string::npos && lead >= 64)
      obj.findings.push_back(make_finding("lnk.padded_arguments",
                                          std::to_string(lead) + " blank characters before the arguments"));
  }
};

}  // namespace

SANDGATE_REGISTER_ANALYZER(LnkAnalyzer);

}  // namespace sandgate
