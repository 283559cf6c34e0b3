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

struct AuditRecord {
  int64_t seq = 0;
  int64_t time_unix_ms = 0;
  std::string item_id;
  std::string actor;
  std::string action;  // "held", "released", "deleted", "purged"
  std::string from_state, to_state;
};

const char* quarantine_state_name(QuarantineState state);
std::optional<QuarantineState> parse_quarantine_state(const std::string& name);

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

  // Removes items created before `cutoff_unix_ms` (any state) and their
  // content; each gets a "purged" audit record. Returns how many, or nullopt.
  std::optional<size_t> purge(int64_t cutoff_unix_ms, const std::string& actor, std::string* error);
  // Audit records of one item (all items if id is empty), oldest first.
  std::vector<AuditRecord> audit(const std::string& id, std::string* error);

  const std::string& dir() const;

 private:
  struct Impl;
  explicit DirectoryStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The factory the intake calls (the store's row in the backend table).
std::unique_ptr<QuarantineStore> open_directory_store(const std::string& dir, std::string* error);

// An item as a JSON object (id, metadata, state; report parsed as "report"
// when it is valid JSON). Used by `sandgate quarantine list --json` and show.
std::string quarantine_item_to_json(const QuarantineItem& item, bool with_report);
std::string audit_record_to_json(const AuditRecord& record);

}  // namespace sandgate
