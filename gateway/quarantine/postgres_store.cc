// PostgresStore: the quarantine in PostgreSQL through Poco Data PostgreSQL
// (which wraps libpq). See postgres_store.h for the tables and guarantees.
//
// Why Poco Data rather than raw libpq: it is the database layer the rest of
// the gateway already links (SQLite index), and its 1.11 bytea round trip was
// checked (all 256 byte values, 20 MiB) before choosing it. Its quirks, and
// what this file does about them:
//   - a Session keeps reporting isConnected() after the server went away, so
//     any exception discards the connection; the pool makes a new one;
//   - text parameters go to libpq as C strings (a NUL truncates them) and the
//     server rejects invalid UTF-8: every text column is passed through
//     pg_text(), which replaces NUL and invalid sequences with U+FFFD (the raw
//     content itself is bytea and stored exactly);
//   - libpq prints server notices to stderr: client_min_messages=error.
//
// Transactions: put() is BEGIN; INSERT item, content, audit; COMMIT, and the
// id is returned only after COMMIT returned. set_state() locks the row
// (SELECT ... FOR UPDATE) so two nodes releasing the same item serialise and
// the second sees the new state. Schema creation runs in one transaction under
// a transaction-level advisory lock, so two processes starting at once do not
// race on CREATE TABLE IF NOT EXISTS (which is not concurrency-safe in PG).
#include "gateway/quarantine/postgres_store.h"

#include <Poco/Data/LOB.h>
#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/RecordSet.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>

#include "gateway/quarantine/store_util.h"
#include "unpack/hex.h"

namespace sandgate {

using namespace Poco::Data::Keywords;
using quarantine_detail::decode_list;
using quarantine_detail::encode_list;
using quarantine_detail::item_from_row;
using quarantine_detail::kItemColumns;
using quarantine_detail::now_unix_ms;

namespace {

std::once_flag g_register_once;

// 'SANDGATE' as a 64-bit advisory lock key, held while creating the schema.
constexpr Poco::Int64 kSchemaLockKey = 0x53414E4447415445LL;
constexpr const char* kSchemaVersion = "1";

// The schema. Every statement is idempotent; all run in one transaction
// under the advisory lock.
constexpr const char* kSchema[] = {
    "CREATE TABLE IF NOT EXISTS sandgate_quarantine_meta ("
    "key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sandgate_quarantine_items ("
    "id text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'), created_ms bigint NOT NULL, "
    "channel text NOT NULL, profile text NOT NULL, policy_sha256 text NOT NULL, "
    "sender text NOT NULL, recipients text NOT NULL, client_address text NOT NULL, "
    "subject text NOT NULL, file_names text NOT NULL, size bigint NOT NULL, "
    "verdict text NOT NULL, action text NOT NULL, reasons text NOT NULL, "
    "report_json text NOT NULL, "
    "state text NOT NULL CHECK (state IN ('held', 'released', 'deleted')), "
    "content_sha256 text NOT NULL, state_actor text NOT NULL, state_changed_ms bigint NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sandgate_quarantine_items_created "
    "ON sandgate_quarantine_items (created_ms)",
    "CREATE TABLE IF NOT EXISTS sandgate_quarantine_content ("
    "item_id text PRIMARY KEY REFERENCES sandgate_quarantine_items (id) ON DELETE CASCADE, "
    "bytes bytea NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sandgate_quarantine_audit ("
    "seq bigserial PRIMARY KEY, time_ms bigint NOT NULL, item_id text NOT NULL, "
    "actor text NOT NULL, action text NOT NULL, from_state text NOT NULL, "
    "to_state text NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sandgate_quarantine_audit_item "
    "ON sandgate_quarantine_audit (item_id)",
    // Audit rows are immutable: the database itself refuses edits, whoever asks.
    "CREATE OR REPLACE FUNCTION sandgate_quarantine_audit_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'sandgate quarantine audit records are append-only'; END $$",
    "DO $$ BEGIN "
    "IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'sandgate_quarantine_audit_no_change' "
    "AND tgrelid = 'sandgate_quarantine_audit'::regclass) THEN "
    "CREATE TRIGGER sandgate_quarantine_audit_no_change BEFORE UPDATE OR DELETE "
    "ON sandgate_quarantine_audit FOR EACH ROW "
    "EXECUTE FUNCTION sandgate_quarantine_audit_append_only(); END IF; "
    "IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = "
    "'sandgate_quarantine_audit_no_truncate' "
    "AND tgrelid = 'sandgate_quarantine_audit'::regclass) THEN "
    "CREATE TRIGGER sandgate_quarantine_audit_no_truncate BEFORE TRUNCATE "
    "ON sandgate_quarantine_audit FOR EACH STATEMENT "
    "EXECUTE FUNCTION sandgate_quarantine_audit_append_only(); END IF; END $$",
};


std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// Valid UTF-8 without NUL, as PostgreSQL text columns require; anything else
// becomes U+FFFD so that hostile metadata can never make put() fail (which
// would tempfail the message for ever).
std::string pg_text(const std::string& s) {
  static const char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c != 0 && c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07, min = 0x10000;
    }
    bool ok = len != 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (cc & 0x3F);
      }
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are
    // invalid UTF-8 (RFC 3629 section 3) and PostgreSQL refuses them.
    if (ok && (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)) ok = false;
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += kReplacement;
      ++i;
    }
  }
  return out;
}

std::vector<std::string> pg_text_list(const std::vector<std::string>& v) {
  std::vector<std::string> out;
  out.reserve(v.size());
  for (const auto& s : v) out.push_back(pg_text(s));
  return out;
}

// Poco's PostgreSQL messages span several lines with tabs; keep one line.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  std::string out;
  for (char c : s)
    if (!(c == ' ' && !out.empty() && out.back() == ' ')) out += c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > 400) out = out.substr(0, 400) + "...";
  return out;
}

// Adds libpq defaults the connection string does not set itself.
std::string with_defaults(const std::string& conninfo, int connect_timeout_s) {
  const bool uri = conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0;
  std::string out = conninfo;
  auto add = [&](const std::string& key, const std::string& value) {
    if (conninfo.find(key + "=") != std::string::npos) return;
    if (uri) {
      out += (out.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
    } else {
      out += (out.empty() ? "" : " ") + key + "=" + value;
    }
  };
  add("connect_timeout", std::to_string(connect_timeout_s));
  add("application_name", "sandgate");
  add("client_encoding", "UTF8");
  return out;
}

// Reads a whole file (bounded) and hashes it.
bool read_content(const std::string& path, uint64_t max, std::string* bytes, std::string* sha256,
                  std::string* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = errno_text("cannot open content", path);
    return false;
  }
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1;
  if (!ok) *error = "SHA-256 unavailable";
  struct stat st;
  if (ok && ::fstat(fd, &st) == 0 && st.st_size > 0 && static_cast<uint64_t>(st.st_size) <= max)
    bytes->reserve(static_cast<size_t>(st.st_size));
  std::vector<char> buf(1 << 16);
  while (ok) {
    ssize_t r = ::read(fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      *error = errno_text("cannot read", path);
      ok = false;
      break;
    }
    if (r == 0) break;
    if (bytes->size() + static_cast<uint64_t>(r) > max) {
      *error = "content of " + path + " is larger than the " + std::to_string(max) +
               " bytes the postgresql quarantine backend accepts";
      ok = false;
      break;
    }
    bytes->append(buf.data(), static_cast<size_t>(r));
    EVP_DigestUpdate(md, buf.data(), static_cast<size_t>(r));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  if (ok && EVP_DigestFinal_ex(md, digest, &dlen) != 1) {
    *error = "SHA-256 failed";
    ok = false;
  }
  if (md) EVP_MD_CTX_free(md);
  ::close(fd);
  if (ok) *sha256 = hex_lower(digest, dlen);
  return ok;
}

bool write_all(int fd, const unsigned char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}


using SessionPtr = std::unique_ptr<Poco::Data::Session>;

}  // namespace

struct PostgresStore::Impl {
  PostgresStoreOptions options;
  std::string conninfo;  // with defaults added

  // The pool: idle connections, and how many exist (idle + lent out).
  std::mutex mu;
  std::condition_variable cv;
  std::vector<SessionPtr> idle;
  size_t open_count = 0;

  std::mutex scratch_mu;
  std::string scratch_dir;  // made on first content_path()

  ~Impl() {
    if (scratch_dir.empty()) return;
    if (DIR* d = ::opendir(scratch_dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") ::unlink((scratch_dir + "/" + n).c_str());
      }
      ::closedir(d);
    }
    ::rmdir(scratch_dir.c_str());
  }

  SessionPtr connect(std::string* error) {
    try {
      auto s = std::make_unique<Poco::Data::Session>("PostgreSQL", conninfo);
      // Notices (and the WARNING of a server shutting down) would otherwise
      // be printed on stderr by libpq; errors reach us as exceptions.
      *s << "SET client_min_messages TO error", now;
      // A hung server must not hold an intake thread for ever.
      *s << "SET statement_timeout TO '120s'", now;
      return s;
    } catch (const Poco::Exception& e) {
      *error = "cannot connect to the quarantine database: " + one_line(e.displayText());
    } catch (const std::exception& e) {
      *error = std::string("cannot connect to the quarantine database: ") + e.what();
    }
    return nullptr;
  }

  // A connection for one call: an idle one (*reused), or a new one while
  // fewer than max_connections exist; otherwise waits for one to come back.
  SessionPtr acquire(bool* reused, std::string* error) {
    {
      std::unique_lock lock(mu);
      const size_t max = options.max_connections ? options.max_connections : 1;
      if (!cv.wait_for(lock, std::chrono::seconds(60),
                       [&] { return !idle.empty() || open_count < max; })) {
        *error = "quarantine database: all connections busy for 60 s";
        return nullptr;
      }
      if (!idle.empty()) {
        SessionPtr s = std::move(idle.back());
        idle.pop_back();
        *reused = true;
        return s;
      }
      ++open_count;
    }
    *reused = false;
    SessionPtr s = connect(error);
    if (!s) release(nullptr);
    return s;
  }

  // Returns a healthy connection to the pool; nullptr drops one (closing a
  // Session whose transaction is open makes the server roll it back).
  void release(SessionPtr s) {
    {
      std::lock_guard lock(mu);
      if (s) {
        idle.push_back(std::move(s));
      } else {
        --open_count;
      }
    }
    cv.notify_one();
  }

  void drop_idle() {
    std::vector<SessionPtr> dead;
    {
      std::lock_guard lock(mu);
      dead.swap(idle);
      open_count -= dead.size();
    }
    cv.notify_all();
    // Closed outside the lock: closing a connection may wait on the network.
  }

  // Runs fn(session, &progress) on a pooled connection; fn returns true on
  // success, or false with *error set after leaving no transaction open (a
  // refusal, not a fault). Any exception drops the connection and fails the
  // call, except that a reused connection found dead before fn made progress
  // (or while fn is a pure read) is replaced once and fn retried: a server
  // restart between two calls must not fail the second.
  template <typename Fn>
  bool run(const char* what, bool read_only, std::string* error, Fn&& fn) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = false;
      SessionPtr s = acquire(&reused, error);
      if (!s) return false;
      bool progress = false;
      std::string fault;
      try {
        bool ok = fn(*s, &progress);
        release(std::move(s));
        return ok;
      } catch (const Poco::Exception& e) {
        fault = one_line(e.displayText());
      } catch (const std::exception& e) {
        fault = e.what();
      }
      s.reset();
      release(nullptr);
      if (attempt == 0 && reused && (read_only || !progress)) {
        // The other idle connections most likely went down with this one
        // (server restart): drop them all so the retry gets a fresh one.
        drop_idle();
        continue;
      }
      *error = std::string(what) + ": " + fault;
      return false;
    }
    return false;
  }

  bool create_schema(std::string* error) {
    return run("cannot create the quarantine schema", false, error,
               [&](Poco::Data::Session& s, bool* progress) {
                 s.begin();
                 *progress = true;
                 Poco::Int64 key = kSchemaLockKey;
                 s << "SELECT pg_advisory_xact_lock($1::bigint)", bind(key), now;
                 // A role without CREATE can use a schema a DBA made: when
                 // everything exists at this version, no DDL is attempted.
                 Poco::Int64 present = 0;
                 s << "SELECT count(*) FROM pg_trigger WHERE tgname IN "
                      "('sandgate_quarantine_audit_no_change', "
                      "'sandgate_quarantine_audit_no_truncate') AND to_regclass("
                      "'sandgate_quarantine_content') IS NOT NULL AND to_regclass("
                      "'sandgate_quarantine_meta') IS NOT NULL",
                     into(present), now;
                 std::vector<std::string> version;
                 if (present == 2) {
                   s << "SELECT value FROM sandgate_quarantine_meta WHERE key = 'schema_version'",
                       into(version), now;
                 }
                 if (version.size() == 1 && version[0] == kSchemaVersion) {
                   s.commit();
                   return true;
                 }
                 for (const char* sql : kSchema) s << sql, now;
                 std::string v = kSchemaVersion;
                 s << "INSERT INTO sandgate_quarantine_meta (key, value) "
                      "VALUES ('schema_version', $1) ON CONFLICT (key) DO NOTHING",
                     bind(v), now;
                 s.commit();
                 return true;
               });
  }

  bool make_scratch_dir(std::string* error) {
    if (!scratch_dir.empty()) return true;
    std::string parent = options.scratch_parent;
    if (parent.empty()) {
      const char* t = std::getenv("TMPDIR");
      parent = (t && *t) ? t : "/tmp";
    }
    // The data directory may not exist yet when only the CLI runs on a node.
    if (::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = errno_text("cannot create directory", parent);
      return false;
    }
    std::string templ = parent + "/quarantine-pg-XXXXXX";
    std::vector<char> name(templ.begin(), templ.end());
    name.push_back('\0');
    if (!::mkdtemp(name.data())) {
      *error = errno_text("cannot create a scratch directory in", parent);
      return false;
    }
    scratch_dir = name.data();
    return true;
  }
};

PostgresStore::PostgresStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresStore::~PostgresStore() = default;

std::unique_ptr<PostgresStore> PostgresStore::open(const PostgresStoreOptions& options,
                                                   std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  try {
    std::call_once(g_register_once, [] { Poco::Data::PostgreSQL::Connector::registerConnector(); });
  } catch (const std::exception& e) {
    *error = std::string("cannot load the PostgreSQL connector: ") + e.what();
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->conninfo = with_defaults(options.conninfo, options.connect_timeout_s);
  if (!impl->create_schema(error)) return nullptr;
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(impl)));
}

std::optional<std::string> PostgresStore::put(const std::string& content_path, QuarantineItem item,
                                              std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  std::string bytes, sha;
  std::optional<Poco::Data::BLOB> blob;
  // Read (and bound) the content before taking a connection. Memory can run
  // out here (bad_alloc): that is a failed put, not a crash.
  try {
    if (!read_content(content_path, impl_->options.max_content_bytes, &bytes, &sha, error))
      return std::nullopt;
    blob.emplace(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  } catch (const std::exception& e) {
    *error = std::string("quarantine put failed: cannot hold the content in memory: ") + e.what();
    return std::nullopt;
  }
  const uint64_t content_size = bytes.size();
  std::string().swap(bytes);  // one copy in memory is enough
  if (!quarantine_detail::new_quarantine_id(&item.id)) {
    *error = "no randomness for a quarantine id";
    return std::nullopt;
  }
  item.created_unix_ms = now_unix_ms();
  item.state = QuarantineState::held;
  if (item.size == 0) item.size = content_size;

  bool ok = impl_->run(
      "quarantine put failed", false, error, [&](Poco::Data::Session& s, bool* progress) {
        s.begin();
        *progress = true;
        Poco::Int64 created = item.created_unix_ms;
        Poco::Int64 size = static_cast<Poco::Int64>(item.size);
        std::string channel = pg_text(item.channel), profile = pg_text(item.profile),
                    policy = pg_text(item.policy_sha256), sender = pg_text(item.sender),
                    recipients = encode_list(pg_text_list(item.recipients)),
                    client = pg_text(item.client_address), subject = pg_text(item.subject),
                    files = encode_list(pg_text_list(item.file_names)),
                    verdict = pg_text(item.verdict), action = pg_text(item.action),
                    reasons = encode_list(pg_text_list(item.reasons)),
                    report = pg_text(item.report_json), state = "held", actor = "intake";
        s << "INSERT INTO sandgate_quarantine_items (id, created_ms, channel, "
             "profile, policy_sha256, sender, recipients, client_address, "
             "subject, file_names, size, verdict, action, reasons, report_json, "
             "state, content_sha256, state_actor, state_changed_ms) VALUES ($1, "
             "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
             "$17, $18, $2)",
            bind(item.id), bind(created), bind(channel), bind(profile), bind(policy), bind(sender),
            bind(recipients), bind(client), bind(subject), bind(files), bind(size), bind(verdict),
            bind(action), bind(reasons), bind(report), bind(state), bind(sha), bind(actor), now;
        s << "INSERT INTO sandgate_quarantine_content (item_id, bytes) "
             "VALUES ($1, $2)",
            bind(item.id), bind(*blob), now;
        std::string empty, held = "held";
        s << "INSERT INTO sandgate_quarantine_audit (time_ms, item_id, actor, "
             "action, from_state, to_state) VALUES ($1, $2, $3, $4, $5, $4)",
            bind(created), bind(item.id), bind(actor), bind(held), bind(empty), now;
        // Only a COMMIT that returned makes the item durable;
        // if it throws, the outcome is reported as failure.
        s.commit();
        return true;
      });
  if (!ok) return std::nullopt;
  return item.id;
}

std::optional<QuarantineItem> PostgresStore::get(const std::string& id, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  if (!is_quarantine_id(id)) {
    *error = store_error_no_item(id);
    return std::nullopt;
  }
  std::optional<QuarantineItem> out;
  bool ok = impl_->run("quarantine database", true, error, [&](Poco::Data::Session& s, bool*) {
    Poco::Data::Statement st(s);
    std::string idc = id;
    st << "SELECT " << kItemColumns << " FROM sandgate_quarantine_items WHERE id = $1", bind(idc);
    st.execute();
    Poco::Data::RecordSet rs(st);
    if (!rs.moveFirst()) {
      *error = store_error_no_item(id);
      return false;
    }
    out = item_from_row(rs);
    return true;
  });
  if (!ok) return std::nullopt;
  return out;
}

std::vector<QuarantineItem> PostgresStore::list(const QuarantineFilter& f, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  std::vector<QuarantineItem> out;
  bool ok = impl_->run("quarantine database", true, error, [&](Poco::Data::Session& s, bool*) {
    out.clear();
    Poco::Int64 since = f.since_unix_ms.value_or(INT64_MIN);
    Poco::Int64 until = f.until_unix_ms.value_or(INT64_MAX);
    std::string state = f.state ? quarantine_state_name(*f.state) : "";
    Poco::Data::Statement st(s);
    st << "SELECT " << kItemColumns
       << " FROM sandgate_quarantine_items WHERE created_ms >= $1 AND created_ms <= $2 "
          "AND ($3 = '' OR state = $3) ORDER BY created_ms, id",
        bind(since), bind(until), bind(state);
    st.execute();
    Poco::Data::RecordSet rs(st);
    for (bool more = rs.moveFirst(); more; more = rs.moveNext()) {
      QuarantineItem it = item_from_row(rs);
      if (quarantine_detail::matches_text_filters(f, it)) out.push_back(std::move(it));
    }
    return true;
  });
  if (!ok) {
    out.clear();
  } else {
    error->clear();
  }
  return out;
}

std::optional<std::string> PostgresStore::content_path(const std::string& id, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  if (!is_quarantine_id(id)) {
    *error = store_error_no_item(id);
    return std::nullopt;
  }
  std::vector<std::string> state;
  std::vector<Poco::Data::BLOB> content;
  bool ok = impl_->run("quarantine database", true, error, [&](Poco::Data::Session& s, bool*) {
    state.clear();
    content.clear();
    std::string idc = id;
    // One statement: the state and the bytes of the same snapshot.
    s << "SELECT i.state, c.bytes FROM sandgate_quarantine_items i "
         "JOIN sandgate_quarantine_content c ON c.item_id = i.id WHERE i.id = $1",
        into(state), into(content), bind(idc), now;
    return true;
  });
  if (!ok) return std::nullopt;
  if (state.empty()) {
    // Deleted items have no content row; say which case it is.
    auto item = get(id, error);
    if (item && item->state == QuarantineState::deleted) {
      *error = store_error_deleted(id);
    } else if (item) {
      *error = "item " + id + " has no stored content";
    }
    return std::nullopt;
  }
  if (state[0] == "deleted") {
    *error = store_error_deleted(id);
    return std::nullopt;
  }
  std::lock_guard lock(impl_->scratch_mu);
  if (!impl_->make_scratch_dir(error)) return std::nullopt;
  // Written under a temporary name and renamed, so a reader of an earlier
  // copy of the same id never sees a half-written file.
  std::string path = impl_->scratch_dir + "/" + id;
  std::string tmp = path + ".part";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = errno_text("cannot create", tmp);
    return std::nullopt;
  }
  const auto& blob = content[0];
  bool written = write_all(fd, blob.rawContent(), blob.size());
  if (::close(fd) != 0) written = false;
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = errno_text("cannot write", tmp);
    ::unlink(tmp.c_str());
    return std::nullopt;
  }
  return path;
}

bool PostgresStore::set_state(const std::string& id, QuarantineState state,
                              const std::string& actor, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  if (!is_quarantine_id(id)) {
    *error = store_error_no_item(id);
    return false;
  }
  return impl_->run(
      "quarantine state change failed", false, error, [&](Poco::Data::Session& s, bool* progress) {
        s.begin();
        *progress = true;
        std::vector<std::string> cur;
        std::string idc = id;
        // FOR UPDATE: a second node changing the same item waits, then sees
        // the new state and is refused by the state machine.
        s << "SELECT state FROM sandgate_quarantine_items WHERE id = $1 FOR UPDATE", into(cur),
            bind(idc), now;
        if (cur.empty()) {
          s.rollback();
          *error = store_error_no_item(id);
          return false;
        }
        auto from = parse_quarantine_state(cur[0]);
        std::string to = quarantine_state_name(state);
        if (!from || !quarantine_detail::transition_allowed(*from, state)) {
          s.rollback();
          *error = store_error_transition(id, cur[0], to);
          return false;
        }
        Poco::Int64 t = now_unix_ms();
        std::string a = pg_text(actor);
        s << "UPDATE sandgate_quarantine_items SET state = $1, state_actor = $2, "
             "state_changed_ms = $3 WHERE id = $4",
            bind(to), bind(a), bind(t), bind(idc), now;
        s << "INSERT INTO sandgate_quarantine_audit (time_ms, item_id, actor, action, "
             "from_state, to_state) VALUES ($1, $2, $3, $4, $5, $4)",
            bind(t), bind(idc), bind(a), bind(to), bind(cur[0]), now;
        if (state == QuarantineState::deleted)
          s << "DELETE FROM sandgate_quarantine_content WHERE item_id = $1", bind(idc), now;
        s.commit();
        return true;
      });
}

std::optional<size_t> PostgresStore::purge(int64_t cutoff_unix_ms, const std::string& actor,
                                           std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  std::vector<std::string> purged;
  bool ok = impl_->run(
      "quarantine purge failed", false, error, [&](Poco::Data::Session& s, bool* progress) {
        purged.clear();
        s.begin();
        *progress = true;
        Poco::Int64 cutoff = cutoff_unix_ms, t = now_unix_ms();
        std::string a = pg_text(actor);
        // One statement: the rows deleted are exactly the rows
        // audited. Content goes with its item (ON DELETE CASCADE).
        s << "WITH gone AS (DELETE FROM sandgate_quarantine_items "
             "WHERE created_ms < $1 RETURNING id, state, created_ms) "
             "INSERT INTO sandgate_quarantine_audit (time_ms, item_id, actor, "
             "action, from_state, to_state) "
             "SELECT $2::bigint, id, $3::text, 'purged', state, 'purged' FROM gone "
             "ORDER BY created_ms, id RETURNING item_id",
            into(purged), bind(cutoff), bind(t), bind(a), now;
        s.commit();
        return true;
      });
  if (!ok) return std::nullopt;
  return purged.size();
}

std::vector<AuditRecord> PostgresStore::audit(const std::string& id, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  std::vector<AuditRecord> out;
  if (!id.empty() && !is_quarantine_id(id)) {
    error->clear();  // no such item, so no records (as in the directory store)
    return out;
  }
  bool ok = impl_->run("quarantine audit", true, error, [&](Poco::Data::Session& s, bool*) {
    out.clear();
    std::vector<Poco::Int64> seq, time;
    std::vector<std::string> item, actor, action, from, to;
    std::string idc = id;
    s << "SELECT seq, time_ms, item_id, actor, action, from_state, to_state "
         "FROM sandgate_quarantine_audit WHERE ($1 = '' OR item_id = $1) ORDER BY seq",
        into(seq), into(time), into(item), into(actor), into(action), into(from), into(to),
        bind(idc), now;
    for (size_t i = 0; i < seq.size(); ++i)
      out.push_back(AuditRecord{seq[i], time[i], item[i], actor[i], action[i], from[i], to[i]});
    return true;
  });
  if (ok) {
    error->clear();
  } else {
    out.clear();
  }
  return out;
}

}  // namespace sandgate
