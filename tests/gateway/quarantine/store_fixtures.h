// Test fixtures shared by the quarantine store tests: one "backend" type per
// QuarantineStore implementation, so the contract tests run the same body
// against each (doctest TEST_CASE_TEMPLATE). A backend gives fresh, empty
// storage per test case and can open several store objects on it (as several
// processes or nodes would).
//
// The PostgreSQL backend uses one throwaway cluster per test process (started
// on first use, removed at exit) and a new database per test case. Without
// PostgreSQL binaries its tests report SKIPPED and pass.
#pragma once

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/Exception.h>
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "gateway/quarantine/directory_store.h"
#include "gateway/quarantine/postgres_store.h"
#include "tests/gateway/quarantine/pg_cluster.h"

namespace sandgate::testing {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "sgq-XXXXXX").string();
    REQUIRE(mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

inline std::string write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
  return p.string();
}

inline std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline QuarantineItem mail_item(const std::string& sender, const std::string& rcpt,
                                const std::string& reason) {
  QuarantineItem it;
  it.channel = "mail";
  it.profile = "mail";
  it.sender = sender;
  it.recipients = {rcpt, "second@example.org"};
  it.subject = "Invoice\r\nBcc: x";
  it.file_names = {"invoice.exe"};
  it.verdict = "quarantine";
  it.action = "quarantine";
  it.reasons = {reason};
  it.report_json = "{\"verdict\":\"quarantine\"}";
  return it;
}

// The process-wide cluster; nullptr with *why when PostgreSQL is unavailable.
inline PgCluster* shared_cluster(std::string* why) {
  static std::string failure;
  static std::unique_ptr<PgCluster> cluster = [] {
    auto c = std::make_unique<PgCluster>();
    if (!c->start(&failure)) c.reset();
    return c;
  }();
  if (!cluster) *why = failure;
  return cluster.get();
}

struct DirectoryBackend {
  static constexpr const char* kName = "directory";
  static constexpr const char* kAuditTable = "audit";
  TempDir t;
  std::string dir = (t.path / "q").string();
  bool available(std::string*) { return true; }
  std::unique_ptr<QuarantineStore> open(std::string* error) {
    return DirectoryStore::open(dir, error);
  }
  // Runs SQL on the store's database behind the tool's back (as an
  // administrator with a database client would); true if it succeeded.
  bool try_edit_audit(const std::string& sql) {
    try {
      Poco::Data::SQLite::Connector::registerConnector();
      Poco::Data::Session db("SQLite", dir + "/index.sqlite");
      db << sql, Poco::Data::Keywords::now;
      return true;
    } catch (const Poco::Exception&) {
      return false;
    }
  }
  const fs::path& scratch() const { return t.path; }
};

struct PostgresBackend {
  static constexpr const char* kName = "postgresql";
  static constexpr const char* kAuditTable = "sandgate_quarantine_audit";
  TempDir t;
  PgCluster* cluster = nullptr;
  std::string db;
  bool available(std::string* why) {
    cluster = shared_cluster(why);
    if (!cluster) return false;
    static std::atomic<int> counter{0};
    db = "t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    if (!cluster->create_database(db)) {
      *why = "CREATE DATABASE failed; see " + cluster->dir() + "/cmd.log";
      return false;
    }
    return true;
  }
  PostgresStoreOptions options() const {
    PostgresStoreOptions o;
    o.conninfo = cluster->conninfo(db);
    o.scratch_parent = (t.path / "scratch").string();
    o.connect_timeout_s = 5;
    return o;
  }
  std::unique_ptr<QuarantineStore> open(std::string* error) {
    return PostgresStore::open(options(), error);
  }
  bool try_edit_audit(const std::string& sql) { return cluster->psql(db, sql) == 0; }
  const fs::path& scratch() const { return t.path; }
};

}  // namespace sandgate::testing

// First line of every backend-parameterised test: skips (passing, loudly)
// when the backend cannot run here.
#define SANDGATE_REQUIRE_BACKEND(b)                                            \
  do {                                                                         \
    std::string why_;                                                          \
    if (!(b).available(&why_)) {                                               \
      MESSAGE("SKIPPED (" << std::string((b).kName) << " backend): " << why_); \
      return;                                                                  \
    }                                                                          \
  } while (0)
