// The embedded quarantine backend: a directory of content-addressed items with
// an SQLite index (Poco Data SQLite) and an append-only audit log.
//
// Layout under DIR:
//   objects/HH/SHA256   the raw message or upload, named by its SHA-256
//   tmp/                half-written content; never listed, removed on failure
//   index.sqlite        items and audit tables (WAL mode, synchronous=FULL)
//   audit.jsonl         one JSON object per state change, appended and fsync'd
//
// Guarantees: put() returns an id only after the content file, its directory
// and the index row are durable; on any failure it returns nullopt with
// *error set and nothing half-written is listed. Audit records are never
// rewritten: the log is opened O_APPEND only, and the audit table refuses
// UPDATE and DELETE (triggers). Thread-safe: one store object may be shared by
// many intake threads; several processes may open the same directory (SQLite
// locking with a busy timeout). No method throws.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/quarantine/store.h"

namespace sandgate {

class DirectoryStore : public QuarantineStore {
 public:
  // Opens (creating if needed) the store in `dir`. nullopt-like: nullptr with
  // *error set when the directory or index cannot be created or opened.
  static std::unique_ptr<DirectoryStore> open(const std::string& dir, std::string* error);
  ~DirectoryStore() override;

  std::optional<std::string> put(const std::string& content_path, QuarantineItem item,
                                 std::string* error) override;
  std::optional<QuarantineItem> get(const std::string& id, std::string* error) override;
  std::vector<QuarantineItem> list(const QuarantineFilter& filter, std::string* error) override;
  std::optional<std::string> content_path(const std::string& id, std::string* error) override;
  // Allowed: held -> released, held -> deleted, released -> deleted. Deleting
  // removes the content file once no other live item shares it.
  bool set_state(const std::string& id, QuarantineState state, const std::string& actor,
                 std::string* error) override;

  std::optional<size_t> purge(int64_t cutoff_unix_ms, const std::string& actor,
                              std::string* error) override;
  std::vector<AuditRecord> audit(const std::string& id, std::string* error) override;

  const std::string& dir() const;

 private:
  struct Impl;
  explicit DirectoryStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The factory the intake calls (the store's row in the backend table).
std::unique_ptr<QuarantineStore> open_directory_store(const std::string& dir, std::string* error);

}  // namespace sandgate
