// QuarantineStore: where held mail and uploads go. The intake acknowledges a
// held message (SMTP 250, HTTP 200) only after put() returned success: put()
// is durable (file and directory fsync'd, or committed in the database) when it
// returns an id. Backends are rows behind this one interface (a directory with
// an SQLite index by default; PostgreSQL for several nodes).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sandgate {

enum class QuarantineState { held, released, deleted };

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
  virtual std::vector<QuarantineItem> list(const QuarantineFilter& filter, std::string* error) = 0;
  // Path of a readable copy of the stored content (for release/export), or nullopt.
  virtual std::optional<std::string> content_path(const std::string& id, std::string* error) = 0;
  // Changes the state and writes an audit record naming actor and time.
  virtual bool set_state(const std::string& id, QuarantineState state, const std::string& actor,
                         std::string* error) = 0;
};

}  // namespace sandgate
