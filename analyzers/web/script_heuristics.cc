// Script heuristics: see script_heuristics.h. The token lists follow the
// idioms documented in public malware write-ups (olevba/mraptor keyword sets,
// LOLBAS project entries for the programs listed).
#include "analyzers/web/script_heuristics.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "unpack/script/script_decode.h"

namespace sandgate {

namespace {

bool ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

constexpr std::array<std::string_view, 24> kDownload = {
    "downloadstring",   "downloadfile",          "downloaddata",     "invoke-webrequest",
    "invoke-restmethod", "iwr ",                 "irm ",             "start-bitstransfer",
    "net.webclient",    "msxml2.xmlhttp",        "microsoft.xmlhttp", "msxml2.serverxmlhttp",
    "winhttp.winhttprequest", "urldownloadtofile", "bitsadmin",       "-urlcache",
    "curl ",            "wget ",                 "curl.exe",         "xmlhttprequest",
    "http://",          "https://",              "\\\\webdav",       "ftp://",
};

constexpr std::array<std::string_view, 26> kExecute = {
    "iex",          "invoke-expression", "start-process",     "wscript.shell",
    "shell.application", "shellexecute", ".run ",             ".run(",
    ".exec(",       "cmd /c",            "cmd.exe",           "powershell",
    "rundll32",     "regsvr32",          "mshta",             "execute(",
    "executeglobal", "eval(",            "win32_process",     "[reflection.assembly]::load",
    "[system.reflection.assembly]::load", "createprocess",   "| sh",  "| bash",
    "start-job",    "invoke-item",
};

constexpr std::array<std::string_view, 14> kLolbins = {
    "cmd",      "powershell", "pwsh",   "mshta",    "rundll32", "regsvr32",  "wscript",
    "cscript",  "certutil",   "bitsadmin", "msiexec", "forfiles", "schtasks", "conhost",
};

bool is_b64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '=';
}

}  // namespace

size_t find_word(std::string_view lowered, std::string_view token, size_t from) {
  if (token.empty()) return std::string_view::npos;
  bool need_boundary = ident_char(token[0]);
  for (size_t at = lowered.find(token, from); at != std::string_view::npos;
       at = lowered.find(token, at + 1)) {
    if (!need_boundary || at == 0 || !ident_char(lowered[at - 1])) return at;
  }
  return std::string_view::npos;
}

bool find_encoded_command(std::string_view lowered, std::string_view original,
                          std::string* evidence, std::string* decoded) {
  static constexpr std::string_view kFull = "encodedcommand";
  for (size_t i = 0; i < lowered.size(); ++i) {
    char c = lowered[i];
    if (c != '-' && c != '/') continue;
    if (i > 0 && ident_char(lowered[i - 1])) continue;
    size_t j = i + 1;
    // Accept a prefix of "encodedcommand" or the alias "ec".
    size_t k = 0;
    while (j + k < lowered.size() && k < kFull.size() && lowered[j + k] == kFull[k]) ++k;
    bool ok = k >= 1 && (j + k >= lowered.size() || !ident_char(lowered[j + k]));
    if (!ok && lowered.substr(j, 2) == "ec" && (j + 2 >= lowered.size() || !ident_char(lowered[j + 2]))) {
      ok = true;
      k = 2;
    }
    if (!ok) continue;
    size_t p = j + k;
    size_t spaces = 0;
    while (p < lowered.size() && (lowered[p] == ' ' || lowered[p] == '\t' || lowered[p] == '"' ||
                                  lowered[p] == '\'')) {
      ++p;
      ++spaces;
    }
    if (spaces == 0) continue;
    size_t q = p;
    while (q < original.size() && is_b64(original[q])) ++q;
    if (q - p < 16) continue;
    std::string raw = decode_base64(original.substr(p, q - p), 64 * 1024);
    if (evidence) *evidence = std::string(original.substr(i, std::min<size_t>(q - i, 80)));
    if (decoded) *decoded = utf16le_to_utf8(raw, 2048);
    return true;
  }
  return false;
}

ScriptIdioms scan_script_idioms(std::string_view lowered, std::string_view original) {
  ScriptIdioms r;
  for (std::string_view t : kDownload)
    if (find_word(lowered, t) != std::string_view::npos) r.download.emplace_back(t);
  for (std::string_view t : kExecute)
    if (find_word(lowered, t) != std::string_view::npos) r.execute.emplace_back(t);
  // URLs alone are not downloads; they only count together with a fetch idiom.
  auto is_url = [](const std::string& t) { return t.find("://") != std::string::npos; };
  bool fetch = std::any_of(r.download.begin(), r.download.end(),
                           [&](const std::string& t) { return !is_url(t); });
  if (!fetch) r.download.clear();

  std::string ev, dec;
  if (find_encoded_command(lowered, original, &ev, &dec)) {
    r.encoded.push_back("encoded command: " + ev);
    r.decoded_command = dec;
  }
  if (lowered.find("frombase64string") != std::string_view::npos &&
      (find_word(lowered, "iex") != std::string_view::npos ||
       lowered.find("invoke-expression") != std::string_view::npos ||
       lowered.find("assembly]::load") != std::string_view::npos))
    r.encoded.push_back("FromBase64String decoded and executed");
  if (find_word(lowered, "certutil") != std::string_view::npos &&
      (lowered.find("-decode") != std::string_view::npos ||
       lowered.find("/decode") != std::string_view::npos))
    r.encoded.push_back("certutil -decode");
  if (has_script_encoder_block(original)) r.encoded.push_back("Script Encoder block (#@~^)");
  if ((lowered.find("atob(") != std::string_view::npos ||
       lowered.find("base64") != std::string_view::npos) &&
      (lowered.find("eval(") != std::string_view::npos ||
       lowered.find("new function(") != std::string_view::npos))
    r.encoded.push_back("base64-decoded text evaluated");
  return r;
}

std::string lolbin_name(std::string_view path) {
  std::string low = ascii_lower(path);
  // Strip arguments after the program when a whole command line is given.
  while (!low.empty() && (low.back() == ' ' || low.back() == '"')) low.pop_back();
  size_t slash = low.find_last_of("\\/");
  std::string base = slash == std::string::npos ? low : low.substr(slash + 1);
  while (!base.empty() && base.front() == '"') base.erase(0, 1);
  if (base.size() > 4 && base.compare(base.size() - 4, 4, ".exe") == 0) base.resize(base.size() - 4);
  for (std::string_view b : kLolbins)
    if (base == b) return std::string(b);
  return "";
}

std::vector<std::string> lolbins_in(std::string_view lowered) {
  std::vector<std::string> out;
  for (std::string_view b : kLolbins) {
    if (b == "cmd") {
      // "cmd" as a word is too common in prose; require the program form.
      if (lowered.find("cmd.exe") != std::string_view::npos ||
          find_word(lowered, "cmd /c") != std::string_view::npos ||
          find_word(lowered, "cmd /k") != std::string_view::npos)
        out.emplace_back(b);
      continue;
    }
    size_t at = find_word(lowered, b);
    if (at == std::string_view::npos) continue;
    size_t end = at + b.size();
    if (end < lowered.size() && (std::isalnum(static_cast<unsigned char>(lowered[end])) || lowered[end] == '_'))
      continue;
    out.emplace_back(b);
  }
  return out;
}

}  // namespace sandgate
