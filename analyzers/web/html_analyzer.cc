// HTML and SVG analyzer (labels html, hta, svg). Looks at the markup as text
// (no DOM: hostile pages are built to confuse parsers, and the idioms below
// survive any amount of surrounding noise):
//  - html.script: scripts, event-handler attributes, javascript: URLs
//    (medium when obfuscation idioms such as eval/unescape/fromCharCode appear);
//  - html.smuggling: a file assembled in the browser, i.e. a Blob or a data:
//    URI built from base64 (atob, data:...;base64,) plus a download trigger
//    (download attribute, msSaveOrOpenBlob);
//  - html.redirect: meta refresh or script navigation to another URL;
//  - svg.script / svg.foreign_object: script or embedded HTML inside an SVG.
// Large base64 payloads are decoded into child objects by the script
// unpacker (unpack/script/). Reads at most kMaxText bytes.
#include <string>

#include "analyzers/analyzer.h"
#include "analyzers/web/script_heuristics.h"
#include "unpack/script/script_decode.h"
#include "unpack/type_detect.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"html.script", Severity::low, "the page contains script (medium when obfuscated)"},
    {"html.smuggling", Severity::high,
     "the page assembles a file from embedded data and makes the browser save it (HTML smuggling)"},
    {"html.redirect", Severity::medium, "the page redirects to another URL"},
    {"svg.script", Severity::high, "the SVG image contains script"},
    {"svg.foreign_object", Severity::medium, "the SVG image embeds HTML (foreignObject)"},
    {"html.partial", Severity::low,
     "the page is larger than the analyzer reads: its checks saw only the beginning"},
});

namespace {

constexpr size_t kMaxText = 32 << 20;
constexpr size_t kLargePayloadChars = 4096;

bool has(std::string_view low, std::string_view t) { return low.find(t) != std::string_view::npos; }

std::string snippet_at(std::string_view text, size_t at, size_t n) {
  std::string out;
  for (size_t i = at; i < text.size() && out.size() < n; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    out.push_back(c < 0x20 || c == 0x7f ? ' ' : static_cast<char>(c));
  }
  return out;
}

constexpr std::string_view kHandlers[] = {
    "onload=",  "onerror=",     "onclick=",     "onmouseover=", "onfocus=", "onbegin=",
    "onend=",   "onanimationstart=", "onpageshow=", "onunload=",  "onactivate=",
    "onmouseenter=", "onchange=", "onsubmit=",
};

class HtmlAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "html"; }

  void analyze(Object& obj) override {
    const std::string& label = obj.type.label;
    if (!obj.bytes || (label != "html" && label != "hta" && label != "svg")) return;
    std::string text = obj.bytes->read_string(0, kMaxText);
    if (obj.bytes->size() > kMaxText)
      obj.findings.push_back(make_finding("html.partial", "only the beginning of the page was checked",
                                          "read " + std::to_string(kMaxText) + " of " +
                                              std::to_string(obj.bytes->size()) + " bytes"));
    std::string low = ascii_lower(text);
    const bool svg = label == "svg";

    // Scripts.
    size_t scripts = 0;
    for (size_t at = low.find("<script"); at != std::string::npos && scripts < 100000;
         at = low.find("<script", at + 7))
      ++scripts;
    std::vector<std::string> handlers;
    for (std::string_view h : kHandlers) {
      // Attribute form: preceded by whitespace or a quote, optional spaces before '='.
      std::string_view name = h.substr(0, h.size() - 1);
      for (size_t at = find_word(low, name); at != std::string::npos; at = find_word(low, name, at + 1)) {
        size_t p = at + name.size();
        while (p < low.size() && (low[p] == ' ' || low[p] == '\t' || low[p] == '\n' || low[p] == '\r')) ++p;
        if (p < low.size() && low[p] == '=' && at > 0 &&
            (low[at - 1] == ' ' || low[at - 1] == '\t' || low[at - 1] == '\n' || low[at - 1] == '"' ||
             low[at - 1] == '\'' || low[at - 1] == '/')) {
          handlers.emplace_back(name);
          break;
        }
      }
    }
    bool js_url = has(low, "javascript:");
    obj.facts["html.scripts"] = std::to_string(scripts);

    std::vector<std::string> obfuscation;
    for (std::string_view t : {"eval(", "unescape(", "fromcharcode(", "atob(", "document.write(",
                               "new function(", "settimeout(\"", "window[\""})
      if (has(low, t)) obfuscation.emplace_back(t);

    if (svg) {
      if (scripts > 0 || !handlers.empty() || js_url) {
        std::string ev = std::to_string(scripts) + " <script> element(s)";
        for (auto& h : handlers) ev += ", " + h;
        if (js_url) ev += ", javascript: URL";
        obj.findings.push_back(make_finding("svg.script", "the SVG contains script", ev));
      }
      if (size_t at = low.find("<foreignobject"); at != std::string::npos)
        obj.findings.push_back(make_finding("svg.foreign_object", "the SVG embeds HTML",
                                            snippet_at(text, at, 120)));
    } else if (scripts > 0 || !handlers.empty() || js_url) {
      std::string ev = std::to_string(scripts) + " <script> element(s)";
      for (auto& h : handlers) ev += ", " + h;
      if (js_url) ev += ", javascript: URL";
      Finding f = make_finding("html.script", "the page contains script", ev);
      if (obfuscation.size() >= 2 || has(low, "eval(unescape") || has(low, "eval(atob")) {
        f.severity = Severity::medium;
        f.message = "the page contains obfuscated script";
        for (auto& o : obfuscation) f.evidence += ", " + o;
      }
      obj.findings.push_back(std::move(f));
    }

    check_smuggling(obj, text, low);
    check_redirect(obj, text, low);
  }

 private:
  static void check_smuggling(Object& obj, std::string_view text, std::string_view low) {
    std::vector<std::string> why;
    bool blob = has(low, "new blob(") || has(low, "createobjecturl(");
    bool data_b64 = false;
    for (size_t at = low.find("data:"); at != std::string::npos; at = low.find("data:", at + 5)) {
      size_t comma = low.find(',', at);
      if (comma != std::string::npos && comma - at < 200 &&
          low.substr(at, comma - at).find(";base64") != std::string::npos) {
        // Images inline in a page are ordinary; a data: URI only counts when
        // it is not an image or font.
        std::string_view mime = low.substr(at + 5, comma - at - 5);
        if (!mime.starts_with("image/") && !mime.starts_with("font/") &&
            !mime.starts_with("application/font") && !mime.starts_with("application/x-font")) {
          data_b64 = true;
          why.push_back("data:" + std::string(mime.substr(0, 60)));
          break;
        }
      }
    }
    bool decoder = has(low, "atob(") || has(low, "base64") || has(low, "frombase64") ||
                   (has(low, "uint8array") && has(low, "charcodeat"));
    bool download = has(low, ".download") || has(low, " download=") || has(low, " download ") ||
                    has(low, " download>") || has(low, "'download'") || has(low, "\"download\"") ||
                    has(low, "mssaveoropenblob") || has(low, "mssaveblob");
    // A large base64 payload that decodes to something we can name.
    std::string payload;
    for (const Base64Run& r : find_base64_runs(text, kLargePayloadChars, 16)) {
      std::string bytes = decode_base64(text.substr(r.offset, r.length), 1 << 16);
      TypeInfo t = detect_type(*memory_source(bytes));
      if (t.label != "data" && t.label != "text" && t.label != "png" && t.label != "jpeg" &&
          t.label != "gif" && t.label != "webp" && t.label != "svg" && t.label != "ico" &&
          t.label != "bmp") {
        payload = t.label;
        break;
      }
    }
    if (!download) return;
    if (!((blob && decoder) || data_b64 || (blob && !payload.empty()))) return;
    if (blob) why.push_back("Blob/createObjectURL");
    if (decoder) why.push_back("base64 decoding");
    why.push_back(has(low, "mssaveoropenblob") || has(low, "mssaveblob") ? "msSaveOrOpenBlob"
                                                                          : "download attribute");
    if (!payload.empty()) why.push_back("embedded " + payload + " payload");
    std::string ev;
    for (auto& w : why) ev += (ev.empty() ? "" : ", ") + w;
    obj.findings.push_back(
        make_finding("html.smuggling", "the page builds a file in the browser and saves it", ev));
  }

  static void check_redirect(Object& obj, std::string_view text, std::string_view low) {
    // <meta http-equiv="refresh" content="0; url=...">
    for (size_t at = low.find("http-equiv"); at != std::string::npos;
         at = low.find("http-equiv", at + 10)) {
      std::string_view tag = low.substr(at, 300);
      size_t end = tag.find('>');
      if (end != std::string::npos) tag = tag.substr(0, end);
      if (tag.find("refresh") != std::string::npos && tag.find("url") != std::string::npos) {
        size_t u = tag.find("url");
        obj.findings.push_back(make_finding("html.redirect", "meta refresh redirect",
                                            snippet_at(text, at + u, 200)));
        return;
      }
    }
    for (std::string_view t : {"window.location.href", "window.location =", "window.location=",
                               "location.replace(", "location.assign(", "document.location",
                               "location.href =", "location.href=", "top.location", "window.navigate("}) {
      size_t at = low.find(t);
      if (at != std::string::npos) {
        obj.findings.push_back(make_finding("html.redirect", "script navigates to another URL",
                                            snippet_at(text, at, 200)));
        return;
      }
    }
  }
};

}  // namespace

SANDGATE_REGISTER_ANALYZER(HtmlAnalyzer);

}  // namespace sandgate
