// `sandgate policy check|explain`, and loading a policy file for `sandgate scan`.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "policies/policy.h"

namespace sandgate {

// `sandgate policy check FILE...` and `sandgate policy explain --policy FILE --profile NAME INPUT`;
// args are the words after "policy". Returns the process exit code (0 valid/ok, 1 invalid, 2 usage or I/O error).
int run_policy_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Loads and compiles a policy file for `sandgate scan --policy FILE`; on errors prints every one as FILE:LINE:COL: message to err and returns null.
std::shared_ptr<const Policy> load_policy_for_cli(const std::string& path, std::ostream& err);

}  // namespace sandgate
