// Script heuristics shared by the script, HTML and LNK analyzers: idioms that
// download and run code, encoded commands, and the Windows programs attackers
// launch from shortcuts and scripts (LOLBins). Case-insensitive, over a
// lowercased copy of the text; bounded by the text given (callers cap it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "unpack/ascii.h"  // ascii_lower, used with find_word

namespace sandgate {

// Finds token in lowered text where it starts at an identifier boundary
// (the character before is not a letter, digit or '_'). npos if absent.
size_t find_word(std::string_view lowered, std::string_view token, size_t from = 0);

struct ScriptIdioms {
  std::vector<std::string> download;  // tokens that fetch from the network
  std::vector<std::string> execute;   // tokens that run code or programs
  std::vector<std::string> encoded;   // encoded-command idioms, with evidence
  std::string decoded_command;        // a decoded -EncodedCommand, if any (capped)
};

// Scans lowered script text (any of PowerShell, VBScript, JScript, batch).
ScriptIdioms scan_script_idioms(std::string_view lowered, std::string_view original);

// Looks for a PowerShell -EncodedCommand (any accepted abbreviation: -e, -ec,
// -en, -enc, ... -encodedcommand, also with '/') followed by base64; returns
// true and the decoded UTF-16LE command (capped) when found.
bool find_encoded_command(std::string_view lowered, std::string_view original,
                          std::string* evidence, std::string* decoded);

// The LOLBin a path or command names ("powershell", "mshta", ...), or "".
// Matches the file name of a path, with or without ".exe".
std::string lolbin_name(std::string_view path_or_command);
// Every LOLBin named anywhere in lowered text (as a word), at most a few.
std::vector<std::string> lolbins_in(std::string_view lowered);

}  // namespace sandgate
