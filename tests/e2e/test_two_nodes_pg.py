#!/usr/bin/env python3
# End-to-end (issue 10): two `sandgate serve` processes share one PostgreSQL
# quarantine. An executable mailed through node A is held; node B lists it,
# shows its reasons and releases it over /v1/quarantine; it arrives at the
# next hop; both nodes see the audit trail. Then the database goes down: held
# mail is tempfailed (451) and a held upload refused (503), nothing is
# acknowledged; clean mail still flows; once the database is back the same
# message is accepted and held. Skipped when PostgreSQL is not installed.
import hashlib
import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from email.message import EmailMessage

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from pg_cluster import PgCluster  # noqa: E402
from test_quarantine_cli import Sink, SinkHandler, sandgate  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
ADMIN = "admin-token-for-two-nodes"
PORTAL = "portal-token-for-two-nodes"


def fake_pe():
    import struct
    pe = bytearray(1024)
    pe[0:2] = b"MZ"
    struct.pack_into("<I", pe, 0x3C, 0x80)
    pe[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", pe, 0x84, 0x8664, 1, 0, 0, 0, 0xF0, 0x22)
    struct.pack_into("<H", pe, 0x98, 0x20B)
    return bytes(pe)


def call(method, url, token=None, data=None):
    headers = {"Authorization": "Bearer " + token} if token else {}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def job_offer(sender, exe=True):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "jane@example.com", "Job offer"
    msg.set_content("Please see the attached offer.")
    if exe:
        msg.add_attachment(fake_pe(), maintype="application", subtype="octet-stream",
                           filename="Coinbase_online_careers_2022_07.pdf.exe")
    return msg


class Node:
    def __init__(self, tmp, name, conninfo, next_hop):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.config = os.path.join(self.dir, "sandgate.yaml")
        with open(self.config, "w") as f:
            f.write(
                f"policy: {json.dumps(os.path.join(ROOT, 'policies', 'default.yaml'))}\n"
                "data_dir: var\n"
                f"smtp: {{listen: 127.0.0.1:0, next_hop: {next_hop}}}\n"
                "quarantine:\n"
                "  backend: postgresql\n"
                f"  postgresql: {json.dumps(conninfo)}\n"
                "http:\n"
                "  listen: 127.0.0.1:0\n"
                "  tokens:\n"
                "    - id: admin\n"
                f"      sha256: \"sha256:{hashlib.sha256(ADMIN.encode()).hexdigest()}\"\n"
                "      admin: true\n"
                "    - id: portal\n"
                f"      sha256: \"sha256:{hashlib.sha256(PORTAL.encode()).hexdigest()}\"\n"
                "      profiles: [upload]\n")
        self.log_path = os.path.join(self.dir, "serve.log")
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([sandgate(), "serve", "--config", self.config], stderr=self.log,
                                     stdout=subprocess.DEVNULL)
        self.http = self.smtp = None
        deadline = time.time() + 30
        while time.time() < deadline and self.proc.poll() is None:
            text = open(self.log_path).read()
            m = re.search(r'"http":"http://127\.0\.0\.1:(\d+)".*"smtp":"127\.0\.0\.1:(\d+)"', text)
            if m:
                self.http, self.smtp = f"http://127.0.0.1:{m.group(1)}", int(m.group(2))
                break
            time.sleep(0.05)
        if not self.http:
            self.stop()
            raise AssertionError(f"node {name} did not start:\n" + open(self.log_path).read())

    def send(self, msg):
        with smtplib.SMTP("127.0.0.1", self.smtp, timeout=30) as c:
            c.send_message(msg)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class TwoNodesSharingPostgres(unittest.TestCase):
    def setUp(self):
        self.pg = PgCluster()  # SkipTest when PostgreSQL is absent
        self.pg.create_database("twonodes")
        self.tmp = tempfile.mkdtemp(prefix="sg-two-nodes-")
        self.sink = Sink(("127.0.0.1", 0), SinkHandler)
        self.sink.sink = {"messages": []}
        threading.Thread(target=self.sink.serve_forever, daemon=True).start()
        next_hop = "127.0.0.1:%d" % self.sink.server_address[1]
        conninfo = self.pg.conninfo("twonodes")
        self.a = Node(self.tmp, "a", conninfo, next_hop)
        self.b = Node(self.tmp, "b", conninfo, next_hop)

    def tearDown(self):
        self.a.stop()
        self.b.stop()
        self.sink.shutdown()
        self.sink.server_close()
        self.pg.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wait_for_sink(self, n):
        deadline = time.time() + 15
        while len(self.sink.sink["messages"]) < n and time.time() < deadline:
            time.sleep(0.05)
        return self.sink.sink["messages"]

    def test_held_on_one_node_released_from_the_other(self):
        self.a.send(job_offer("hr@careers.example"))
        self.assertEqual(self.sink.sink["messages"], [])  # held, not relayed
        code, _, body = call("GET", f"{self.b.http}/v1/quarantine?state=held", ADMIN)
        self.assertEqual(code, 200, body)
        items = json.loads(body)["items"]
        self.assertEqual(len(items), 1)
        qid = items[0]["id"]
        self.assertEqual(items[0]["sender"], "hr@careers.example")
        shown = json.loads(call("GET", f"{self.b.http}/v1/quarantine/{qid}", ADMIN)[2])
        self.assertTrue(any("name.double_extension" in r or "type.executable" in r for r in shown["reasons"]),
                        shown["reasons"])
        code, _, body = call("POST", f"{self.b.http}/v1/quarantine/{qid}/release", ADMIN)
        self.assertEqual(code, 200, body)
        messages = self.wait_for_sink(1)
        self.assertEqual(len(messages), 1)
        self.assertIn(b"X-Sandgate-Released: " + qid.encode(), messages[0]["data"])
        self.assertIn(b"Coinbase_online_careers_2022_07.pdf.exe", messages[0]["data"])
        # Node A sees what node B did, with the audit trail.
        shown = json.loads(call("GET", f"{self.a.http}/v1/quarantine/{qid}", ADMIN)[2])
        self.assertEqual(shown["state"], "released")
        self.assertEqual([(r["action"], r["actor"]) for r in shown["audit"]][-1], ("released", "api:admin"))
        self.assertEqual(call("POST", f"{self.a.http}/v1/quarantine/{qid}/release", ADMIN)[0], 409)
        # The command sees it too, through the same config.
        out = subprocess.run([sandgate(), "quarantine", "list", "--json", "--config", self.a.config],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual([i["id"] for i in json.loads(out.stdout)], [qid])

    def test_database_down_never_acknowledges_and_recovers(self):
        self.pg.stop_immediate()
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            self.a.send(job_offer("down@careers.example"))
        self.assertEqual(cm.exception.smtp_code // 100, 4)  # the sender keeps it and retries
        code, headers, _ = call("POST", f"{self.a.http}/v1/scan?filename=offer.pdf.exe", PORTAL, fake_pe())
        self.assertEqual(code, 503)
        self.assertTrue(headers["Retry-After"])
        # Clean mail does not need the quarantine and still flows.
        self.a.send(job_offer("clean@careers.example", exe=False))
        self.assertEqual(len(self.wait_for_sink(1)), 1)
        self.pg.restart()
        deadline = time.time() + 30
        while True:  # a node that lost its connection reconnects on a later call
            try:
                self.a.send(job_offer("down@careers.example"))
                break
            except smtplib.SMTPDataError:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        items = json.loads(call("GET", f"{self.b.http}/v1/quarantine", ADMIN)[2])["items"]
        self.assertEqual([i["sender"] for i in items], ["down@careers.example"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
