// VBA source heuristics; see vba_heuristics.h. Keyword lists follow olevba's
// AUTOEXEC_KEYWORDS and SUSPICIOUS_KEYWORDS (the common, high-signal part).
#include "analyzers/office/vba_heuristics.h"

#include <array>
#include <string>

namespace sandgate::office {
namespace {

struct Keyword {
  std::string_view lower;  // compared against lowercased identifiers
  std::string_view shown;  // as evidence
};

// Procedures Word, Excel and PowerPoint call on their own (open, close, new).
constexpr std::array<Keyword, 24> kAutoExec = {{
    {"autoexec", "AutoExec"},
    {"autoopen", "AutoOpen"},
    {"autoclose", "AutoClose"},
    {"autoexit", "AutoExit"},
    {"autonew", "AutoNew"},
    {"auto_open", "Auto_Open"},
    {"auto_close", "Auto_Close"},
    {"auto_activate", "Auto_Activate"},
    {"document_open", "Document_Open"},
    {"document_close", "Document_Close"},
    {"document_new", "Document_New"},
    {"document_beforeclose", "Document_BeforeClose"},
    {"document_contentcontrolonenter", "Document_ContentControlOnEnter"},
    {"documentopen", "DocumentOpen"},
    {"documentbeforeclose", "DocumentBeforeClose"},
    {"newdocument", "NewDocument"},
    {"workbook_open", "Workbook_Open"},
    {"workbook_activate", "Workbook_Activate"},
    {"workbook_close", "Workbook_Close"},
    {"workbook_beforeclose", "Workbook_BeforeClose"},
    {"workbook_deactivate", "Workbook_Deactivate"},
    {"app_documentopen", "App_DocumentOpen"},
    {"app_workbookopen", "App_WorkbookOpen"},
    {"presentation_open", "Presentation_Open"},
}};

// ActiveX control events that fire without a click when the document renders
// ("Sub InkPicture1_Painted", "Sub Frame1_Layout"): flagged only as the name
// of a Sub.
constexpr std::array<std::string_view, 10> kAutoEventSuffixes = {
    "_layout",   "_painted",    "_resize",           "_gotfocus",          "_lostfocus",
    "_mousehover", "_mouseenter", "_documentcomplete", "_navigatecomplete2", "_beforenavigate2",
};

// Identifiers that write, run, download or hide.
constexpr std::array<Keyword, 27> kSuspicious = {{
    {"shell", "Shell"},
    {"shellexecute", "ShellExecute"},
    {"shellexecutea", "ShellExecute"},
    {"createobject", "CreateObject"},
    {"getobject", "GetObject"},
    {"urldownloadtofile", "URLDownloadToFile"},
    {"urldownloadtofilea", "URLDownloadToFile"},
    {"environ", "Environ"},
    {"callbyname", "CallByName"},
    {"executeexcel4macro", "ExecuteExcel4Macro"},
    {"strreverse", "StrReverse"},
    {"virtualalloc", "VirtualAlloc"},
    {"virtualallocex", "VirtualAlloc"},
    {"rtlmovememory", "RtlMoveMemory"},
    {"createthread", "CreateThread"},
    {"createremotethread", "CreateRemoteThread"},
    {"writeprocessmemory", "WriteProcessMemory"},
    {"enumsystemlocalesa", "EnumSystemLocalesA (shellcode runner)"},
    {"savetofile", "SaveToFile"},
    {"responsebody", "ResponseBody"},
    {"macscript", "MacScript"},
    {"kill", "Kill"},
    {"declare", "Declare (calls a DLL)"},
    {"vbhide", "vbHide"},
    {"showwindow", "ShowWindow"},
    {"savetofilea", "SaveToFile"},
    {"wscript", "WScript"},
}};

// Object names and command lines usually found inside strings.
constexpr std::array<Keyword, 15> kSuspiciousText = {{
    {"powershell", "PowerShell"},
    {"mshta", "mshta"},
    {"certutil", "certutil"},
    {"wscript.shell", "WScript.Shell"},
    {"shell.application", "Shell.Application"},
    {"adodb.stream", "ADODB.Stream"},
    {"msxml2.xmlhttp", "MSXML2.XMLHTTP"},
    {"microsoft.xmlhttp", "Microsoft.XMLHTTP"},
    {"winhttp.winhttprequest", "WinHttp.WinHttpRequest"},
    {"scripting.filesystemobject", "Scripting.FileSystemObject"},
    {"cmd.exe", "cmd.exe"},
    {"cmd /c", "cmd /c"},
    {"regsvr32", "regsvr32"},
    {"rundll32", "rundll32"},
    {"bitsadmin", "bitsadmin"},
}};

constexpr size_t kChrChainMin = 30;  // this many Chr() calls: strings built to hide
constexpr size_t kBase64Min = 100;   // a string literal this long of base64 alphabet

bool ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

bool base64_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '=';
}

}  // namespace

void scan_vba_source(std::string_view source, VbaIndicators* out) {
  std::string lower(source);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);

  size_t chr_calls = 0;
  std::string_view prev;  // previous identifier, for "Sub <name>"
  for (size_t i = 0; i < lower.size();) {
    char c = lower[i];
    if (c == '"') {
      // A string literal: look for long base64 runs inside it.
      size_t end = i + 1;
      while (end < lower.size() && source[end] != '"' && source[end] != '\n') ++end;
      size_t run = 0;
      for (size_t k = i + 1; k < end; ++k) {
        run = base64_char(source[k]) ? run + 1 : 0;
        if (run >= kBase64Min) {
          out->suspicious.insert("long base64 string");
          break;
        }
      }
      i = end + 1;
      continue;
    }
    if (c == '\'') {  // comment to end of line
      while (i < lower.size() && lower[i] != '\n') ++i;
      continue;
    }
    if (!(c >= 'a' && c <= 'z')) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < lower.size() && ident_char(lower[i])) ++i;
    std::string_view word(lower.data() + start, i - start);
    for (const Keyword& k : kAutoExec)
      if (word == k.lower) out->autoexec.insert(std::string(k.shown));
    if (prev == "sub")
      for (std::string_view suffix : kAutoEventSuffixes)
        if (word.size() > suffix.size() && word.ends_with(suffix))
          out->autoexec.insert(std::string(source.substr(start, i - start)));
    for (const Keyword& k : kSuspicious)
      if (word == k.lower) out->suspicious.insert(std::string(k.shown));
    if (word == "chr" || word == "chrw" || word == "chrb") ++chr_calls;
    prev = word;
  }
  for (const Keyword& k : kSuspiciousText)
    if (lower.find(k.lower) != std::string::npos) out->suspicious.insert(std::string(k.shown));
  if (lower.find("for binary") != std::string::npos || lower.find("for output") != std::string::npos)
    out->suspicious.insert("writes a file (Open ... For Binary/Output)");
  if (chr_calls >= kChrChainMin)
    out->suspicious.insert("Chr() chain (" + std::to_string(chr_calls) + " calls)");
}

}  // namespace sandgate::office
