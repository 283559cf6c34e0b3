// Tests of what only the PostgreSQL quarantine backend does, against a real
// throwaway server (pg_cluster.h): the database going down and coming back
// (put fails, never reports success; the next call reconnects), open() on a
// stopped server, schema creation by several processes at once, TRUNCATE of
// the audit table refused, the content size cap, two nodes racing to release
// one item, large content, and the backend choice in open_quarantine_store.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "gateway/quarantine/open_store.h"
#include "tests/gateway/quarantine/store_fixtures.h"

using namespace sandgate;
using namespace sandgate::testing;

TEST_CASE("postgresql: database down fails put (never success); the next put reconnects") {
  PostgresBackend b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  auto before =
      store->put(write_file(b.scratch() / "a", "before"), mail_item("a@x", "b@y", "r"), &err);
  REQUIRE_MESSAGE(before, err);

  REQUIRE(b.cluster->stop_immediate());
  // Every operation fails with an error; nothing throws; put returns no id.
  std::string src = write_file(b.scratch() / "down", "while down");
  for (int i = 0; i < 3; ++i) {
    err.clear();
    auto id = store->put(src, mail_item("down@x", "b@y", "r"), &err);
    CHECK_FALSE(id);
    CHECK_MESSAGE(!err.empty(), "put failed without an error");
  }
  err.clear();
  CHECK(store->list({}, &err).empty());
  CHECK_FALSE(err.empty());
  CHECK_FALSE(store->get(*before, &err));
  CHECK_FALSE(store->set_state(*before, QuarantineState::released, "admin", &err));
  CHECK_FALSE(store->purge(INT64_MAX, "admin", &err));
  CHECK_FALSE(store->content_path(*before, &err));
  err.clear();
  CHECK(store->audit("", &err).empty());
  CHECK_FALSE(err.empty());
  // A new store cannot be opened either, and says why.
  err.clear();
  CHECK_FALSE(b.open(&err));
  CHECK(err.find("connect") != std::string::npos);

  REQUIRE(b.cluster->restart());
  // The same store object reconnects by itself: the first call succeeds.
  err.clear();
  auto after =
      store->put(write_file(b.scratch() / "b", "after"), mail_item("up@x", "b@y", "r"), &err);
  REQUIRE_MESSAGE(after, err);
  auto items = store->list({}, &err);
  REQUIRE(items.size() == 2);  // the failed puts left nothing behind
  CHECK(items[0].id == *before);
  CHECK(items[1].id == *after);
  CHECK(read_file(*store->content_path(*before, &err)) == "before");
  CHECK(store->set_state(*before, QuarantineState::released, "admin", &err));
  QuarantineFilter down;
  down.sender = "down@";
  CHECK(store->list(down, &err).empty());
}

TEST_CASE("postgresql: a server restart between calls costs no failure (pooled connections)") {
  PostgresBackend b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  // Several idle connections in the pool, all of which die with the server.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      std::string e;
      if (store->put(write_file(b.scratch() / ("w" + std::to_string(i)), "w"),
                     mail_item("w@x", "b@y", "r"), &e))
        ++ok;
    });
  for (auto& t : threads) t.join();
  REQUIRE(ok == 4);
  REQUIRE(b.cluster->stop_immediate());
  REQUIRE(b.cluster->restart());
  for (int i = 0; i < 6; ++i) {
    auto id = store->put(write_file(b.scratch() / "x", "x"), mail_item("x@x", "b@y", "r"), &err);
    CHECK_MESSAGE(id, err);
  }
  CHECK(store->list({}, &err).size() == 10);
}

TEST_CASE("postgresql: several processes creating the schema at once all succeed") {
  PostgresBackend b;
  SANDGATE_REQUIRE_BACKEND(b);
  // The database is empty: each child races to create the tables.
  int go[2];
  REQUIRE(pipe(go) == 0);
  constexpr int kProcs = 4;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(go[1]);
      char c;
      if (read(go[0], &c, 1) != 0) _exit(2);  // released when the parent closes
      std::string e;
      auto store = b.open(&e);
      if (!store) _exit(3);
      if (!store->put(write_file(b.scratch() / ("s" + std::to_string(p)), "s"),
                      mail_item("a@x", "b@y", "r"), &e))
        _exit(4);
      _exit(0);
    }
    kids.push_back(pid);
  }
  close(go[0]);
  close(go[1]);  // all children start at once
  for (pid_t pid : kids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  CHECK(store->list({}, &err).size() == kProcs);
}

TEST_CASE("postgresql: the audit table refuses TRUNCATE and the trigger cannot be skipped") {
  PostgresBackend b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  auto a = store->put(write_file(b.scratch() / "a", "x"), mail_item("a@x", "b@y", "r"), &err);
  REQUIRE(a);
  CHECK_FALSE(b.try_edit_audit("TRUNCATE sandgate_quarantine_audit"));
  CHECK_FALSE(b.try_edit_audit("UPDATE sandgate_quarantine_audit SET item_id = 'x'"));
  CHECK_FALSE(
      b.try_edit_audit("DELETE FROM sandgate_quarantine_audit WHERE item_id = '" + *a + "'"));
  // Deleting the item row through SQL does not touch its audit trail.
  CHECK(b.try_edit_audit("DELETE FROM sandgate_quarantine_items WHERE id = '" + *a + "'"));
  CHECK(store->audit(*a, &err).size() == 1);
  // Reopening (schema already there) keeps the triggers.
  store.reset();
  store = b.open(&err);
  REQUIRE_MESSAGE(store, err);
  CHECK_FALSE(b.try_edit_audit("DELETE FROM sandgate_quarantine_audit"));
}

TEST_CASE("postgresql: large content round trips exactly; content over the cap is refused") {
  PostgresBackend b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  PostgresStoreOptions o = b.options();
  o.max_content_bytes = 4u << 20;
  auto store = PostgresStore::open(o, &err);
  REQUIRE_MESSAGE(store, err);
  std::string big;
  big.reserve(3u << 20);
  for (size_t i = 0; i < (3u << 20); ++i) big.push_back(static_cast<char>((i * 7919) >> 3));
  auto id = store->put(write_file(b.scratch() / "big", big), mail_item("a@x", "b@y", "r"), &err);
  REQUIRE_MESSAGE(id, err);
  auto path = store->content_path(*id, &err);
  REQUIRE_MESSAGE(path, err);
  CHECK(read_file(*path) == big);
  CHECK(store->get(*id, &err)->size == big.size());
  // The copy lives in a private directory under scratch_parent.
  CHECK(fs::path(*path).parent_path().parent_path() == b.scratch() / "scratch");
  std::string scratch_dir = fs::path(*path).parent_path().string();

  std::string too_big(o.max_content_bytes + 1, 'x');
  CHECK_FALSE(
      store->put(write_file(b.scratch() / "huge", too_big), mail_item("a@x", "b@y", "r"), &err));
  CHECK(err.find("larger than") != std::string::npos);
  CHECK(store->list({}, &err).size() == 1);
  // The scratch copies go with the store object.
  store.reset();
  CHECK_FALSE(fs::exists(scratch_dir));
}

TEST_CASE("postgresql: two nodes releasing one item: exactly one wins, one audit record") {
  PostgresBackend b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  auto node1 = b.open(&err);
  auto node2 = b.open(&err);
  REQUIRE(node1);
  REQUIRE(node2);
  for (int round = 0; round < 10; ++round) {
    auto id = node1->put(write_file(b.scratch() / "r", "r"), mail_item("a@x", "b@y", "r"), &err);
    REQUIRE(id);
    std::atomic<int> wins{0};
    std::thread t1([&] {
      std::string e;
      if (node1->set_state(*id, QuarantineState::released, "node1", &e)) ++wins;
    });
    std::thread t2([&] {
      std::string e;
      if (node2->set_state(*id, QuarantineState::released, "node2", &e)) ++wins;
    });
    t1.join();
    t2.join();
    CHECK(wins == 1);
    CHECK(node2->audit(*id, &err).size() == 2);
  }
}

TEST_CASE("open_quarantine_store picks the backend from the configuration") {
  TempDir t;
  std::string err;
  QuarantineConfig q;
  // Directory backend, default place under the data directory.
  auto d = open_quarantine_store(q, (t.path / "data").string(), &err);
  REQUIRE_MESSAGE(d, err);
  CHECK(dynamic_cast<DirectoryStore*>(d.get()));
  CHECK(fs::exists(t.path / "data" / "quarantine" / "index.sqlite"));
  q.dir = (t.path / "elsewhere").string();
  REQUIRE(open_quarantine_store(q, (t.path / "data").string(), &err));
  CHECK(fs::exists(t.path / "elsewhere" / "index.sqlite"));

  q.backend = "cassandra";
  CHECK_FALSE(open_quarantine_store(q, "", &err));
  CHECK(err.find("unknown quarantine backend") != std::string::npos);
  q.backend = "postgresql";
  q.postgresql = "";
  CHECK_FALSE(open_quarantine_store(q, "", &err));
  CHECK(err.find("connection string") != std::string::npos);
  // Unreachable server: an error, not an exception and not a hang.
  q.postgresql = "host=" + (t.path / "nowhere").string() + " dbname=x connect_timeout=2";
  CHECK_FALSE(open_quarantine_store(q, "", &err));
  CHECK(err.find("connect") != std::string::npos);

  PostgresBackend b;
  SANDGATE_REQUIRE_BACKEND(b);
  q.postgresql = b.cluster->conninfo(b.db);
  auto p = open_quarantine_store(q, (t.path / "data").string(), &err);
  REQUIRE_MESSAGE(p, err);
  CHECK(dynamic_cast<PostgresStore*>(p.get()));
  auto id = p->put(write_file(t.path / "m", "m"), mail_item("a@x", "b@y", "r"), &err);
  REQUIRE_MESSAGE(id, err);
  // Content copies for release/export go under the data directory.
  auto path = p->content_path(*id, &err);
  REQUIRE(path);
  CHECK(path->rfind((t.path / "data").string() + "/quarantine-pg-", 0) == 0);
}

TEST_CASE("postgresql: a least-privilege gateway role works and cannot touch the audit trail") {
  PostgresBackend b;
  SANDGATE_REQUIRE_BACKEND(b);
  std::string err;
  // The owner (here the superuser) creates the schema once, as in
  // docs/quarantine.md; the gateway role gets exactly the documented grants.
  REQUIRE_MESSAGE(b.open(&err), err);
  const std::string gw = "gw_" + b.db;
  REQUIRE(b.cluster->psql(b.db, "CREATE ROLE " + gw + " LOGIN") == 0);
  REQUIRE(b.cluster->psql(
              b.db, "GRANT USAGE ON SCHEMA public TO " + gw +
                        "; GRANT SELECT, INSERT, UPDATE, DELETE ON sandgate_quarantine_items, "
                        "sandgate_quarantine_content TO " +
                        gw + "; GRANT SELECT ON sandgate_quarantine_meta TO " + gw +
                        "; GRANT SELECT, INSERT ON sandgate_quarantine_audit TO " + gw +
                        "; GRANT USAGE ON SEQUENCE sandgate_quarantine_audit_seq_seq TO " + gw) ==
          0);
  PostgresStoreOptions o = b.options();
  o.conninfo = b.cluster->conninfo(b.db, gw);
  auto store = PostgresStore::open(o, &err);  // no DDL attempted
  REQUIRE_MESSAGE(store, err);
  auto a = store->put(write_file(b.scratch() / "a", "a"), mail_item("a@x", "b@y", "r"), &err);
  REQUIRE_MESSAGE(a, err);
  CHECK(store->list({}, &err).size() == 1);
  CHECK(read_file(*store->content_path(*a, &err)) == "a");
  CHECK(store->set_state(*a, QuarantineState::deleted, "admin", &err));
  CHECK(store->purge(INT64_MAX, "retention", &err) == 1u);
  CHECK(store->audit(*a, &err).size() == 3);
  // The gateway role cannot remove the trigger that protects the trail.
  auto as_gw = [&](const std::string& sql) { return b.cluster->psql(b.db, sql, gw) == 0; };
  CHECK_FALSE(
      as_gw("DROP TRIGGER sandgate_quarantine_audit_no_change ON sandgate_quarantine_audit"));
  CHECK_FALSE(as_gw("ALTER TABLE sandgate_quarantine_audit DISABLE TRIGGER ALL"));
  CHECK_FALSE(as_gw("DELETE FROM sandgate_quarantine_audit"));
  CHECK_FALSE(as_gw("UPDATE sandgate_quarantine_audit SET actor = 'x'"));
  CHECK(as_gw("SELECT count(*) FROM sandgate_quarantine_audit"));
}
