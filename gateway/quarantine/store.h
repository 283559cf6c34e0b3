// QuarantineStore: where held mail and uploads go. The intake acknowledges a
// held message (SMTP 250, HTTP 200) only after put() returned success: put()
// is durable (file and directory fsync'd, or committed in the database) when it
// returns an id. Backends are rows behind this one interface (a directory with
// an SQLite index by default; PostgreSQL for several nodes). Pick one with
// open_quarantine_store() (gateway/quarantine/open_store.h).
//
// Every method is safe to call from many threads at once, and never throws:
// failures are nullopt / false / an empty result with *error set (error may
// be null when the caller does not want the text).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sandgate {

enum class QuarantineState { held, released, deleted };

// "held" | "released" | "deleted", and back (nullopt for anything else).
const char* quarantine_state_name(QuarantineState state);
std::optional<QuarantineState> parse_quarantine_state(const std::string& name);

// Why a store call failed, for callers that answer differently (HTTP 404,
// 410, 409 or 503). Stores write the first three with the builders below, and
// classify_store_error() recognises exactly those forms: any other text (a
// database or disk error, whatever words it happens to use) is `unavailable`.
enum class StoreFailure { unavailable, no_item, deleted, conflict };
std::string store_error_no_item(const std::string& id);   // no such id
std::string store_error_deleted(const std::string& id);   // its content is gone
std::string store_error_transition(const std::string& id, const std::string& from,
                                   const std::string& to);  // a state change not allowed
StoreFailure classify_store_error(const std::string& error);

// One state change. Backends keep these append-only: no tool, and no SQL
// client of the backend's database, can edit or remove one.
struct AuditRecord {
  int64_t seq = 0;  // increasing; one item's records are in the order they happened
  int64_t time_unix_ms = 0;
  std::string item_id;
  std::string actor;
  std::string action;  // "held", "released", "deleted", "purged"
  std::string from_state, to_state;
};

struct QuarantineItem {
  std::string id;               // assigned by put()
  int64_t created_unix_ms = 0;  // assigned by put()
  std::string channel;          // "mail" | "upload"
  std::string profile;
  std::string policy_sha256;
  std::string sender;
  std::vector<std::string> recipients;
  std::string client_address;
  std::string subject;                  // mail only
  std::vector<std::string> file_names;  // attachment / upload names
  uint64_t size = 0;                    // bytes of the original content
  std::string verdict;                  // "quarantine"
  std::string action;                   // e.g. "quarantine", "reject"
  std::vector<std::string> reasons;     // "rule object finding", one per reason
  std::string report_json;              // the full report
  QuarantineState state = QuarantineState::held;
};

struct QuarantineFilter {
  std::optional<int64_t> since_unix_ms, until_unix_ms;
  std::string sender, recipient, reason;  // substring matches; empty: any
  std::optional<QuarantineState> state;
};

class QuarantineStore {
 public:
  virtual ~QuarantineStore() = default;
  // Stores the content (read from content_path, which the caller keeps) and
  // the metadata durably. Returns the new id, or nullopt with *error set (disk
  // full, database down, ...): the intake must then tempfail, never acknowledge.
  virtual std::optional<std::string> put(const std::string& content_path, QuarantineItem item,
                                         std::string* error) = 0;
  virtual std::optional<QuarantineItem> get(const std::string& id, std::string* error) = 0;
  // Oldest first. On failure: empty with *error set (*error cleared on success).
  virtual std::vector<QuarantineItem> list(const QuarantineFilter& filter, std::string* error) = 0;
  // Path of a readable copy of the stored content (for release/export), or
  // nullopt. The file stays readable at least until the next content_path()
  // call for the same id or the store object is destroyed (a backend that
  // keeps content in a database writes a private temporary copy).
  virtual std::optional<std::string> content_path(const std::string& id, std::string* error) = 0;
  // Changes the state and writes an audit record naming actor and time.
  // Allowed: held -> released, held -> deleted, released -> deleted; anything
  // else (or an unknown id) is false with *error. Deleting drops the content.
  virtual bool set_state(const std::string& id, QuarantineState state, const std::string& actor,
                         std::string* error) = 0;
  // Removes items created before `cutoff_unix_ms` (any state) and their
  // content; each gets a "purged" audit record. Returns how many, or nullopt.
  virtual std::optional<size_t> purge(int64_t cutoff_unix_ms, const std::string& actor,
                                      std::string* error) = 0;
  // Audit records of one item (all items if id is empty), oldest first. On
  // failure: empty with *error set (*error is cleared on success).
  virtual std::vector<AuditRecord> audit(const std::string& id, std::string* error) = 0;
};

// Ids are 32 lower-case hex digits (128 random bits) in every backend, so the
// command line and the HTTP API can validate them before any lookup.
bool is_quarantine_id(const std::string& id);

// An item as a JSON object (id, metadata, state; report parsed as "report"
// when it is valid JSON). Used by `sandgate quarantine list --json` and show.
std::string quarantine_item_to_json(const QuarantineItem& item, bool with_report);
std::string audit_record_to_json(const AuditRecord& record);

}  // namespace sandgate
