// Tests of what only the directory + SQLite quarantine store does: content
// addressing and the on-disk layout, shared content files, the audit.jsonl
// log, and a simulated full disk. The behaviour every backend shares (filters,
// state machine, concurrency, purge) is in store_contract_test.cc.
#include "gateway/quarantine/directory_store.h"

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/Exception.h>
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace sandgate;

namespace {

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

std::string write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
  return p.string();
}

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

QuarantineItem mail_item(const std::string& sender, const std::string& rcpt,
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

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

}  // namespace

TEST_CASE("directory: put stores content-addressed bytes and get returns the metadata") {
  TempDir t;
  std::string err;
  auto store = DirectoryStore::open((t.path / "q").string(), &err);
  REQUIRE_MESSAGE(store, err);
  std::string content = "From: a@b\r\nSubject: x\r\n\r\nbody\r\n";
  auto id = store->put(
      write_file(t.path / "in.eml", content),
      mail_item("Eve@Evil.example", "bob@corp.example", "block-exe x type.executable"), &err);
  REQUIRE_MESSAGE(id, err);
  CHECK(id->size() == 32);
  auto got = store->get(*id, &err);
  REQUIRE(got);
  CHECK(got->id == *id);
  CHECK(got->sender == "Eve@Evil.example");
  CHECK(got->recipients == std::vector<std::string>{"bob@corp.example", "second@example.org"});
  CHECK(got->subject == "Invoice\r\nBcc: x");
  CHECK(got->size == content.size());
  CHECK(got->state == QuarantineState::held);
  CHECK(got->created_unix_ms > 1'600'000'000'000);
  auto path = store->content_path(*id, &err);
  REQUIRE(path);
  CHECK(read_file(*path) == content);
  // objects/HH/SHA256 of the content.
  CHECK(fs::path(*path).filename().string().size() == 64);
  CHECK(fs::path(*path).parent_path().filename().string() ==
        fs::path(*path).filename().string().substr(0, 2));
  // The caller keeps its file.
  CHECK(fs::exists(t.path / "in.eml"));
  // Nothing left in tmp/.
  CHECK(fs::is_empty(t.path / "q" / "tmp"));
  CHECK_FALSE(store->get("0123456789abcdef0123456789abcdef", &err));
  CHECK_FALSE(store->get("../../etc/passwd", &err));

  // Reopening (another process) sees the same item.
  store.reset();
  auto again = DirectoryStore::open((t.path / "q").string(), &err);
  REQUIRE(again);
  CHECK(again->get(*id, &err)->sender == "Eve@Evil.example");
  // JSON view carries the id and the report.
  std::string j = quarantine_item_to_json(*again->get(*id, &err), true);
  CHECK(j.find("\"id\":\"" + *id + "\"") != std::string::npos);
  CHECK(j.find("\"report\":{\"verdict\":\"quarantine\"}") != std::string::npos);
  CHECK(j.find("\\r\\n") != std::string::npos);  // control bytes escaped
}

TEST_CASE("directory: state changes follow held -> released/deleted and are audited") {
  TempDir t;
  std::string err;
  auto store = DirectoryStore::open((t.path / "q").string(), &err);
  REQUIRE(store);
  // Two items sharing one content file.
  auto a = store->put(write_file(t.path / "a", "same"), mail_item("a@x", "b@y", "r"), &err);
  auto b = store->put(write_file(t.path / "b", "same"), mail_item("a@x", "b@y", "r"), &err);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*store->content_path(*a, &err) == *store->content_path(*b, &err));

  CHECK(store->set_state(*a, QuarantineState::released, "admin1", &err));
  CHECK_FALSE(store->set_state(*a, QuarantineState::released, "admin1", &err));
  CHECK(err.find("released") != std::string::npos);
  CHECK(classify_store_error(err) == StoreFailure::conflict);
  CHECK_FALSE(store->set_state(*a, QuarantineState::held, "admin1", &err));
  CHECK(store->set_state(*a, QuarantineState::deleted, "admin2", &err));
  CHECK_FALSE(store->set_state(*a, QuarantineState::released, "admin2", &err));
  CHECK(classify_store_error(err) == StoreFailure::conflict);
  CHECK_FALSE(store->content_path(*a, &err));
  CHECK(classify_store_error(err) == StoreFailure::deleted);
  // b still holds the shared content.
  auto pb = store->content_path(*b, &err);
  REQUIRE(pb);
  CHECK(read_file(*pb) == "same");
  CHECK(store->set_state(*b, QuarantineState::deleted, "admin2", &err));
  CHECK_FALSE(fs::exists(*pb));
  CHECK_FALSE(
      store->set_state("ffffffffffffffffffffffffffffffff", QuarantineState::deleted, "x", &err));
  CHECK(classify_store_error(err) == StoreFailure::no_item);
  CHECK_FALSE(store->get("ffffffffffffffffffffffffffffffff", &err));
  CHECK(classify_store_error(err) == StoreFailure::no_item);

  auto audit = store->audit(*a, &err);
  REQUIRE(audit.size() == 3);
  CHECK(audit[0].action == "held");
  CHECK(audit[1].action == "released");
  CHECK(audit[1].actor == "admin1");
  CHECK(audit[2].action == "deleted");
  CHECK(audit[2].from_state == "released");
  CHECK(audit[2].actor == "admin2");
  CHECK(audit[1].time_unix_ms >= audit[0].time_unix_ms);
  // The JSON lines log holds the same records, one per line.
  std::string log = read_file((t.path / "q" / "audit.jsonl").string());
  // held a, held b, released a, deleted a, deleted b; refused changes log nothing.
  CHECK(std::count(log.begin(), log.end(), '\n') == 5);
  CHECK(log.find("\"actor\":\"admin1\",\"action\":\"released\"") != std::string::npos);
}

TEST_CASE("store errors: only the stores' own forms are told apart, anything else is unavailable") {
  CHECK(classify_store_error(store_error_no_item("abc")) == StoreFailure::no_item);
  CHECK(classify_store_error(store_error_deleted("abc")) == StoreFailure::deleted);
  CHECK(classify_store_error(store_error_transition("abc", "deleted", "released")) ==
        StoreFailure::conflict);
  // Database and disk errors use words of their own; they must not become a
  // 404 or 409 that tells a client to give up.
  for (const char* other : {"Not found: column state", "table items not found",
                            "no quarantined item", "item abc is deleted (disk I/O error)",
                            "item abc is corrupt, cannot become held", "item  is deleted",
                            "database is locked", ""})
    CHECK_MESSAGE(classify_store_error(other) == StoreFailure::unavailable, other);
}

TEST_CASE("directory: audit records cannot be edited or removed, and the log only grows") {
  TempDir t;
  std::string err;
  std::string dir = (t.path / "q").string();
  auto store = DirectoryStore::open(dir, &err);
  REQUIRE(store);
  auto a = store->put(write_file(t.path / "a", "x"), mail_item("a@x", "b@y", "r"), &err);
  REQUIRE(a);
  std::string before = read_file(dir + "/audit.jsonl");
  REQUIRE(store->set_state(*a, QuarantineState::released, "admin", &err));
  REQUIRE(store->purge(INT64_MAX, "admin", &err) == 1u);
  std::string after = read_file(dir + "/audit.jsonl");
  CHECK(after.size() > before.size());
  CHECK(after.compare(0, before.size(), before) == 0);  // old lines untouched
  // Even a direct SQL client is refused by the triggers.
  Poco::Data::SQLite::Connector::registerConnector();
  Poco::Data::Session db("SQLite", dir + "/index.sqlite");
  using namespace Poco::Data::Keywords;
  CHECK_THROWS_AS((db << "UPDATE audit SET actor = 'mallory'", now), Poco::Exception);
  CHECK_THROWS_AS((db << "DELETE FROM audit", now), Poco::Exception);
  // Purge removed the item but kept its whole history, plus a "purged" record.
  auto audit = store->audit(*a, &err);
  REQUIRE(audit.size() == 3);
  CHECK(audit[2].action == "purged");
  CHECK_FALSE(store->get(*a, &err));
}

TEST_CASE("directory: a failed write (store full) returns nullopt and leaves nothing listed") {
  TempDir t;
  std::string err;
  std::string dir = (t.path / "q").string();
  {
    auto store = DirectoryStore::open(dir, &err);
    REQUIRE(store);
  }
  std::string big = write_file(t.path / "big", std::string(1 << 20, 'x'));
  // RLIMIT_FSIZE in a child makes every write past 64 KiB fail with EFBIG,
  // as a full file system would fail with ENOSPC; no mount needed.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    rlimit lim{64 << 10, 64 << 10};
    setrlimit(RLIMIT_FSIZE, &lim);
    std::string e;
    auto store = DirectoryStore::open(dir, &e);
    if (!store) _exit(3);
    auto id = store->put(big, mail_item("a@x", "b@y", "r"), &e);
    if (id) _exit(4);
    if (e.find("cannot write") == std::string::npos) _exit(5);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  auto store = DirectoryStore::open(dir, &err);
  REQUIRE(store);
  CHECK(store->list({}, &err).empty());
  CHECK(err.empty());
  CHECK(fs::is_empty(fs::path(dir) / "tmp"));
  CHECK(count_files(fs::path(dir) / "objects") == 0);
  CHECK(store->audit("", &err).empty());

  // A store whose path runs through a regular file cannot be opened at all.
  write_file(t.path / "plainfile", "x");
  CHECK_FALSE(DirectoryStore::open((t.path / "plainfile" / "q").string(), &err));
  CHECK_FALSE(err.empty());
  // Missing content: nullopt with an error, nothing stored.
  CHECK_FALSE(store->put((t.path / "missing").string(), mail_item("a@x", "b@y", "r"), &err));
  CHECK(err.find("cannot open content") != std::string::npos);
  CHECK(store->list({}, &err).empty());
}

TEST_CASE("directory: several processes writing one store (SQLite locking) lose nothing") {
  TempDir t;
  std::string err;
  std::string dir = (t.path / "q").string();
  REQUIRE(DirectoryStore::open(dir, &err));
  constexpr int kProcs = 3, kEach = 10;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::string e;
      auto store = DirectoryStore::open(dir, &e);
      if (!store) _exit(3);
      for (int i = 0; i < kEach; ++i) {
        std::string src = write_file(t.path / ("p" + std::to_string(p) + "-" + std::to_string(i)),
                                     "content " + std::to_string(p * 100 + i));
        if (!store->put(src, mail_item("a@x", "b@y", "r"), &e)) _exit(4);
      }
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  auto store = DirectoryStore::open(dir, &err);
  REQUIRE(store);
  CHECK(store->list({}, &err).size() == kProcs * kEach);
  std::string log = read_file(dir + "/audit.jsonl");
  CHECK(std::count(log.begin(), log.end(), '\n') == kProcs * kEach);
}
