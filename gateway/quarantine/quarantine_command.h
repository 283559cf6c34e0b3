// `sandgate quarantine list|show|release|delete|export|purge`: administration
// of the store the configuration names (open_quarantine_store: the directory
// store, DATA_DIR/quarantine by default, or the shared PostgreSQL database).
// Takes the same --config, --data-dir and --next-hop as `sandgate serve`.
//
// Exit codes: 0 done; 1 the operation failed (unknown id, wrong state, next hop
// refused, store error); 2 usage error. Text output never echoes control
// characters from stored (hostile) metadata.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace sandgate {

// `args` are the words after "quarantine".
int run_quarantine_command(const std::vector<std::string>& args, std::ostream& out,
                           std::ostream& err);

}  // namespace sandgate
