// The `sandgate` command line (contract in ARCHITECTURE.md).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace sandgate {

// Runs `sandgate ARGS...` (args excludes the program name). Returns the exit code.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace sandgate
