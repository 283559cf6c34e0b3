#!/usr/bin/env python3
# End-to-end: `sandgate quarantine list/show/release/delete/export/purge`
# (issue 10) against the built binary ($SANDGATE). Items are seeded the way
# the intake stores them (content file at objects/HH/SHA256 plus an index row
# and an audit line), after the binary itself created the store. Release goes
# to a loopback SMTP sink run by this test.
import hashlib
import json
import os
import socket
import socketserver
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def sandgate():
    return os.environ.get("SANDGATE") or os.path.join(ROOT, "build", "gateway", "sandgate")


class SinkHandler(socketserver.StreamRequestHandler):
    """A minimal SMTP server: records envelope and DATA (dot-unstuffed)."""
    timeout = 10

    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        sink = self.server.sink
        self.reply("220 sink ESMTP")
        mail_from, rcpts = None, []
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.decode("latin-1").rstrip("\r\n")
            up = cmd.upper()
            if up.startswith("EHLO") or up.startswith("HELO"):
                self.reply("250-sink")
                self.reply("250 8BITMIME")
            elif up.startswith("MAIL FROM:"):
                mail_from, rcpts = cmd[10:], []
                self.reply("250 ok")
            elif up.startswith("RCPT TO:"):
                if sink.get("refuse_rcpt"):
                    self.reply("550 no such user")
                else:
                    rcpts.append(cmd[8:])
                    self.reply("250 ok")
            elif up == "DATA":
                self.reply("354 go ahead")
                data = []
                while True:
                    l = self.rfile.readline(1 << 20)
                    if not l or l == b".\r\n":
                        break
                    data.append(l[1:] if l.startswith(b"..") else l)
                sink["messages"].append({"from": mail_from, "rcpt": rcpts, "data": b"".join(data)})
                self.reply("250 queued")
            elif up == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 unknown")


class Sink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class QuarantineCase(unittest.TestCase):
    """A temporary directory, a next hop (Sink) for releases, and
    `sandgate quarantine` run against the store that store_args name
    (set by setUp: ["--data-dir", DIR] or ["--config", FILE])."""

    def start(self, prefix):
        self.tmp = tempfile.TemporaryDirectory(prefix=prefix)
        self.sink = Sink(("127.0.0.1", 0), SinkHandler)
        self.sink.sink = {"messages": []}
        threading.Thread(target=self.sink.serve_forever, daemon=True).start()
        self.next_hop = "127.0.0.1:%d" % self.sink.server_address[1]

    def tearDown(self):
        self.sink.shutdown()
        self.sink.server_close()
        self.tmp.cleanup()

    def q(self, *args, rc=0):
        p = subprocess.run([sandgate(), "quarantine"] + self.store_args +
                           ["--next-hop", self.next_hop] + list(args),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, rc, "stdout=%r stderr=%r" % (p.stdout, p.stderr))
        return p.stdout.decode(), p.stderr.decode()


class QuarantineCli(QuarantineCase):
    def setUp(self):
        self.start("sg-quar-")
        self.data = os.path.join(self.tmp.name, "var")
        self.store_args = ["--data-dir", self.data]

    def seed(self, content, channel="mail", sender="eve@evil.example",
             rcpts=("bob@corp.example",), reasons=("block-executables invoice.zip/a.exe type.executable",),
             created_ms=None, files=("invoice.zip",)):
        """Stores one item as the intake does (the store exists already)."""
        store = os.path.join(self.data, "quarantine")
        sha = hashlib.sha256(content).hexdigest()
        os.makedirs(os.path.join(store, "objects", sha[:2]), exist_ok=True)
        with open(os.path.join(store, "objects", sha[:2], sha), "wb") as f:
            f.write(content)
        item_id = os.urandom(16).hex()
        created = created_ms if created_ms is not None else int(time.time() * 1000)
        db = sqlite3.connect(os.path.join(store, "index.sqlite"), timeout=10)
        with db:
            db.execute(
                "INSERT INTO items(id, created_ms, channel, profile, policy_sha256, sender, "
                "recipients, client_address, subject, file_names, size, verdict, action, reasons, "
                "report_json, state, content_sha256, state_actor, state_changed_ms) "
                "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (item_id, created, channel, channel, "0" * 64, sender, json.dumps(list(rcpts)),
                 "127.0.0.1", "Invoice", json.dumps(list(files)), len(content), "quarantine",
                 "quarantine", json.dumps(list(reasons)),
                 json.dumps({"verdict": "quarantine", "objects": [{"path": "invoice.zip"}]}),
                 "held", sha, "intake", created))
            db.execute("INSERT INTO audit(time_ms, item_id, actor, action, from_state, to_state) "
                       "VALUES(?,?,?,?,?,?)", (created, item_id, "intake", "held", "", "held"))
        db.close()
        return item_id

    def test_list_show_release_audit(self):
        out, _ = self.q("list", "--json")  # creates the store
        self.assertEqual(json.loads(out), [])
        msg = (b"From: eve@evil.example\r\nTo: bob@corp.example\r\nSubject: Invoice\r\n\r\n"
               b"Please see attached.\r\n.leading dot line\r\n")
        mid = self.seed(msg)
        up = self.seed(b"MZ\x90\x00upload", channel="upload", sender="", rcpts=(),
                       reasons=("block-exe a.exe type.executable",), files=("a.exe",))

        items = json.loads(self.q("list", "--json")[0])
        self.assertEqual({i["id"] for i in items}, {mid, up})
        by_id = {i["id"]: i for i in items}
        self.assertEqual(by_id[mid]["sender"], "eve@evil.example")
        self.assertEqual(by_id[mid]["recipients"], ["bob@corp.example"])
        self.assertEqual(by_id[mid]["state"], "held")
        self.assertIn("type.executable", by_id[mid]["reasons"][0])
        # Filters.
        self.assertEqual([i["id"] for i in json.loads(self.q("list", "--json", "--sender", "EVE@")[0])], [mid])
        self.assertEqual(json.loads(self.q("list", "--json", "--recipient", "nobody@")[0]), [])
        self.assertEqual(len(json.loads(self.q("list", "--json", "--since", "2000-01-01")[0])), 2)
        self.assertEqual(json.loads(self.q("list", "--json", "--until", "2000-01-01")[0]), [])
        table = self.q("list")[0]
        self.assertIn(mid, table)
        self.assertIn("held", table)

        shown = json.loads(self.q("show", mid)[0])
        self.assertEqual(shown["id"], mid)
        self.assertEqual(shown["report"]["verdict"], "quarantine")
        self.assertEqual(shown["audit"][0]["action"], "held")

        # Release the mail: it arrives at the next hop with the header.
        out, _ = self.q("release", mid)
        self.assertIn("released " + mid, out)
        msgs = self.sink.sink["messages"]
        self.assertEqual(len(msgs), 1)
        self.assertEqual(msgs[0]["from"], "<eve@evil.example>")
        self.assertEqual(msgs[0]["rcpt"], ["<bob@corp.example>"])
        data = msgs[0]["data"]
        self.assertTrue(data.startswith(b"X-Sandgate-Released: " + mid.encode()), data[:200])
        self.assertIn(b"Subject: Invoice\r\n", data)
        self.assertTrue(data.endswith(b".leading dot line\r\n"), data[-60:])
        self.assertEqual(json.loads(self.q("show", mid)[0])["state"], "released")
        # A second release is refused and sends nothing.
        self.q("release", mid, rc=1)
        self.assertEqual(len(self.sink.sink["messages"]), 1)

        # The upload is only marked released.
        self.q("release", up)
        self.assertEqual(len(self.sink.sink["messages"]), 1)
        self.assertEqual(json.loads(self.q("show", up)[0])["state"], "released")

        # Audit trail: JSON lines, and the index, name the actor.
        audit = json.loads(self.q("show", mid)[0])["audit"]
        self.assertEqual([a["action"] for a in audit], ["held", "released"])
        self.assertTrue(audit[1]["actor"].startswith("cli:"))
        with open(os.path.join(self.data, "quarantine", "audit.jsonl")) as f:
            lines = [json.loads(l) for l in f]
        self.assertIn(("released", mid), [(l["action"], l["id"]) for l in lines])

        held = json.loads(self.q("list", "--json", "--state", "held")[0])
        self.assertEqual(held, [])

    def test_release_to_other_address_and_failure_keeps_item_held(self):
        self.q("list")
        mid = self.seed(b"Subject: x\r\n\r\nhello\r\n")
        self.sink.sink["refuse_rcpt"] = True
        _, err = self.q("release", mid, rc=1)
        self.assertIn("stays held", err)
        self.assertEqual(json.loads(self.q("show", mid)[0])["state"], "held")
        self.sink.sink["refuse_rcpt"] = False
        self.q("release", mid, "--to", "analyst@corp.example")
        self.assertEqual(self.sink.sink["messages"][0]["rcpt"], ["<analyst@corp.example>"])
        # Unreachable next hop: error, nothing changes.
        mid2 = self.seed(b"Subject: y\r\n\r\nbye\r\n")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead = "127.0.0.1:%d" % s.getsockname()[1]
        s.close()
        p = subprocess.run([sandgate(), "quarantine", "--data-dir", self.data, "--next-hop", dead,
                            "release", mid2], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(json.loads(self.q("show", mid2)[0])["state"], "held")

    def test_export_delete_purge_and_usage(self):
        self.q("list")
        content = b"MZ binary \x00\x01\x02"
        old = self.seed(content, created_ms=int(time.time() * 1000) - 40 * 86400 * 1000)
        new = self.seed(b"fresh")
        out_file = os.path.join(self.tmp.name, "exported.bin")
        self.q("export", old, "--out", out_file)
        with open(out_file, "rb") as f:
            self.assertEqual(f.read(), content)
        self.q("export", old, "--out", out_file, rc=1)  # never overwrites
        self.q("export", old, rc=2)  # --out is required

        out, _ = self.q("purge", "--older-than", "30d")
        self.assertIn("purged 1 item", out)
        self.q("show", old, rc=1)
        self.assertEqual([i["id"] for i in json.loads(self.q("list", "--json")[0])], [new])

        self.q("delete", new)
        self.assertEqual(json.loads(self.q("show", new)[0])["state"], "deleted")
        self.q("export", new, "--out", out_file + "2", rc=1)
        self.q("release", new, rc=1)
        self.assertEqual(self.sink.sink["messages"], [])

        self.q("show", "not-an-id", rc=1)
        self.q("frobnicate", rc=2)
        self.q("purge", "--older-than", "soon", rc=2)
        self.q("list", "--state", "lost", rc=2)
        self.q("show", rc=2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
