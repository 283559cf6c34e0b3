// Script languages told apart by content, conservatively: a label is given only
// when the text carries several constructs that belong to that language alone
// (or an unambiguous start such as "#!", "@echo off" or a Script Encoder
// marker). Anything in doubt stays "text". Works on a lowercased sample of the
// first kScriptSample bytes, all tokens found in one case-folding pass.
#include <algorithm>
#include <initializer_list>
#include <vector>

#include "unpack/type/probe.h"
#include "unpack/type/text_detail.h"
#include "unpack/type/token_matcher.h"

namespace sandgate::type_detail {
namespace {

// Every token any heuristic below asks about, lowercase (matched in any
// case), in one automaton.
// Groups are index ranges; see kGroups.
enum Group {
  kBatchTok,
  kPsTok,
  kVbOnlyTok,
  kVbWshTok,
  kJsWshTok,
  kJsOnlyTok,
  kJsDeclTok,
  kGroupCount
};

struct GroupedToken {
  std::string_view text;
  int group;  // -1: looked up by name only
};

constexpr GroupedToken kTokens[] = {
    // cmd.exe batch
    {"%~dp0", kBatchTok},
    {"goto :eof", kBatchTok},
    {"set /a ", kBatchTok},
    {"set /p ", kBatchTok},
    {"if errorlevel ", kBatchTok},
    {"%errorlevel%", kBatchTok},
    {"if not exist ", kBatchTok},
    {"cmd /c ", kBatchTok},
    {"call :", kBatchTok},
    {"%comspec%", kBatchTok},
    {"@echo off", kBatchTok},
    {"setlocal enabledelayedexpansion", kBatchTok},
    // PowerShell cmdlets, automatic variables and idioms
    {"write-host", kPsTok},
    {"write-output", kPsTok},
    {"write-error", kPsTok},
    {"invoke-expression", kPsTok},
    {"invoke-webrequest", kPsTok},
    {"invoke-restmethod", kPsTok},
    {"new-object", kPsTok},
    {"get-childitem", kPsTok},
    {"get-content", kPsTok},
    {"set-content", kPsTok},
    {"out-file", kPsTok},
    {"out-null", kPsTok},
    {"start-process", kPsTok},
    {"start-sleep", kPsTok},
    {"add-type", kPsTok},
    {"get-itemproperty", kPsTok},
    {"set-itemproperty", kPsTok},
    {"foreach-object", kPsTok},
    {"where-object", kPsTok},
    {"select-object", kPsTok},
    {"test-path", kPsTok},
    {"join-path", kPsTok},
    {"split-path", kPsTok},
    {"remove-item", kPsTok},
    {"copy-item", kPsTok},
    {"new-item", kPsTok},
    {"get-process", kPsTok},
    {"-executionpolicy", kPsTok},
    {"$erroractionpreference", kPsTok},
    {"$psscriptroot", kPsTok},
    {"$env:", kPsTok},
    {"$null", kPsTok},
    {"[system.convert]::", kPsTok},
    {"[convert]::frombase64string", kPsTok},
    {"-encodedcommand", kPsTok},
    {"[scriptblock]::create", kPsTok},
    {"[cmdletbinding(", kPsTok},
    {"[parameter(", kPsTok},
    {"| iex", kPsTok},
    {"iex(", kPsTok},
    {"net.webclient", kPsTok},
    {").downloadstring(", kPsTok},
    {"[byte[]]", kPsTok},
    // VBScript syntax
    {"dim ", kVbOnlyTok},
    {"end sub", kVbOnlyTok},
    {"end function", kVbOnlyTok},
    {"end if", kVbOnlyTok},
    {"on error resume next", kVbOnlyTok},
    {"option explicit", kVbOnlyTok},
    {"wend", kVbOnlyTok},
    {"msgbox ", kVbOnlyTok},
    {"msgbox(", kVbOnlyTok},
    {"executeglobal", kVbOnlyTok},
    {"& vbcrlf", kVbOnlyTok},
    {"set objshell", kVbOnlyTok},
    {"elseif ", kVbOnlyTok},
    // Windows Script Host objects as VBScript uses them
    {"wscript.", kVbWshTok},
    {"createobject(", kVbWshTok},
    {"scripting.filesystemobject", kVbWshTok},
    {"wscript.shell", kVbWshTok},
    {"execute(", kVbWshTok},
    {"chr(", kVbWshTok},
    // JScript under WSH
    {"activexobject(", kJsWshTok},
    {"getobject(", kJsWshTok},
    // JavaScript-only syntax and APIs
    {"===", kJsOnlyTok},
    {"!==", kJsOnlyTok},
    {"document.", kJsOnlyTok},
    {"window.", kJsOnlyTok},
    {"console.log(", kJsOnlyTok},
    {"require(", kJsOnlyTok},
    {"module.exports", kJsOnlyTok},
    {"string.fromcharcode(", kJsOnlyTok},
    {"unescape(", kJsOnlyTok},
    {"function(", kJsOnlyTok},
    {"function (", kJsOnlyTok},
    {".prototype.", kJsOnlyTok},
    {"=> {", kJsOnlyTok},
    {"eval(", kJsOnlyTok},
    {"var ", kJsDeclTok},
    {"let ", kJsDeclTok},
    {"const ", kJsDeclTok},
    {"function ", kJsDeclTok},
    // Looked up by name
    {"attribute vb_name", -1},
    {"new activexobject(", -1},
    {"<?php", -1},
    {"#include", -1},
    {"public class ", -1},
    {"import java", -1},
    {".synopsis", -1},
};

const TokenMatcher& matcher() {
  static const TokenMatcher m = [] {
    std::vector<std::string_view> list;
    for (const auto& t : kTokens) list.push_back(t.text);
    return TokenMatcher(list, /*ascii_fold=*/true);
  }();
  return m;
}

// Index of a token in kTokens, resolved at compile time.
consteval size_t tok(std::string_view text) {
  for (size_t i = 0; i < std::size(kTokens); ++i)
    if (kTokens[i].text == text) return i;
  throw "token not in kTokens";
}

struct Evidence {
  TokenMatcher::Hits hits;
  int count[kGroupCount] = {};
  bool has(size_t index) const { return hits.test(index); }
};

Evidence gather(std::string_view text) {
  Evidence e;
  e.hits = matcher().scan(text);
  for (size_t i = 0; i < std::size(kTokens); ++i)
    if (e.hits.test(i) && kTokens[i].group >= 0) ++e.count[kTokens[i].group];
  return e;
}

std::string_view first_line(std::string_view s) {
  size_t nl = s.find('\n');
  std::string_view line = s.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// "#!" shebang (execve(2)): the interpreter path names the MIME type.
TypeInfo shebang_type(std::string_view text) {
  std::string_view line = first_line(text).substr(2);
  while (!line.empty() && (line[0] == ' ' || line[0] == '\t')) line.remove_prefix(1);
  std::string_view prog = line.substr(0, line.find_first_of(" \t"));
  prog = prog.substr(prog.rfind('/') == std::string_view::npos ? 0 : prog.rfind('/') + 1);
  if (prog == "env") {
    std::string_view rest = line.substr(std::min(line.size(), line.find_first_of(" \t")));
    while (!rest.empty() && (rest[0] == ' ' || rest[0] == '\t')) rest.remove_prefix(1);
    if (rest.starts_with("-S ")) rest.remove_prefix(3);
    prog = rest.substr(0, rest.find_first_of(" \t"));
  }
  if (prog == "sh" || prog == "bash" || prog == "dash" || prog == "zsh" || prog == "ksh" ||
      prog == "ash" || prog == "busybox")
    return make_type("script", "text/x-shellscript");
  if (prog.starts_with("python")) return make_type("script", "text/x-script.python");
  if (prog.starts_with("perl")) return make_type("script", "text/x-perl");
  if (prog.starts_with("ruby")) return make_type("script", "text/x-ruby");
  if (prog == "node" || prog == "nodejs") return make_type("script", "text/javascript");
  if (prog.starts_with("pwsh")) return make_type("script", "text/x-powershell");
  return make_type("script", "text/x-script");
}

// Windows Script Encoder output (screnc.exe): "#@~^" + 6 base64 chars + "==".
bool has_script_encoder_marker(std::string_view s) {
  for (size_t at = s.find("#@~^"); at != std::string_view::npos; at = s.find("#@~^", at + 1)) {
    if (at + 12 > s.size()) return false;
    std::string_view len = s.substr(at + 4, 6);
    bool b64 = std::all_of(len.begin(), len.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '+' || c == '/';
    });
    if (b64 && s.substr(at + 10, 2) == "==") return true;
  }
  return false;
}

// cmd.exe batch: the first command line (after blank lines and REM / ::
// comments) is one batch files almost always start with; or several
// batch-only idioms.
bool is_batch(std::string_view text, const Evidence& e) {
  std::string_view rest = text;
  for (int i = 0; i < 50 && !rest.empty(); ++i) {
    std::string_view line = first_line(rest);
    rest.remove_prefix(std::min(rest.size(), line.size() + 1));
    while (!line.empty() && (line[0] == ' ' || line[0] == '\t' || line[0] == '\r'))
      line.remove_prefix(1);
    if (line.empty()) continue;
    if (istarts_with(line, "rem ") || iequals(line, "rem") || line.starts_with("::") ||
        istarts_with(line, "@rem "))
      continue;
    for (std::string_view start :
         {"@echo off", "@echo on", "echo off", "@setlocal", "setlocal enable", "@cls"})
      if (istarts_with(line, start)) return true;
    break;
  }
  return e.count[kBatchTok] >= 3;
}

bool is_powershell(std::string_view text, const Evidence& e) {
  int hits = e.count[kPsTok];
  std::string_view start = text;
  while (!start.empty() &&
         (start[0] == ' ' || start[0] == '\t' || start[0] == '\r' || start[0] == '\n'))
    start.remove_prefix(1);
  bool strong_start = istarts_with(start, "#requires -") ||
                      istarts_with(start, "[cmdletbinding(") || istarts_with(start, "param(") ||
                      istarts_with(start, "param (") ||
                      (start.starts_with("<#") && e.has(tok(".synopsis")));
  return hits >= 3 || (strong_start && hits >= 1);
}

// VBA modules exported from documents are not runnable .vbs files.
bool is_vbscript(const Evidence& e) {
  if (e.has(tok("attribute vb_name"))) return false;
  int vb_only = e.count[kVbOnlyTok], wsh = e.count[kVbWshTok];
  return vb_only >= 1 && vb_only + wsh >= 3 && (wsh >= 1 || vb_only >= 3);
}

bool is_javascript(const Evidence& e) {
  if (e.has(tok("<?php")) || e.has(tok("#include")) || e.has(tok("public class ")) ||
      e.has(tok("import java")))
    return false;
  // "new ActiveXObject(" exists only in JScript (VBScript says CreateObject).
  if (e.has(tok("new activexobject("))) return true;
  int wsh = e.count[kJsWshTok] + (e.has(tok("wscript.")) ? 1 : 0);
  int js_only = e.count[kJsOnlyTok], decl = e.count[kJsDeclTok];
  return (wsh >= 1 && decl >= 1 && js_only + decl >= 2) || (decl >= 1 && js_only >= 3);
}

}  // namespace

std::optional<TypeInfo> detect_script(std::string_view text) {
  text = text.substr(0, kScriptSample);
  if (text.starts_with("#!")) {
    std::string_view after = text.substr(2);
    while (!after.empty() && after[0] == ' ') after.remove_prefix(1);
    if (after.starts_with("/")) return shebang_type(text);
  }
  if (has_script_encoder_marker(text)) return make_type("vbe", "text/vbscript.encode");
  const Evidence e = gather(text);
  if (is_batch(text, e)) return make_type("bat", "text/x-msdos-batch");
  if (is_powershell(text, e)) return make_type("ps1", "text/x-powershell");
  if (is_vbscript(e)) return make_type("vbs", "text/vbscript");
  if (is_javascript(e)) return make_type("js", "text/javascript");
  return std::nullopt;
}

}  // namespace sandgate::type_detail
