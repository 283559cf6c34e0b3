// Re-injects a released message to the next hop over SMTP (RFC 5321), with an
// X-Sandgate-Released header prepended. A small client of our own: every reply
// line is bounded (RFC 5321 4.5.3.1.5: 512 octets; we accept up to 4 KiB) and
// so is the number of lines in a reply; every socket operation has a timeout.
//
// Guarantees: returns true only when the next hop answered 250 to the end of
// DATA (it then owns the message); otherwise false with *error set. Addresses
// containing CR, LF, '<' or '>' are refused (no command injection).
#pragma once

#include <string>
#include <vector>

#include "gateway/config.h"

namespace sandgate {

struct ReinjectRequest {
  HostPort next_hop;
  std::string helo_name = "sandgate.localhost";
  std::string sender;                   // reverse-path; may be empty (null sender)
  std::vector<std::string> recipients;  // at least one
  std::string message_path;             // the raw message as stored
  std::string released_header_value;    // value of X-Sandgate-Released
  double timeout_s = 30;
};

bool smtp_reinject(const ReinjectRequest& request, std::string* error);

}  // namespace sandgate
