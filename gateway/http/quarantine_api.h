// The quarantine administration API under /v1/quarantine (issue 10), kept
// apart from the HTTP plumbing so that it can be tested without a server:
// the handler authenticates (admin tokens only) and passes method, path and
// query here; this answers with a status and a JSON body, or a file to stream.
//
//   GET    /v1/quarantine                 items, newest first; filters: since,
//                                         until (Unix ms), sender, recipient,
//                                         reason, state, limit (default 100)
//   GET    /v1/quarantine/ID              one item with its report and audit trail
//   GET    /v1/quarantine/ID/content      the raw item (for analysis), as a download
//   POST   /v1/quarantine/ID/release      mail: re-inject to the next hop (?to= one
//                                         recipient instead of the original ones),
//                                         then mark released; uploads: mark released
//   DELETE /v1/quarantine/ID              mark deleted (content removed)
//   POST   /v1/quarantine/purge?older_than=30d
//
// Guarantees: a release marks the item released only after the next hop
// accepted the message (a refusal leaves it held and answers 502); every
// state change goes through the store, which writes the audit record naming
// `actor` (the admin token's id). Store failures answer 503 (try again), never
// a success. No method throws.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "gateway/config.h"

namespace sandgate {

class QuarantineStore;

struct QuarantineApiAnswer {
  int status = 200;
  std::string body;          // JSON, unless file_path is set
  std::string file_path;     // stream this file as application/octet-stream
  std::string download_name; // for Content-Disposition with file_path
  std::string allow;         // for 405: the methods allowed
};

// `path` starts with /v1/quarantine. `query` as decoded name/value pairs.
QuarantineApiAnswer quarantine_api(QuarantineStore* store, const HostPort& next_hop, const std::string& method,
                                   const std::string& path,
                                   const std::vector<std::pair<std::string, std::string>>& query,
                                   const std::string& actor);

}  // namespace sandgate
