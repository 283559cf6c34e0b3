// The QuarantineStore contract, run against every backend (directory +
// SQLite, PostgreSQL): round trip, list filters, the state machine and its
// audit trail, audit immutability (also against a direct SQL client),
// concurrent writers (threads and processes), purge, bad input. Backend-only
// behaviour lives in directory_store_test.cc and postgres_store_test.cc.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "tests/gateway/quarantine/store_fixtures.h"

using namespace sandgate;
using namespace sandgate::testing;

#define BACKENDS DirectoryBackend, PostgresBackend

TEST_CASE_TEMPLATE("put then get returns the metadata and the exact content", B, BACKENDS) {
  B b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  std::string content = "From: a@b\r\nSubject: x\r\n\r\nbody\r\n";
  content += std::string("\0\x01\xff\x80 binary", 12);
  auto id = store->put(
      write_file(b.scratch() / "in.eml", content),
      mail_item("Eve@Evil.example", "bob@corp.example", "block-exe x type.executable"), &err);
  REQUIRE_MESSAGE(id, err);
  CHECK(is_quarantine_id(*id));
  auto got = store->get(*id, &err);
  REQUIRE_MESSAGE(got, err);
  CHECK(got->id == *id);
  CHECK(got->channel == "mail");
  CHECK(got->sender == "Eve@Evil.example");
  CHECK(got->recipients == std::vector<std::string>{"bob@corp.example", "second@example.org"});
  CHECK(got->subject == "Invoice\r\nBcc: x");
  CHECK(got->file_names == std::vector<std::string>{"invoice.exe"});
  CHECK(got->reasons == std::vector<std::string>{"block-exe x type.executable"});
  CHECK(got->report_json == "{\"verdict\":\"quarantine\"}");
  CHECK(got->size == content.size());
  CHECK(got->state == QuarantineState::held);
  CHECK(got->created_unix_ms > 1'600'000'000'000);
  auto path = store->content_path(*id, &err);
  REQUIRE_MESSAGE(path, err);
  CHECK(read_file(*path) == content);
  CHECK(fs::exists(b.scratch() / "in.eml"));  // the caller keeps its file
  CHECK_FALSE(store->get("0123456789abcdef0123456789abcdef", &err));
  CHECK(err.find("no quarantined item") != std::string::npos);
  CHECK_FALSE(store->get("../../etc/passwd", &err));
  CHECK_FALSE(store->get("'; DROP TABLE x; --", &err));
  CHECK_FALSE(store->content_path("ffffffffffffffffffffffffffffffff", &err));

  // Another store object (another process or node) sees the same item.
  store.reset();
  auto again = b.open(&err);
  REQUIRE_MESSAGE(again, err);
  auto seen = again->get(*id, &err);
  REQUIRE(seen);
  CHECK(seen->sender == "Eve@Evil.example");
  std::string j = quarantine_item_to_json(*seen, true);
  CHECK(j.find("\"id\":\"" + *id + "\"") != std::string::npos);
  CHECK(j.find("\"report\":{\"verdict\":\"quarantine\"}") != std::string::npos);
  auto records = again->audit(*id, &err);
  REQUIRE(records.size() == 1);
  CHECK(records[0].action == "held");
  CHECK(records[0].actor == "intake");
  CHECK(records[0].to_state == "held");
}

TEST_CASE_TEMPLATE("list filters by sender, recipient, reason, state and time", B, BACKENDS) {
  B b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  auto a =
      store->put(write_file(b.scratch() / "a", "AAA"),
                 mail_item("alice@x.example", "bob@corp.example", "r1 o type.executable"), &err);
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  auto c =
      store->put(write_file(b.scratch() / "b", "BBB"),
                 mail_item("mallory@y.example", "carol@corp.example", "r2 o macro.autoexec"), &err);
  REQUIRE(a);
  REQUIRE(c);
  QuarantineFilter f;
  auto l = store->list(f, &err);
  CHECK(err.empty());
  REQUIRE(l.size() == 2);
  CHECK(l[0].id == *a);  // oldest first
  f.sender = "ALICE";
  l = store->list(f, &err);
  REQUIRE(l.size() == 1);
  CHECK(l[0].id == *a);
  f = {};
  f.recipient = "carol@";
  l = store->list(f, &err);
  REQUIRE(l.size() == 1);
  CHECK(l[0].id == *c);
  f = {};
  f.reason = "macro";
  CHECK(store->list(f, &err).size() == 1);
  f.reason = "nothing-like-this";
  CHECK(store->list(f, &err).empty());
  f.reason = "MACRO";  // reasons match exactly (case-sensitive)
  CHECK(store->list(f, &err).empty());
  f = {};
  int64_t ta = store->get(*a, &err)->created_unix_ms;
  int64_t tc = store->get(*c, &err)->created_unix_ms;
  f.until_unix_ms = ta - 1;
  CHECK(store->list(f, &err).empty());
  f = {};
  f.since_unix_ms = ta;
  CHECK(store->list(f, &err).size() == 2);
  f.since_unix_ms = tc;
  l = store->list(f, &err);
  REQUIRE(l.size() == (ta == tc ? 2u : 1u));
  CHECK(l.back().id == *c);
  REQUIRE(store->set_state(*a, QuarantineState::released, "test", &err));
  f = {};
  f.state = QuarantineState::held;
  l = store->list(f, &err);
  REQUIRE(l.size() == 1);
  CHECK(l[0].id == *c);
  f.state = QuarantineState::released;
  l = store->list(f, &err);
  REQUIRE(l.size() == 1);
  CHECK(l[0].id == *a);
  CHECK(l[0].state == QuarantineState::released);
}

TEST_CASE_TEMPLATE("state changes follow held -> released/deleted and are audited", B, BACKENDS) {
  B b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  // Two items with the same content.
  auto a = store->put(write_file(b.scratch() / "a", "same"), mail_item("a@x", "b@y", "r"), &err);
  auto c = store->put(write_file(b.scratch() / "b", "same"), mail_item("a@x", "b@y", "r"), &err);
  REQUIRE(a);
  REQUIRE(c);
  CHECK(*a != *c);

  CHECK(store->set_state(*a, QuarantineState::released, "admin1", &err));
  CHECK_FALSE(store->set_state(*a, QuarantineState::released, "admin1", &err));
  CHECK(err.find("released") != std::string::npos);
  CHECK_FALSE(store->set_state(*a, QuarantineState::held, "admin1", &err));
  CHECK(store->get(*a, &err)->state == QuarantineState::released);
  // Released content is still there (export after release).
  auto pa = store->content_path(*a, &err);
  REQUIRE_MESSAGE(pa, err);
  CHECK(read_file(*pa) == "same");
  CHECK(store->set_state(*a, QuarantineState::deleted, "admin2", &err));
  CHECK_FALSE(store->set_state(*a, QuarantineState::released, "admin2", &err));
  CHECK_FALSE(store->content_path(*a, &err));
  CHECK(err.find("deleted") != std::string::npos);
  // The other item with the same bytes keeps them.
  auto pc = store->content_path(*c, &err);
  REQUIRE_MESSAGE(pc, err);
  CHECK(read_file(*pc) == "same");
  CHECK(store->set_state(*c, QuarantineState::deleted, "admin2", &err));
  CHECK_FALSE(store->content_path(*c, &err));
  CHECK_FALSE(
      store->set_state("ffffffffffffffffffffffffffffffff", QuarantineState::deleted, "x", &err));
  CHECK(err.find("no quarantined item") != std::string::npos);
  CHECK_FALSE(store->set_state("not-an-id", QuarantineState::deleted, "x", &err));

  auto audit = store->audit(*a, &err);
  REQUIRE(audit.size() == 3);
  CHECK(audit[0].action == "held");
  CHECK(audit[1].action == "released");
  CHECK(audit[1].actor == "admin1");
  CHECK(audit[1].from_state == "held");
  CHECK(audit[1].to_state == "released");
  CHECK(audit[2].action == "deleted");
  CHECK(audit[2].from_state == "released");
  CHECK(audit[2].actor == "admin2");
  CHECK(audit[1].time_unix_ms >= audit[0].time_unix_ms);
  CHECK(audit[1].seq > audit[0].seq);
  CHECK(audit[2].seq > audit[1].seq);
  // held a, held c, released a, deleted a, deleted c; refusals record nothing.
  CHECK(store->audit("", &err).size() == 5);
  CHECK(store->audit("not-an-id", &err).empty());
}

TEST_CASE_TEMPLATE("audit records cannot be edited or removed, even with SQL", B, BACKENDS) {
  B b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  auto a = store->put(write_file(b.scratch() / "a", "x"), mail_item("a@x", "b@y", "r"), &err);
  REQUIRE(a);
  REQUIRE(store->set_state(*a, QuarantineState::released, "admin", &err));
  const std::string table = B::kAuditTable;
  // A database client (an administrator covering tracks) is refused.
  CHECK_FALSE(b.try_edit_audit("UPDATE " + table + " SET actor = 'mallory'"));
  CHECK_FALSE(b.try_edit_audit("DELETE FROM " + table));
  // ...while the same client can read it (the refusal is the trigger, not a
  // broken connection).
  CHECK(b.try_edit_audit("SELECT COUNT(*) FROM " + table));
  auto records = store->audit(*a, &err);
  REQUIRE(records.size() == 2);
  CHECK(records[1].actor == "admin");
  // Purge removes the item but keeps its whole history, plus "purged".
  REQUIRE(store->purge(INT64_MAX, "admin", &err) == 1u);
  records = store->audit(*a, &err);
  REQUIRE(records.size() == 3);
  CHECK(records[2].action == "purged");
  CHECK(records[2].from_state == "released");
  CHECK_FALSE(store->get(*a, &err));
}

TEST_CASE_TEMPLATE("concurrent writers from several threads all land, with unique ids", B,
                   BACKENDS) {
  B b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  constexpr int kThreads = 6, kPerThread = 12;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string name = "in-" + std::to_string(th) + "-" + std::to_string(i);
        std::string content = "message " + name;
        std::string e;
        auto id = store->put(write_file(b.scratch() / name, i % 3 == 0 ? "common" : content),
                             mail_item("s" + std::to_string(th) + "@x", "r@y", "r"), &e);
        if (id) {
          ids[th].push_back(*id);
        } else {
          errors[th] = e;
        }
      }
    });
  }
  // A second store object on the same storage reads and changes states meanwhile.
  auto other = b.open(&err);
  REQUIRE_MESSAGE(other, err);
  for (int i = 0; i < 20; ++i) {
    auto items = other->list({}, &err);
    if (!items.empty()) other->set_state(items.front().id, QuarantineState::released, "o", &err);
  }
  for (auto& th : threads) th.join();
  for (const auto& e : errors) CHECK_MESSAGE(e.empty(), e);
  std::set<std::string> all;
  for (auto& v : ids) all.insert(v.begin(), v.end());
  CHECK(all.size() == kThreads * kPerThread);
  CHECK(other->list({}, &err).size() == kThreads * kPerThread);
  for (const auto& id : all) {
    auto p = other->content_path(id, &err);
    REQUIRE_MESSAGE(p, err);
  }
  size_t released = 0;
  for (const auto& it : other->list({}, &err))
    if (it.state == QuarantineState::released) ++released;
  auto audit = other->audit("", &err);
  CHECK(audit.size() == kThreads * kPerThread + released);
}

TEST_CASE_TEMPLATE("several processes writing one store lose nothing", B, BACKENDS) {
  B b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  REQUIRE_MESSAGE(b.open(&err), err);
  constexpr int kProcs = 3, kEach = 10;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::string e;
      auto store = b.open(&e);
      if (!store) _exit(3);
      for (int i = 0; i < kEach; ++i) {
        std::string src =
            write_file(b.scratch() / ("p" + std::to_string(p) + "-" + std::to_string(i)),
                       "content " + std::to_string(p * 100 + i));
        if (!store->put(src, mail_item("p" + std::to_string(p) + "@x", "b@y", "r"), &e)) _exit(4);
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
  auto store = b.open(&err);
  REQUIRE(store);
  auto items = store->list({}, &err);
  CHECK(items.size() == kProcs * kEach);
  for (int p = 0; p < kProcs; ++p) {
    QuarantineFilter f;
    f.sender = "p" + std::to_string(p) + "@";
    CHECK(store->list(f, &err).size() == kEach);
  }
  CHECK(store->audit("", &err).size() == kProcs * kEach);
}

TEST_CASE_TEMPLATE("purge removes old items and their content, keeps newer ones", B, BACKENDS) {
  B b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  auto a = store->put(write_file(b.scratch() / "a", "old"), mail_item("a@x", "b@y", "r"), &err);
  REQUIRE(a);
  REQUIRE(store->set_state(*a, QuarantineState::released, "admin", &err));
  auto d = store->put(write_file(b.scratch() / "d", "old2"), mail_item("a@x", "b@y", "r"), &err);
  REQUIRE(d);
  REQUIRE(store->set_state(*d, QuarantineState::deleted, "admin", &err));
  int64_t cutoff = store->get(*d, &err)->created_unix_ms + 1;
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto c = store->put(write_file(b.scratch() / "c", "new"), mail_item("a@x", "b@y", "r"), &err);
  REQUIRE(c);
  CHECK(store->purge(0, "retention", &err) == 0u);  // nothing that old
  auto n = store->purge(cutoff, "retention", &err);
  REQUIRE_MESSAGE(n, err);
  CHECK(*n == 2);
  CHECK_FALSE(store->get(*a, &err));
  CHECK_FALSE(store->get(*d, &err));
  CHECK_FALSE(store->content_path(*a, &err));
  REQUIRE(store->get(*c, &err));
  CHECK(read_file(*store->content_path(*c, &err)) == "new");
  CHECK(store->list({}, &err).size() == 1);
  auto records = store->audit(*d, &err);
  REQUIRE(records.size() == 3);
  CHECK(records[2].action == "purged");
  CHECK(records[2].actor == "retention");
  CHECK(records[2].from_state == "deleted");
  CHECK(store->purge(cutoff, "retention", &err) == 0u);  // idempotent
}

TEST_CASE_TEMPLATE("unreadable content is refused and nothing is stored", B, BACKENDS) {
  B b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  CHECK_FALSE(store->put((b.scratch() / "missing").string(), mail_item("a@x", "b@y", "r"), &err));
  CHECK(err.find("cannot open content") != std::string::npos);
  CHECK(store->list({}, &err).empty());
  CHECK(err.empty());
  CHECK(store->audit("", &err).empty());
}

TEST_CASE_TEMPLATE("hostile metadata (NUL, invalid UTF-8, quotes) never makes put fail", B,
                   BACKENDS) {
  B b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  QuarantineItem it = mail_item("x'); DROP TABLE items; --@x", "b@y", "r");
  it.subject = std::string("Caf\xe9 \xc3\xa9t\xc3\xa9 \0 end\xed\xa0\x80", 20);
  it.file_names = {std::string("a\0b.exe", 7), "\xff\xfe.doc"};
  auto id = store->put(write_file(b.scratch() / "m", "m"), it, &err);
  REQUIRE_MESSAGE(id, err);
  auto got = store->get(*id, &err);
  REQUIRE(got);
  CHECK(got->sender == "x'); DROP TABLE items; --@x");
  // Valid text survives exactly; the directory store keeps every byte, the
  // database one replaces what its text type cannot hold.
  CHECK(got->subject.find("\xc3\xa9t\xc3\xa9 ") != std::string::npos);
  CHECK(got->subject.rfind("Caf", 0) == 0);
  REQUIRE(got->file_names.size() == 2);
  CHECK(got->file_names[0].rfind("a", 0) == 0);
  CHECK(store->list({}, &err).size() == 1);
}

TEST_CASE_TEMPLATE("random bytes in every text field are stored, never refused", B, BACKENDS) {
  B b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  // Truncated, overlong, surrogate and out-of-range UTF-8 sequences, NULs and
  // lone continuation bytes, at the start, middle and end of each field.
  const std::vector<std::string> nasty = {
      "\xc0\xaf",
      "\xe0\x80\xaf",
      "\xed\xa0\x80",
      "\xf4\x90\x80\x80",
      "\xf8\x88\x80\x80\x80",
      "\x80",
      "\xbf",
      "\xc3",
      "\xe2\x82",
      "\xf0\x9f\x98",
      std::string(1, '\0'),
      "\xef\xbf\xbd",
      "\xf0\x9f\x98\x80",
      "'\\\"",
  };
  std::string src = write_file(b.scratch() / "r", "r");
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  for (int i = 0; i < 40; ++i) {
    auto field = [&] {
      std::string s;
      for (int k = 0; k < 6; ++k) {
        if (next() % 3 == 0) {
          s += nasty[next() % nasty.size()];
        } else {
          s += static_cast<char>(next() >> 16);
        }
      }
      return s;
    };
    QuarantineItem it = mail_item(field(), field(), field());
    it.subject = field();
    it.client_address = field();
    it.file_names = {field(), field()};
    it.profile = field();
    it.report_json = field();
    auto id = store->put(src, it, &err);
    REQUIRE_MESSAGE(id, err);
    auto got = store->get(*id, &err);
    REQUIRE_MESSAGE(got, err);
    CHECK(got->recipients.size() == 2);
    CHECK(got->file_names.size() == 2);
    CHECK(quarantine_item_to_json(*got, true).front() == '{');
  }
  CHECK(store->list({}, &err).size() == 40);
}
