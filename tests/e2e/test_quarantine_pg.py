#!/usr/bin/env python3
# End-to-end: `sandgate quarantine list/show/release/delete/export/purge
# --config FILE` against the PostgreSQL backend (issue 10), on a throwaway
# local cluster (pg_cluster.py; the suite is skipped when PostgreSQL is not
# installed). The binary creates the schema on first use; items are then
# seeded with psql the way the intake stores them (item row, content row,
# "held" audit row), as a second node sharing the database would. Release
# goes to a loopback SMTP sink run by this test.
import json
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from pg_cluster import PgCluster, PgError  # noqa: E402
from test_quarantine_cli import QuarantineCase, sandgate  # noqa: E402


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


class QuarantinePostgres(QuarantineCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PgCluster()
        cls.db_counter = 0

    @classmethod
    def tearDownClass(cls):
        cls.pg.close()

    def setUp(self):
        if not self.pg.running:
            self.pg.restart()
        type(self).db_counter += 1
        self.db = "e2e%d" % self.db_counter
        self.pg.create_database(self.db)
        self.start("sg-quar-pg-")
        self.config = os.path.join(self.tmp.name, "sandgate.yaml")
        with open(self.config, "w") as f:
            f.write("data_dir: var\n"
                    "quarantine:\n"
                    "  backend: postgresql\n"
                    "  postgresql: %s\n" % json.dumps(self.pg.conninfo(self.db)))
        self.store_args = ["--config", self.config]

    def sql(self, text):
        return self.pg.psql(self.db, text)

    def seed(self, content, channel="mail", sender="eve@evil.example",
             rcpts=("bob@corp.example",),
             reasons=("block-executables invoice.zip/a.exe type.executable",),
             created_ms=None, files=("invoice.zip",)):
        """Stores one item as another node's intake would (schema exists)."""
        item_id = os.urandom(16).hex()
        created = created_ms if created_ms is not None else int(time.time() * 1000)
        report = json.dumps({"verdict": "quarantine", "objects": [{"path": "invoice.zip"}]})
        values = [sql_str(item_id), str(created), sql_str(channel), sql_str(channel),
                  sql_str("0" * 64), sql_str(sender), sql_str(json.dumps(list(rcpts))),
                  sql_str("127.0.0.1"), sql_str("Invoice"), sql_str(json.dumps(list(files))),
                  str(len(content)), "'quarantine'", "'quarantine'",
                  sql_str(json.dumps(list(reasons))), sql_str(report), "'held'",
                  sql_str("0" * 64), "'intake'", str(created)]
        self.sql(
            "BEGIN;"
            "INSERT INTO sandgate_quarantine_items (id, created_ms, channel, profile, "
            "policy_sha256, sender, recipients, client_address, subject, file_names, size, "
            "verdict, action, reasons, report_json, state, content_sha256, state_actor, "
            "state_changed_ms) VALUES (%s);"
            "INSERT INTO sandgate_quarantine_content (item_id, bytes) VALUES (%s, "
            "decode('%s', 'hex'));"
            "INSERT INTO sandgate_quarantine_audit (time_ms, item_id, actor, action, from_state, "
            "to_state) VALUES (%d, %s, 'intake', 'held', '', 'held');"
            "COMMIT;" % (", ".join(values), sql_str(item_id), content.hex(), created,
                         sql_str(item_id)))
        return item_id

    def test_list_show_release_audit(self):
        out, _ = self.q("list", "--json")  # creates the schema
        self.assertEqual(json.loads(out), [])
        self.assertIn("sandgate_quarantine_audit", self.sql("\\dt"))
        msg = (b"From: eve@evil.example\r\nTo: bob@corp.example\r\nSubject: Invoice\r\n\r\n"
               b"Please see attached.\r\n.leading dot line\r\n\x00\xff binary tail\r\n")
        mid = self.seed(msg)
        up = self.seed(b"MZ\x90\x00upload", channel="upload", sender="", rcpts=(),
                       reasons=("block-exe a.exe type.executable",), files=("a.exe",))

        items = json.loads(self.q("list", "--json")[0])
        self.assertEqual({i["id"] for i in items}, {mid, up})
        by_id = {i["id"]: i for i in items}
        self.assertEqual(by_id[mid]["sender"], "eve@evil.example")
        self.assertEqual(by_id[mid]["recipients"], ["bob@corp.example"])
        self.assertEqual(by_id[mid]["state"], "held")
        self.assertEqual([i["id"] for i in json.loads(
            self.q("list", "--json", "--sender", "EVE@")[0])], [mid])
        self.assertEqual(json.loads(self.q("list", "--json", "--recipient", "nobody@")[0]), [])
        self.assertEqual(json.loads(self.q("list", "--json", "--until", "2000-01-01")[0]), [])
        self.assertEqual([i["id"] for i in json.loads(
            self.q("list", "--json", "--reason", "block-exe a.exe")[0])], [up])
        self.assertIn(mid, self.q("list")[0])

        shown = json.loads(self.q("show", mid)[0])
        self.assertEqual(shown["id"], mid)
        self.assertEqual(shown["report"]["verdict"], "quarantine")
        self.assertEqual([a["action"] for a in shown["audit"]], ["held"])

        # Release: the stored bytes arrive at the next hop, with the header.
        out, _ = self.q("release", mid)
        self.assertIn("released " + mid, out)
        msgs = self.sink.sink["messages"]
        self.assertEqual(len(msgs), 1)
        self.assertEqual(msgs[0]["from"], "<eve@evil.example>")
        self.assertEqual(msgs[0]["rcpt"], ["<bob@corp.example>"])
        data = msgs[0]["data"]
        self.assertTrue(data.startswith(b"X-Sandgate-Released: " + mid.encode()), data[:200])
        self.assertTrue(data.endswith(msg), data[-80:])
        self.q("release", mid, rc=1)  # refused the second time, nothing sent
        self.assertEqual(len(self.sink.sink["messages"]), 1)
        self.q("release", up)  # uploads are only marked
        self.assertEqual(len(self.sink.sink["messages"]), 1)

        # The audit trail is in the database, names the CLI actor, and cannot
        # be edited with a SQL client either.
        audit = json.loads(self.q("show", mid)[0])["audit"]
        self.assertEqual([a["action"] for a in audit], ["held", "released"])
        self.assertTrue(audit[1]["actor"].startswith("cli:"))
        rows = self.sql("SELECT action, actor FROM sandgate_quarantine_audit WHERE item_id = %s "
                        "ORDER BY seq" % sql_str(mid)).split()
        self.assertEqual(rows[1].split("|")[0], "released")
        with self.assertRaises(PgError):
            self.sql("UPDATE sandgate_quarantine_audit SET actor = 'nobody'")
        with self.assertRaises(PgError):
            self.sql("DELETE FROM sandgate_quarantine_audit")
        self.assertEqual(json.loads(self.q("list", "--json", "--state", "held")[0]), [])
        self.assertEqual(len(json.loads(self.q("list", "--json", "--state", "released")[0])), 2)

    def test_export_delete_purge(self):
        self.q("list")
        content = b"MZ binary \x00\x01\x02\xff"
        old = self.seed(content, created_ms=int(time.time() * 1000) - 40 * 86400 * 1000)
        new = self.seed(b"fresh")
        out_file = os.path.join(self.tmp.name, "exported.bin")
        self.q("export", old, "--out", out_file)
        with open(out_file, "rb") as f:
            self.assertEqual(f.read(), content)
        self.q("export", old, "--out", out_file, rc=1)  # never overwrites
        # The private copy made for the export is gone after the command.
        var = os.path.join(self.tmp.name, "var")
        self.assertEqual([n for n in os.listdir(var) if n.startswith("quarantine-pg-")], [])

        out, _ = self.q("purge", "--older-than", "30d")
        self.assertIn("purged 1 item", out)
        self.q("show", old, rc=1)
        self.assertEqual(self.sql("SELECT count(*) FROM sandgate_quarantine_content "
                                  "WHERE item_id = %s" % sql_str(old)).strip(), "0")
        self.assertEqual(self.sql("SELECT action FROM sandgate_quarantine_audit WHERE item_id = "
                                  "%s ORDER BY seq" % sql_str(old)).split(), ["held", "purged"])
        self.q("delete", new)
        self.assertEqual(json.loads(self.q("show", new)[0])["state"], "deleted")
        self.q("export", new, "--out", out_file + "2", rc=1)
        self.q("release", new, rc=1)
        self.assertEqual(self.sink.sink["messages"], [])
        self.q("show", "not-an-id", rc=1)

    def test_database_down_is_an_error_then_recovers(self):
        self.q("list")
        mid = self.seed(b"Subject: x\r\n\r\nhello\r\n")
        self.pg.stop_immediate()
        try:
            _, err = self.q("list", rc=1)
            self.assertIn("connect", err)
            self.q("release", mid, rc=1)
            self.assertEqual(self.sink.sink["messages"], [])
        finally:
            self.pg.restart()
        self.assertEqual(json.loads(self.q("show", mid)[0])["state"], "held")
        self.q("release", mid)
        self.assertEqual(len(self.sink.sink["messages"]), 1)

    def test_bad_backend_settings_are_reported(self):
        with open(self.config, "w") as f:
            f.write("quarantine:\n  backend: postgresql\n"
                    "  postgresql: \"host=%s/nowhere dbname=x connect_timeout=2\"\n"
                    % self.tmp.name)
        _, err = self.q("list", rc=1)
        self.assertIn("cannot connect to the quarantine database", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
