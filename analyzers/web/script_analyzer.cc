// Script analyzer (labels js, vbs, vbe, ps1, bat, wsf, hta, script): flags
// download-and-execute idioms (script.download_exec) and encoded or
// obfuscated commands (script.encoded: PowerShell -EncodedCommand,
// FromBase64String + IEX, certutil -decode, Script Encoder blocks). Script
// Encoder (VBE/JSE) text is decoded first, so the idioms are looked for in
// what actually runs; the script unpacker also emits the decoded text as a
// child for YARA and the other analyzers. Reads at most kMaxText bytes.
#include <string>

#include "analyzers/analyzer.h"
#include "analyzers/web/script_heuristics.h"
#include "unpack/script/script_decode.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"script.download_exec", Severity::high, "the script downloads and runs code"},
    {"script.encoded", Severity::high, "the script hides commands (encoded or obfuscated)"},
    {"script.download", Severity::medium, "the script fetches content from the network"},
    {"script.partial", Severity::low,
     "the script is larger than the analyzer reads: its checks saw only the beginning"},
});

namespace {

constexpr size_t kMaxText = 8 << 20;

bool is_script_label(std::string_view l) {
  return l == "js" || l == "vbs" || l == "vbe" || l == "ps1" || l == "bat" || l == "wsf" ||
         l == "hta" || l == "script";
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

class ScriptAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "script"; }

  void analyze(Object& obj) override {
    if (!obj.bytes || !is_script_label(obj.type.label)) return;
    std::string text = obj.bytes->read_string(0, kMaxText);
    if (obj.bytes->size() > kMaxText)
      obj.findings.push_back(make_finding("script.partial", "only the beginning of the script was checked",
                                          "read " + std::to_string(kMaxText) + " of " +
                                              std::to_string(obj.bytes->size()) + " bytes"));
    std::string decoded;
    if (decode_script_encoder(text, &decoded, kMaxText)) {
      obj.facts["script.encoder_decoded"] = "true";
      text = decoded + "\n" + text;  // keep the marker visible to the checks
      if (text.size() > 2 * kMaxText) text.resize(2 * kMaxText);
    }
    std::string low = ascii_lower(text);
    ScriptIdioms r = scan_script_idioms(low, text);
    if (!r.download.empty() && !r.execute.empty()) {
      obj.findings.push_back(make_finding("script.download_exec",
                                          "downloads and runs code",
                                          "fetch: " + join(r.download) + "; run: " + join(r.execute)));
    } else if (!r.download.empty()) {
      obj.findings.push_back(make_finding("script.download", "fetches from the network",
                                          join(r.download)));
    }
    if (!r.encoded.empty()) {
      std::string ev = join(r.encoded);
      if (!r.decoded_command.empty()) ev += "; decodes to: " + r.decoded_command.substr(0, 300);
      obj.findings.push_back(make_finding("script.encoded", "hides its commands", ev));
    }
  }
};

}  // namespace

SANDGATE_REGISTER_ANALYZER(ScriptAnalyzer);

}  // namespace sandgate
