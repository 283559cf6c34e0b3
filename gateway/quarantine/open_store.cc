// Backend selection for the quarantine store (see open_store.h).
#include "gateway/quarantine/open_store.h"

#include "gateway/quarantine/directory_store.h"
#include "gateway/quarantine/postgres_store.h"

namespace sandgate {

std::unique_ptr<QuarantineStore> open_quarantine_store(const QuarantineConfig& q,
                                                       const std::string& data_dir,
                                                       std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  const std::string base = data_dir.empty() ? std::string("var") : data_dir;
  if (q.backend.empty() || q.backend == "directory")
    return DirectoryStore::open(q.dir.empty() ? base + "/quarantine" : q.dir, error);
  if (q.backend == "postgresql") {
    if (q.postgresql.empty()) {
      *error = "quarantine backend postgresql needs a connection string (quarantine.postgresql)";
      return nullptr;
    }
    PostgresStoreOptions o;
    o.conninfo = q.postgresql;
    // Copies for release/export are written under the data directory, which
    // the operator already protects, not in a world-readable /tmp.
    o.scratch_parent = base;
    return PostgresStore::open(o, error);
  }
  *error = "unknown quarantine backend '" + q.backend + "' (directory or postgresql)";
  return nullptr;
}

}  // namespace sandgate
