// The shared quarantine backend: items, their content and the audit trail in
// one PostgreSQL database (libpq), so every gateway node sees, and may
// release, what any node held.
//
// Tables (created on first open, see docs/quarantine.md):
//   sandgate_quarantine_items    one row per item: metadata, state, who/when
//   sandgate_quarantine_content  the raw message or upload (bytea), per item
//   sandgate_quarantine_audit    append-only; a trigger refuses UPDATE,
//                                DELETE and TRUNCATE
//
// Guarantees: put() returns an id only after COMMIT succeeded; every failure
// (server down, connection lost, constraint, ...) is nullopt / false with
// *error set, never an exception. A broken connection is dropped and a new one
// made on the next call; a call whose very first statement finds the old
// connection dead reconnects and retries once (nothing was done yet), so a
// server restart between calls costs no failure. Thread-safe: a small pool of
// connections, each used by one call at a time. Several processes and nodes
// may share the database (row locks; schema creation under an advisory lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/quarantine/store.h"

namespace sandgate {

struct PostgresStoreOptions {
  std::string conninfo;  // libpq connection string ("host=/run/postgresql dbname=sandgate")
  // Where content_path() writes its private copies (a fresh 0700 directory is
  // made inside, removed with the store). Empty: $TMPDIR or /tmp.
  std::string scratch_parent;
  // The content is read into memory for the INSERT: intake bodies are bounded
  // (HTTP max_body_bytes, 64 MiB by default; SMTP 50 MiB), so this is fine for
  // now. Larger content is refused (put() fails) rather than exhausting memory.
  uint64_t max_content_bytes = 256ull << 20;
  size_t max_connections = 4;  // callers beyond this wait for a free connection
  int connect_timeout_s = 10;  // default unless the connection string sets one
};

class PostgresStore : public QuarantineStore {
 public:
  // Connects and creates the schema if needed. nullptr with *error set when
  // the server cannot be reached or the schema cannot be created.
  static std::unique_ptr<PostgresStore> open(const PostgresStoreOptions& options,
                                             std::string* error);
  ~PostgresStore() override;

  std::optional<std::string> put(const std::string& content_path, QuarantineItem item,
                                 std::string* error) override;
  std::optional<QuarantineItem> get(const std::string& id, std::string* error) override;
  std::vector<QuarantineItem> list(const QuarantineFilter& filter, std::string* error) override;
  std::optional<std::string> content_path(const std::string& id, std::string* error) override;
  bool set_state(const std::string& id, QuarantineState state, const std::string& actor,
                 std::string* error) override;
  std::optional<size_t> purge(int64_t cutoff_unix_ms, const std::string& actor,
                              std::string* error) override;
  std::vector<AuditRecord> audit(const std::string& id, std::string* error) override;

 private:
  struct Impl;
  explicit PostgresStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sandgate
