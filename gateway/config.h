// The service configuration of `sandgate serve` (YAML, `--config FILE`): listen
// addresses, TLS, bearer tokens, limits, the policy path and the data
// directory. Embedded defaults apply for every key left out; the command-line
// flags override the file.
//
// Guarantees: load_service_config never throws; every problem is reported as
// "FILE:LINE:COL: message" (1-based) and unknown keys are errors, like the
// policy language. A config with any error is not returned.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sandgate {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const;
};

// "HOST:PORT", "[v6]:PORT"; port 0 is allowed (pick a free one).
std::optional<HostPort> parse_host_port(const std::string& text, std::string* error);

struct ApiToken {
  std::string id;                      // for logs and metrics; never the token
  std::array<unsigned char, 32> sha256{};  // of the token's bytes
  std::vector<std::string> profiles;   // allowed profiles; "*" allows all
  bool admin = false;                  // may use /v1/quarantine (administration)
};

struct HttpConfig {
  HostPort listen{"127.0.0.1", 8025};
  std::string tls_cert;  // PEM paths; both set: HTTPS only (TLS 1.2+)
  std::string tls_key;
  bool allow_loopback_without_token = true;
  std::vector<ApiToken> tokens;
  uint64_t max_body_bytes = 64ull << 20;  // per request (all multipart parts together)
  int max_parts = 32;                     // files in one multipart body
  int max_in_flight = 64;                 // /v1/scan requests admitted at once; more: 503
  int scan_workers = 0;                   // scans running at once; 0: number of cores
  int threads = 0;                        // HTTP threads; 0: max_in_flight + 8
  int queued_connections = 64;            // accepted connections waiting for a thread
  double idle_timeout_s = 15;             // one socket read, and keep-alive idle
  double body_timeout_s = 120;            // whole request body
  int retry_after_s = 1;                  // Retry-After on 503
};

struct SmtpConfig {
  HostPort listen{"127.0.0.1", 10025};
  HostPort next_hop{"127.0.0.1", 10026};
  std::string hostname = "sandgate";  // greeting, EHLO reply, HELO to the next hop
  std::string tls_cert;               // PEM paths; both set: STARTTLS is offered (TLS 1.2+)
  std::string tls_key;
  std::string profile;                // policy profile for mail; empty: "mail"
  bool verdict_header = true;         // X-Sandgate-Verdict on relayed mail
  bool report_header = true;          // X-Sandgate-Report on relayed mail
  std::string tag_subject_prefix = "[SUSPICIOUS] ";
  uint64_t max_message_bytes = 50ull << 20;  // announced in SIZE
  int max_recipients = 1000;
  int max_connections = 100;          // beyond: 421
  double command_timeout_s = 300;
  double data_timeout_s = 180;
  double next_hop_timeout_s = 300;    // per command to the next hop (end of data included)
  bool reject_bare_newlines = false;  // else normalised to CRLF
  bool xforward = true;               // accept Postfix's XFORWARD
  bool notify_recipients = false;     // notices of held mail to its recipients
  std::string notify_admin;           // and/or to this address
  std::string notice_from = "MAILER-DAEMON";
};

// Where held mail and uploads go (see gateway/quarantine/store.h).
struct QuarantineConfig {
  std::string backend = "directory";  // "directory" (one node) or "postgresql" (shared)
  std::string dir;                    // directory backend; empty: DATA_DIR/quarantine
  std::string postgresql;             // libpq connection string for the postgresql backend
  int64_t retention_s = 30 * 86400;   // items older than this are purged; 0: kept for ever
  int64_t retention_interval_s = 3600;  // how often `sandgate serve` purges
};

// Scan worker processes (gateway/isolation, docs/isolation.md).
struct IsolationConfig {
  bool enabled = true;                  // false: scans run inside the front process
  int workers = 0;                      // 0: number of cores + 1
  uint64_t memory_bytes = 1ull << 30;   // address space of each worker (RLIMIT_AS)
  int jobs_per_worker = 1000;           // then the worker is replaced
  std::string user = "nobody";          // workers drop to it when serve runs as root
};

struct ServiceConfig {
  std::string source;  // the config file, or "(embedded defaults)"
  std::string policy_path = "policies/default.yaml";
  std::string data_dir = "var";
  HttpConfig http;
  SmtpConfig smtp;
  QuarantineConfig quarantine;
  IsolationConfig isolation;
};

// "30d", "12h", "90m", "45s" or a plain number of seconds; "0" is allowed
// (callers say what zero means). nullopt with *error for anything else.
std::optional<int64_t> parse_duration_seconds(const std::string& text, std::string* error);

struct ConfigResult {
  std::optional<ServiceConfig> config;  // set only when errors is empty
  std::vector<std::string> errors;      // "FILE:LINE:COL: message"
};

// Loads a config file over the embedded defaults. Relative paths inside it
// (policy, data_dir, tls cert/key) resolve against the file's directory.
ConfigResult load_service_config(const std::string& path);
// Same from text (tests); `display_path` names it, `base_dir` resolves paths.
ConfigResult parse_service_config(const std::string& text, const std::string& display_path,
                                  const std::string& base_dir);

// Lower-case hex SHA-256 of a token, as written in the config ("sha256:HEX").
std::string token_sha256_hex(const std::string& token);

}  // namespace sandgate
