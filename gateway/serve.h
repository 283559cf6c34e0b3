// `sandgate serve`: loads the service config (or the embedded defaults),
// applies the command-line overrides, loads the policy with hot reload and
// runs the HTTP and SMTP intake (gateway/smtp: content filter relaying to the
// next hop, held mail in the quarantine directory store) until SIGTERM/SIGINT
// (graceful: stop accepting, finish admitted requests and SMTP transactions
// in progress, exit 0). SIGHUP reloads the policy.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "gateway/config.h"

namespace sandgate {

// args: the words after "serve". Returns the exit code (0 after a graceful
// stop, 2 on usage/config/startup errors).
int run_serve(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Builds the effective config from args (--config FILE, then the flag
// overrides); false with the messages in err on any error.
bool build_serve_config(const std::vector<std::string>& args, ServiceConfig& config, std::ostream& err);

}  // namespace sandgate
