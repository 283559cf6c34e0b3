// DirectoryStore: content-addressed files plus an SQLite index (see
// directory_store.h for the layout and guarantees).
//
// Durability order for put(): copy the content into tmp/ while hashing it,
// fsync the file; then, holding the SQLite write lock (BEGIN IMMEDIATE), rename
// it to objects/HH/SHA256, fsync that directory, insert the index row and the
// audit row, append and fsync the audit line, COMMIT (synchronous=FULL). Only
// then is the id returned. Taking the write lock before the rename serialises
// put() against delete/purge (which unlink shared content under the same lock),
// also across processes, so a shared content file is never removed under a new
// item. An audit line whose transaction then fails to commit may remain in
// audit.jsonl; the table is the authority, the log a superset.
#include "gateway/quarantine/directory_store.h"
#include "unpack/hex.h"

#include <Poco/Data/RecordSet.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <set>

#include "gateway/quarantine/store_util.h"
#include "gateway/report_json.h"

namespace sandgate {

using namespace Poco::Data::Keywords;
using quarantine_detail::decode_list;
using quarantine_detail::encode_list;
using quarantine_detail::item_from_row;
using quarantine_detail::kItemColumns;
using quarantine_detail::now_unix_ms;

namespace {

std::once_flag g_register_once;

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

bool fsync_dir(const std::string& path, std::string* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *error = errno_text("cannot open directory", path);
    return false;
  }
  bool ok = ::fsync(fd) == 0;
  if (!ok) *error = errno_text("cannot fsync directory", path);
  ::close(fd);
  return ok;
}

// mkdir that accepts an existing directory; fsyncs the parent when it created one.
bool ensure_dir(const std::string& path, const std::string& parent, std::string* error) {
  if (::mkdir(path.c_str(), 0700) == 0) return parent.empty() || fsync_dir(parent, error);
  if (errno == EEXIST) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
    errno = ENOTDIR;
  }
  *error = errno_text("cannot create directory", path);
  return false;
}

bool is_hex_id(const std::string& s, size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Copies `src` into a new file in `tmp_dir`, hashing it; fsyncs it. On failure
// the temporary file is removed.
bool copy_and_hash(const std::string& src, const std::string& tmp_dir, std::string* tmp_path,
                   std::string* sha256, uint64_t* size, std::string* error) {
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    *error = errno_text("cannot open content", src);
    return false;
  }
  std::string templ = tmp_dir + "/put-XXXXXX";
  std::vector<char> name(templ.begin(), templ.end());
  name.push_back('\0');
  int out = ::mkostemp(name.data(), O_CLOEXEC);
  if (out < 0) {
    *error = errno_text("cannot create temporary file in", tmp_dir);
    ::close(in);
    return false;
  }
  *tmp_path = name.data();
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1;
  if (!ok) *error = "SHA-256 unavailable";
  std::vector<char> buf(1 << 16);
  uint64_t total = 0;
  while (ok) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = errno_text("cannot read", src);
      ok = false;
      break;
    }
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
    EVP_DigestUpdate(md, buf.data(), static_cast<size_t>(n));
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out, buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        // ENOSPC, EDQUOT, EFBIG (RLIMIT_FSIZE): the store is full.
        *error = errno_text("cannot write", *tmp_path);
        ok = false;
        break;
      }
      off += w;
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  if (ok && EVP_DigestFinal_ex(md, digest, &dlen) != 1) {
    *error = "SHA-256 failed";
    ok = false;
  }
  if (md) EVP_MD_CTX_free(md);
  if (ok && ::fsync(out) != 0) {
    *error = errno_text("cannot fsync", *tmp_path);
    ok = false;
  }
  if (::close(out) != 0 && ok) {
    *error = errno_text("cannot close", *tmp_path);
    ok = false;
  }
  ::close(in);
  if (!ok) {
    ::unlink(tmp_path->c_str());
    return false;
  }
  *sha256 = hex_lower(digest, dlen);
  *size = total;
  return true;
}



}  // namespace

struct DirectoryStore::Impl {
  std::string dir, objects_dir, tmp_dir, audit_path;
  std::mutex mu;  // Poco sessions are not thread-safe; also orders audit lines
  std::unique_ptr<Poco::Data::Session> db;

  std::string object_path(const std::string& sha) const {
    return objects_dir + "/" + sha.substr(0, 2) + "/" + sha;
  }

  void rollback() {
    try {
      *db << "ROLLBACK", now;
    } catch (...) {
    }
  }

  // Inserts the audit row and appends the JSON line. Caller holds the write
  // transaction. Throws Poco exceptions; returns false with *error on I/O.
  bool write_audit(AuditRecord& r, std::string* error) {
    Poco::Int64 t = r.time_unix_ms;
    *db << "INSERT INTO audit(time_ms, item_id, actor, action, from_state, to_state) "
           "VALUES(?, ?, ?, ?, ?, ?)",
        bind(t), bind(r.item_id), bind(r.actor), bind(r.action), bind(r.from_state),
        bind(r.to_state), now;
    Poco::Int64 seq = 0;
    *db << "SELECT last_insert_rowid()", into(seq), now;
    r.seq = seq;
    std::string line = audit_record_to_json(r) + "\n";
    // O_APPEND without O_TRUNC: the tool can only ever add to the log.
    int fd = ::open(audit_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      *error = errno_text("cannot open audit log", audit_path);
      return false;
    }
    // One write() per line so concurrent appenders never interleave inside a line.
    ssize_t w = ::write(fd, line.data(), line.size());
    bool ok = w == static_cast<ssize_t>(line.size());
    if (!ok)
      *error = w < 0 ? errno_text("cannot append to", audit_path) : "short write to " + audit_path;
    if (ok && ::fsync(fd) != 0) {
      *error = errno_text("cannot fsync", audit_path);
      ok = false;
    }
    ::close(fd);
    return ok;
  }

  // Removes the content file unless another item still in the index (and not
  // deleted) shares it. Caller holds the write transaction.
  void drop_content_if_unused(const std::string& sha) {
    if (!is_hex_id(sha, 64)) return;
    Poco::Int64 refs = 0;
    *db << "SELECT COUNT(*) FROM items WHERE content_sha256 = ? AND state != 'deleted'", into(refs),
        bind(sha), now;
    if (refs == 0) ::unlink(object_path(sha).c_str());
  }
};

DirectoryStore::DirectoryStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DirectoryStore::~DirectoryStore() = default;

const std::string& DirectoryStore::dir() const { return impl_->dir; }

std::unique_ptr<DirectoryStore> DirectoryStore::open(const std::string& dir, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  auto impl = std::make_unique<Impl>();
  impl->dir = dir.empty() ? "." : dir;
  while (impl->dir.size() > 1 && impl->dir.back() == '/') impl->dir.pop_back();
  impl->objects_dir = impl->dir + "/objects";
  impl->tmp_dir = impl->dir + "/tmp";
  impl->audit_path = impl->dir + "/audit.jsonl";
  // The data directory may not exist yet on first start (./var/quarantine).
  std::string parent = impl->dir;
  auto slash = parent.rfind('/');
  parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : parent.substr(0, slash));
  if (::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) {
    *error = errno_text("cannot create directory", parent);
    return nullptr;
  }
  if (!ensure_dir(impl->dir, parent, error) || !ensure_dir(impl->objects_dir, impl->dir, error) ||
      !ensure_dir(impl->tmp_dir, impl->dir, error))
    return nullptr;
  try {
    std::call_once(g_register_once, [] { Poco::Data::SQLite::Connector::registerConnector(); });
    impl->db = std::make_unique<Poco::Data::Session>("SQLite", impl->dir + "/index.sqlite");
    impl->db->setConnectionTimeout(10);  // seconds of SQLITE_BUSY retry across processes
    Poco::Data::Session& db = *impl->db;
    std::string mode;
    db << "PRAGMA journal_mode=WAL", into(mode), now;
    db << "PRAGMA synchronous=FULL", now;
    db << "CREATE TABLE IF NOT EXISTS items ("
          "id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, channel TEXT NOT NULL, "
          "profile TEXT NOT NULL, policy_sha256 TEXT NOT NULL, sender TEXT NOT NULL, "
          "recipients TEXT NOT NULL, client_address TEXT NOT NULL, subject TEXT NOT NULL, "
          "file_names TEXT NOT NULL, size INTEGER NOT NULL, verdict TEXT NOT NULL, "
          "action TEXT NOT NULL, reasons TEXT NOT NULL, report_json TEXT NOT NULL, "
          "state TEXT NOT NULL, content_sha256 TEXT NOT NULL, "
          "state_actor TEXT NOT NULL, state_changed_ms INTEGER NOT NULL)",
        now;
    db << "CREATE INDEX IF NOT EXISTS items_created ON items(created_ms)", now;
    db << "CREATE TABLE IF NOT EXISTS audit ("
          "seq INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, "
          "item_id TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, "
          "from_state TEXT NOT NULL, to_state TEXT NOT NULL)",
        now;
    db << "CREATE INDEX IF NOT EXISTS audit_item ON audit(item_id)", now;
    // Audit rows are immutable: the database itself refuses edits.
    db << "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
          "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
        now;
    db << "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
          "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
        now;
  } catch (const Poco::Exception& e) {
    *error = "cannot open quarantine index in " + impl->dir + ": " + e.displayText();
    return nullptr;
  } catch (const std::exception& e) {
    *error = "cannot open quarantine index in " + impl->dir + ": " + e.what();
    return nullptr;
  }
  // Leftovers of a put() interrupted by a crash are never listed; clear them.
  // (Another process may be mid-put: only files older than an hour.)
  if (DIR* d = ::opendir(impl->tmp_dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind("put-", 0) != 0) continue;
      std::string p = impl->tmp_dir + "/" + n;
      struct stat st;
      if (::stat(p.c_str(), &st) == 0 && st.st_mtime + 3600 < ::time(nullptr)) ::unlink(p.c_str());
    }
    ::closedir(d);
  }
  return std::unique_ptr<DirectoryStore>(new DirectoryStore(std::move(impl)));
}

std::optional<std::string> DirectoryStore::put(const std::string& content_path, QuarantineItem item,
                                               std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  Impl& s = *impl_;
  std::string tmp, sha;
  uint64_t size = 0;
  // The copy runs outside the lock: large uploads must not stall other intakes.
  if (!copy_and_hash(content_path, s.tmp_dir, &tmp, &sha, &size, error)) return std::nullopt;
  if (!quarantine_detail::new_quarantine_id(&item.id)) {
    ::unlink(tmp.c_str());
    *error = "no randomness for a quarantine id";
    return std::nullopt;
  }
  item.created_unix_ms = now_unix_ms();
  item.state = QuarantineState::held;
  if (item.size == 0) item.size = size;

  std::lock_guard lock(s.mu);
  bool in_tx = false;
  try {
    *s.db << "BEGIN IMMEDIATE", now;
    in_tx = true;
    std::string hh = s.objects_dir + "/" + sha.substr(0, 2);
    if (!ensure_dir(hh, s.objects_dir, error)) throw Poco::IOException(*error);
    // Same content already stored: rename replaces it with identical bytes.
    if (::rename(tmp.c_str(), s.object_path(sha).c_str()) != 0) {
      throw Poco::IOException(errno_text("cannot rename into", s.object_path(sha)));
    }
    tmp.clear();
    if (!fsync_dir(hh, error)) throw Poco::IOException(*error);

    Poco::Int64 created = item.created_unix_ms;
    Poco::Int64 isize = static_cast<Poco::Int64>(item.size);
    std::string recipients = encode_list(item.recipients), files = encode_list(item.file_names),
                reasons = encode_list(item.reasons), state = "held", actor = "intake";
    *s.db << "INSERT INTO items(id, created_ms, channel, profile, policy_sha256, sender, "
             "recipients, client_address, subject, file_names, size, verdict, action, reasons, "
             "report_json, state, content_sha256, state_actor, state_changed_ms) "
             "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        bind(item.id), bind(created), bind(item.channel), bind(item.profile),
        bind(item.policy_sha256), bind(item.sender), bind(recipients), bind(item.client_address),
        bind(item.subject), bind(files), bind(isize), bind(item.verdict), bind(item.action),
        bind(reasons), bind(item.report_json), bind(state), bind(sha), bind(actor), bind(created),
        now;
    AuditRecord r{0, item.created_unix_ms, item.id, "intake", "held", "", "held"};
    if (!s.write_audit(r, error)) throw Poco::IOException(*error);
    *s.db << "COMMIT", now;
    in_tx = false;
  } catch (const Poco::Exception& e) {
    *error = "quarantine put failed: " + e.displayText();
  } catch (const std::exception& e) {
    *error = std::string("quarantine put failed: ") + e.what();
  }
  if (in_tx) {
    s.rollback();
    // The content may now be an orphan in objects/ (or shared): harmless, and
    // removing it could race a concurrent put of the same bytes.
    if (!tmp.empty()) ::unlink(tmp.c_str());
    return std::nullopt;
  }
  if (!tmp.empty()) {
    ::unlink(tmp.c_str());
    return std::nullopt;
  }
  return item.id;
}

std::optional<QuarantineItem> DirectoryStore::get(const std::string& id, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  if (!is_quarantine_id(id)) {
    *error = store_error_no_item(id);
    return std::nullopt;
  }
  std::lock_guard lock(impl_->mu);
  try {
    Poco::Data::Statement st(*impl_->db);
    std::string idc = id;
    st << "SELECT " << kItemColumns << " FROM items WHERE id = ?", bind(idc);
    st.execute();
    Poco::Data::RecordSet rs(st);
    if (!rs.moveFirst()) {
      *error = store_error_no_item(id);
      return std::nullopt;
    }
    return item_from_row(rs);
  } catch (const Poco::Exception& e) {
    *error = "quarantine index: " + e.displayText();
  } catch (const std::exception& e) {
    *error = std::string("quarantine index: ") + e.what();
  }
  return std::nullopt;
}

std::vector<QuarantineItem> DirectoryStore::list(const QuarantineFilter& f, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  std::vector<QuarantineItem> out;
  std::lock_guard lock(impl_->mu);
  try {
    Poco::Int64 since = f.since_unix_ms.value_or(INT64_MIN);
    Poco::Int64 until = f.until_unix_ms.value_or(INT64_MAX);
    std::string state = f.state ? quarantine_state_name(*f.state) : "";
    Poco::Data::Statement st(*impl_->db);
    st << "SELECT " << kItemColumns
       << " FROM items WHERE created_ms >= ? AND created_ms <= ? AND (? = '' OR state = ?) "
          "ORDER BY created_ms, id",
        bind(since), bind(until), bind(state), bind(state);
    st.execute();
    Poco::Data::RecordSet rs(st);
    for (bool more = rs.moveFirst(); more; more = rs.moveNext()) {
      QuarantineItem it = item_from_row(rs);
      if (!quarantine_detail::matches_text_filters(f, it)) continue;
      out.push_back(std::move(it));
    }
    error->clear();
  } catch (const Poco::Exception& e) {
    *error = "quarantine index: " + e.displayText();
    out.clear();
  } catch (const std::exception& e) {
    *error = std::string("quarantine index: ") + e.what();
    out.clear();
  }
  return out;
}

std::optional<std::string> DirectoryStore::content_path(const std::string& id, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  if (!is_quarantine_id(id)) {
    *error = store_error_no_item(id);
    return std::nullopt;
  }
  std::lock_guard lock(impl_->mu);
  try {
    std::vector<std::string> sha, state;
    std::string idc = id;
    *impl_->db << "SELECT content_sha256, state FROM items WHERE id = ?", into(sha), into(state),
        bind(idc), now;
    if (sha.empty()) {
      *error = store_error_no_item(id);
      return std::nullopt;
    }
    if (state[0] == "deleted") {
      *error = store_error_deleted(id);
      return std::nullopt;
    }
    if (!is_hex_id(sha[0], 64)) {
      *error = "item " + id + " has a broken content reference";
      return std::nullopt;
    }
    std::string p = impl_->object_path(sha[0]);
    if (::access(p.c_str(), R_OK) != 0) {
      *error = errno_text("content of " + id + " unreadable:", p);
      return std::nullopt;
    }
    return p;
  } catch (const Poco::Exception& e) {
    *error = "quarantine index: " + e.displayText();
  }
  return std::nullopt;
}

bool DirectoryStore::set_state(const std::string& id, QuarantineState state,
                               const std::string& actor, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  if (!is_quarantine_id(id)) {
    *error = store_error_no_item(id);
    return false;
  }
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  bool in_tx = false;
  try {
    *s.db << "BEGIN IMMEDIATE", now;
    in_tx = true;
    std::vector<std::string> cur, sha;
    std::string idc = id;
    *s.db << "SELECT state, content_sha256 FROM items WHERE id = ?", into(cur), into(sha),
        bind(idc), now;
    if (cur.empty()) throw Poco::NotFoundException(store_error_no_item(id));
    std::string from = cur[0], to = quarantine_state_name(state);
    bool allowed = (from == "held" && to != "held") || (from == "released" && to == "deleted");
    if (!allowed)
      throw Poco::InvalidArgumentException(store_error_transition(id, from, to));
    Poco::Int64 t = now_unix_ms();
    std::string a = actor;
    *s.db << "UPDATE items SET state = ?, state_actor = ?, state_changed_ms = ? WHERE id = ?",
        bind(to), bind(a), bind(t), bind(idc), now;
    AuditRecord r{0, t, id, actor, to, from, to};
    if (!s.write_audit(r, error)) throw Poco::IOException(*error);
    if (state == QuarantineState::deleted) s.drop_content_if_unused(sha[0]);
    *s.db << "COMMIT", now;
    return true;
  } catch (const Poco::Exception& e) {
    *error = e.message().empty() ? e.displayText() : e.message();
  } catch (const std::exception& e) {
    *error = e.what();
  }
  if (in_tx) s.rollback();
  return false;
}

std::optional<size_t> DirectoryStore::purge(int64_t cutoff_unix_ms, const std::string& actor,
                                            std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  bool in_tx = false;
  try {
    *s.db << "BEGIN IMMEDIATE", now;
    in_tx = true;
    std::vector<std::string> ids, states, shas;
    Poco::Int64 cutoff = cutoff_unix_ms;
    *s.db << "SELECT id, state, content_sha256 FROM items WHERE created_ms < ?", into(ids),
        into(states), into(shas), bind(cutoff), now;
    Poco::Int64 t = now_unix_ms();
    for (size_t i = 0; i < ids.size(); ++i) {
      AuditRecord r{0, t, ids[i], actor, "purged", states[i], "purged"};
      if (!s.write_audit(r, error)) throw Poco::IOException(*error);
      std::string idc = ids[i];
      *s.db << "DELETE FROM items WHERE id = ?", bind(idc), now;
    }
    for (const std::string& sha : std::set<std::string>(shas.begin(), shas.end()))
      s.drop_content_if_unused(sha);
    *s.db << "COMMIT", now;
    return ids.size();
  } catch (const Poco::Exception& e) {
    *error = "quarantine purge failed: " + e.displayText();
  } catch (const std::exception& e) {
    *error = std::string("quarantine purge failed: ") + e.what();
  }
  if (in_tx) s.rollback();
  return std::nullopt;
}

std::vector<AuditRecord> DirectoryStore::audit(const std::string& id, std::string* error) {
  std::string scratch;
  if (!error) error = &scratch;
  std::vector<AuditRecord> out;
  std::lock_guard lock(impl_->mu);
  try {
    Poco::Data::Statement st(*impl_->db);
    std::string idc = id;
    st << "SELECT seq, time_ms, item_id, actor, action, from_state, to_state FROM audit "
          "WHERE (? = '' OR item_id = ?) ORDER BY seq",
        bind(idc), bind(idc);
    st.execute();
    Poco::Data::RecordSet rs(st);
    for (bool more = rs.moveFirst(); more; more = rs.moveNext()) {
      AuditRecord r;
      r.seq = rs["seq"].convert<Poco::Int64>();
      r.time_unix_ms = rs["time_ms"].convert<Poco::Int64>();
      r.item_id = rs["item_id"].convert<std::string>();
      r.actor = rs["actor"].convert<std::string>();
      r.action = rs["action"].convert<std::string>();
      r.from_state = rs["from_state"].convert<std::string>();
      r.to_state = rs["to_state"].convert<std::string>();
      out.push_back(std::move(r));
    }
  } catch (const Poco::Exception& e) {
    *error = "quarantine audit: " + e.displayText();
  }
  return out;
}

std::unique_ptr<QuarantineStore> open_directory_store(const std::string& dir, std::string* error) {
  return DirectoryStore::open(dir, error);
}

}  // namespace sandgate
