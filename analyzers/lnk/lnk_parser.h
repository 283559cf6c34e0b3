// Windows shortcut (.lnk) parser per [MS-SHLLINK]: header (2.1), target ID
// list (2.2), LinkInfo (2.3), StringData (2.4) and the environment-variable
// extra data block (2.5.4). Every size and offset is checked against the
// bytes; strings are capped. Hostile input yields `error`, never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sandgate {

struct LnkInfo {
  uint32_t flags = 0;
  std::string target;         // best target path: LinkInfo, env block, or ID list
  std::string target_source;  // "linkinfo", "environment", "idlist"
  std::string name, relative_path, working_dir, arguments, icon_location;
  std::string env_target;     // EnvironmentVariableDataBlock target
  std::string idlist_path;    // names from the shell item ID list, joined
  std::string error;          // first structural problem, "" when none
};

// Parses bytes (the whole file, or its first few MiB).
LnkInfo parse_lnk(std::string_view bytes);

}  // namespace sandgate
