#!/usr/bin/env python3
"""End-to-end tests of `sandgate serve`'s HTTP intake against the built binary.

Each test starts the real server on a free loopback port (port 0, read back
from the startup log line) with a config the test writes, and drives it with
the curl command, urllib, raw sockets and ssl. Only loopback; every loop is
bounded.
"""
import hashlib
import io
import zipfile
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import warnings

warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are used on purpose, to be refused

SANDGATE = os.environ.get("SANDGATE", "sandgate")
SOURCE_ROOT = os.environ.get("SANDGATE_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TOKEN = "portal-token-0123456789"
ADMIN_TOKEN = "admin-token-9876543210"


def fake_pe():
    import struct
    pe = bytearray(1024)
    pe[0:2] = b"MZ"
    struct.pack_into("<I", pe, 0x3C, 0x80)
    pe[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", pe, 0x84, 0x8664, 1, 0, 0, 0, 0xF0, 0x22)
    struct.pack_into("<H", pe, 0x98, 0x20B)
    return bytes(pe)


class Server:
    def __init__(self, tmp, extra_http="", limits="", env=None, tls=None, extra_top=""):
        self.tmp = tmp
        self.policy_dir = os.path.join(tmp, "policies")
        if not os.path.isdir(self.policy_dir):
            shutil.copytree(os.path.join(SOURCE_ROOT, "policies"), self.policy_dir,
                            ignore=shutil.ignore_patterns("*.cc", "*.h", "meson.build", "language"))
        self.config = os.path.join(tmp, "sandgate.yaml")
        tls_block = ""
        if tls:
            tls_block = f"  tls: {{cert: {tls[0]}, key: {tls[1]}}}\n"
        with open(self.config, "w") as f:
            f.write(
                "policy: policies/default.yaml\n"
                "data_dir: var\n"
                + extra_top +
                "http:\n"
                "  listen: 127.0.0.1:0\n"
                + tls_block + extra_http +
                "  tokens:\n"
                "    - id: portal\n"
                f"      sha256: \"sha256:{hashlib.sha256(TOKEN.encode()).hexdigest()}\"\n"
                "      profiles: [upload]\n"
                "    - id: admin\n"
                f"      sha256: \"sha256:{hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()}\"\n"
                "      admin: true\n"
                "  limits:\n"
                "    max_body: 32MiB\n"
                + limits)
        self.log_path = os.path.join(tmp, "serve.log")
        self.log = open(self.log_path, "w+")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([SANDGATE, "serve", "--config", self.config], stderr=self.log,
                                     stdout=subprocess.DEVNULL, env=e)
        self.port = None
        for _ in range(100):
            time.sleep(0.05)
            m = re.search(r'"http":"https?://127\.0\.0\.1:(\d+)"', self.log_text())
            if m:
                self.port = int(m.group(1))
                sm = re.search(r'"smtp":"127\.0\.0\.1:(\d+)"', self.log_text())
                self.smtp_port = int(sm.group(1)) if sm else None
                break
            if self.proc.poll() is not None:
                break
        if self.port is None:
            self.stop()
            raise AssertionError("server did not start:\n" + self.log_text())
        self.scheme = "https" if tls else "http"
        self.base = f"{self.scheme}://127.0.0.1:{self.port}"

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def rss_kib(self, field="VmRSS"):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def post(url, data, headers=None, timeout=20, context=None):
    req = urllib.request.Request(url, data=data, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def call(method, url, token=None, data=None, timeout=20):
    """(status, headers, body bytes) of one request; never raises for HTTP errors."""
    headers = {"Authorization": "Bearer " + token} if token else {}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class SinkSMTP:
    """A minimal SMTP next hop on loopback that records what it accepted."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.messages = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 sink ESMTP\r\n")
        rcpts, data = [], None
        while True:
            line = f.readline(4096)
            if not line:
                break
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO") or cmd.startswith(b"HELO"):
                conn.sendall(b"250-sink\r\n250 8BITMIME\r\n")
            elif cmd.startswith(b"RCPT"):
                rcpts.append(line.strip()[8:].decode())
                conn.sendall(b"250 ok\r\n")
            elif cmd == b"DATA":
                conn.sendall(b"354 go\r\n")
                buf = []
                while True:
                    l = f.readline(1 << 20)
                    if not l or l == b".\r\n":
                        break
                    buf.append(l)
                self.messages.append((rcpts, b"".join(buf)))
                rcpts = []
                conn.sendall(b"250 queued\r\n")
            elif cmd == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                break
            else:
                conn.sendall(b"250 ok\r\n")
        conn.close()

    def close(self):
        # shutdown wakes the thread blocked in accept(); close alone would
        # leave the listening socket open until that accept returned.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class QuarantineApiE2E(unittest.TestCase):
    """Held uploads and mail are stored, and administered over /v1/quarantine."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sg-qapi-e2e-")
        self.servers = []
        self.sink = SinkSMTP()

    def tearDown(self):
        for s in self.servers:
            s.stop()
        self.sink.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, extra_top=""):
        s = Server(self.tmp, extra_top=f"smtp: {{listen: 127.0.0.1:0, next_hop: 127.0.0.1:{self.sink.port}}}\n"
                   + extra_top)
        self.servers.append(s)
        return s

    def upload_exe(self, s):
        req = urllib.request.Request(f"{s.base}/v1/scan?filename=offer.pdf.exe", data=fake_pe(), method="POST",
                                     headers={"Authorization": "Bearer " + TOKEN,
                                              "Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers, json.loads(r.read())

    def test_held_upload_is_stored_listed_shown_released_and_deleted(self):
        s = self.start()
        status, headers, report = self.upload_exe(s)
        self.assertEqual((status, report["verdict"]), (200, "quarantine"))
        qid = headers["X-Sandgate-Quarantine-Id"]
        self.assertTrue(qid)
        # A clean upload is not held.
        code, h, _ = call("POST", f"{s.base}/v1/scan?filename=cv.txt", TOKEN, b"Jane Doe, engineer\n")
        self.assertEqual(code, 200)
        self.assertIsNone(h["X-Sandgate-Quarantine-Id"])

        q = f"{s.base}/v1/quarantine"
        # Admin tokens only: none 401, a scan token 403, a wrong one 401.
        self.assertEqual(call("GET", q)[0], 401)
        self.assertEqual(call("GET", q, TOKEN)[0], 403)
        self.assertEqual(call("GET", q, "not-a-token")[0], 401)
        self.assertEqual(call("POST", f"{q}/{qid}/release", TOKEN)[0], 403)

        code, _, body = call("GET", q, ADMIN_TOKEN)
        self.assertEqual(code, 200)
        listing = json.loads(body)
        self.assertEqual([i["id"] for i in listing["items"]], [qid])
        item = listing["items"][0]
        self.assertEqual((item["channel"], item["state"]), ("upload", "held"))
        self.assertIn("offer.pdf.exe", item["file_names"])
        self.assertEqual(json.loads(call("GET", q + "?state=released", ADMIN_TOKEN)[2])["items"], [])
        self.assertEqual(call("GET", q + "?state=bogus", ADMIN_TOKEN)[0], 400)

        code, _, body = call("GET", f"{q}/{qid}", ADMIN_TOKEN)
        self.assertEqual(code, 200)
        shown = json.loads(body)
        self.assertEqual(shown["report"]["verdict"], "quarantine")
        self.assertTrue(any("name.double_extension" in r for r in shown["reasons"]))
        self.assertEqual([a["action"] for a in shown["audit"]], ["held"])

        code, h, body = call("GET", f"{q}/{qid}/content", ADMIN_TOKEN)
        self.assertEqual((code, body), (200, fake_pe()))
        self.assertIn("attachment", h["Content-Disposition"])

        code, _, body = call("POST", f"{q}/{qid}/release", ADMIN_TOKEN)
        self.assertEqual(code, 200, body)
        self.assertEqual(json.loads(body)["state"], "released")
        self.assertEqual(call("POST", f"{q}/{qid}/release", ADMIN_TOKEN)[0], 409)
        self.assertEqual(call("GET", f"{q}/{qid}/release", ADMIN_TOKEN)[0], 405)
        self.assertEqual(call("DELETE", f"{q}/{qid}", ADMIN_TOKEN)[0], 200)
        self.assertEqual(call("GET", f"{q}/{qid}/content", ADMIN_TOKEN)[0], 410)
        shown = json.loads(call("GET", f"{q}/{qid}", ADMIN_TOKEN)[2])
        self.assertEqual(shown["state"], "deleted")
        audit = [(a["action"], a["actor"]) for a in shown["audit"]]
        self.assertEqual([a for a, _ in audit], ["held", "released", "deleted"])
        self.assertEqual(audit[1][1], "api:admin")
        self.assertEqual(call("GET", f"{q}/0123456789abcdef0123456789abcdef", ADMIN_TOKEN)[0], 404)
        self.assertEqual(call("GET", f"{q}/..%2f..%2fetc", ADMIN_TOKEN)[0], 404)
        code, _, body = call("POST", f"{q}/purge?older_than=0", ADMIN_TOKEN)
        self.assertEqual((code, json.loads(body)["purged"]), (200, 1))
        self.assertEqual(call("POST", f"{q}/purge?older_than=soon", ADMIN_TOKEN)[0], 400)

    def mail_exe(self, s):
        import smtplib
        from email.message import EmailMessage
        self.assertIsNotNone(s.smtp_port)
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "hr@example.org", "jane@example.com", "Job offer"
        msg.set_content("Please see the attached offer.")
        msg.add_attachment(fake_pe(), maintype="application", subtype="octet-stream",
                           filename="Coinbase_online_careers_2022_07.pdf.exe")
        with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=20) as c:
            c.send_message(msg)

    def test_held_mail_is_released_to_the_next_hop_over_the_api(self):
        s = self.start()
        self.mail_exe(s)
        self.assertEqual(self.sink.messages, [])  # held, not relayed
        q = f"{s.base}/v1/quarantine"
        items = json.loads(call("GET", q + "?sender=hr@example.org", ADMIN_TOKEN)[2])["items"]
        self.assertEqual(len(items), 1)
        qid = items[0]["id"]
        self.assertEqual((items[0]["channel"], items[0]["subject"]), ("mail", "Job offer"))
        code, _, body = call("POST", f"{q}/{qid}/release?to=analyst@example.org", ADMIN_TOKEN)
        self.assertEqual(code, 200, body)
        deadline = time.time() + 10
        while not self.sink.messages and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(self.sink.messages), 1)
        rcpts, data = self.sink.messages[0]
        self.assertEqual(rcpts, ["<analyst@example.org>"])
        self.assertIn(b"X-Sandgate-Released: " + qid.encode(), data)
        self.assertIn(b"Coinbase_online_careers_2022_07.pdf.exe", data)

    def test_release_refused_by_the_next_hop_keeps_the_item_held(self):
        s = self.start()
        self.mail_exe(s)
        q = f"{s.base}/v1/quarantine"
        qid = json.loads(call("GET", q, ADMIN_TOKEN)[2])["items"][0]["id"]
        self.sink.close()  # the next hop is gone
        code, _, body = call("POST", f"{q}/{qid}/release", ADMIN_TOKEN)
        self.assertEqual(code, 502, body)
        shown = json.loads(call("GET", f"{q}/{qid}", ADMIN_TOKEN)[2])
        self.assertEqual(shown["state"], "held")
        self.assertEqual([a["action"] for a in shown["audit"]], ["held"])

    def test_release_of_an_upload_takes_no_recipient(self):
        s = self.start()
        _, headers, _ = self.upload_exe(s)
        qid = headers["X-Sandgate-Quarantine-Id"]
        # Uploads are only marked released; "to" is for mail.
        self.assertEqual(call("POST", f"{s.base}/v1/quarantine/{qid}/release?to=a@b.c", ADMIN_TOKEN)[0], 400)
        self.assertEqual(json.loads(call("GET", f"{s.base}/v1/quarantine/{qid}", ADMIN_TOKEN)[2])["state"], "held")

    def test_retention_purges_old_items_with_an_audit_record(self):
        s = self.start(extra_top="quarantine: {retention: 2s, purge_every: 1s}\n")
        _, headers, _ = self.upload_exe(s)
        qid = headers["X-Sandgate-Quarantine-Id"]
        self.assertEqual(call("GET", f"{s.base}/v1/quarantine/{qid}", ADMIN_TOKEN)[0], 200)
        deadline = time.time() + 20
        while time.time() < deadline:
            if json.loads(call("GET", f"{s.base}/v1/quarantine", ADMIN_TOKEN)[2])["items"] == []:
                break
            time.sleep(0.2)
        self.assertEqual(json.loads(call("GET", f"{s.base}/v1/quarantine", ADMIN_TOKEN)[2])["items"], [])
        self.assertIn('"event":"retention"', s.log_text())
        with open(os.path.join(self.tmp, "var", "quarantine", "audit.jsonl")) as f:
            actions = [(r["id"], r["action"], r["actor"]) for r in map(json.loads, f)]
        self.assertIn((qid, "purged", "retention"), actions)

    def test_store_unavailable_means_503_for_held_uploads_only(self):
        blocker = os.path.join(self.tmp, "not-a-dir")
        with open(blocker, "w") as f:
            f.write("x")
        s = self.start(extra_top=f"quarantine: {{dir: {blocker}/q}}\n")
        req = urllib.request.Request(f"{s.base}/v1/scan?filename=offer.pdf.exe", data=fake_pe(), method="POST",
                                     headers={"Authorization": "Bearer " + TOKEN})
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=20)
        self.assertEqual(cm.exception.code, 503)
        self.assertTrue(cm.exception.headers["Retry-After"])
        code, _, body = call("POST", f"{s.base}/v1/scan?filename=cv.txt", TOKEN, b"Jane Doe\n")
        self.assertEqual((code, json.loads(body)["verdict"]), (200, "pass"))
        self.assertEqual(call("GET", f"{s.base}/v1/quarantine", ADMIN_TOKEN)[0], 503)


class HttpE2E(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sg-http-e2e-")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, **kw):
        s = Server(self.tmp, **kw)
        self.servers.append(s)
        return s

    def test_curl_end_to_end(self):
        s = self.start()
        with open(os.path.join(self.tmp, "cv.txt"), "w") as f:
            f.write("Jane Doe, engineer\n")
        with open(os.path.join(self.tmp, "offer.pdf.exe"), "wb") as f:
            f.write(fake_pe())
        out = subprocess.run(["curl", "-sS", "--data-binary", "@" + os.path.join(self.tmp, "cv.txt"),
                              "-H", "Content-Type: application/octet-stream",
                              "-w", "\n%{http_code}", f"{s.base}/v1/scan?filename=cv.txt"],
                             capture_output=True, text=True, timeout=30)
        body, code = out.stdout.rsplit("\n", 1)
        self.assertEqual(code, "200")
        report = json.loads(body)
        self.assertEqual(report["verdict"], "pass")
        self.assertEqual(report["objects"][0]["path"], "cv.txt")
        out = subprocess.run(["curl", "-sS", "-H", "Authorization: Bearer " + TOKEN,
                              "-F", "a=@" + os.path.join(self.tmp, "cv.txt"),
                              "-F", "b=@" + os.path.join(self.tmp, "offer.pdf.exe"),
                              f"{s.base}/v1/scan?profile=upload"], capture_output=True, text=True, timeout=30)
        multi = json.loads(out.stdout)
        self.assertEqual(multi["verdict"], "quarantine")
        self.assertEqual([r["objects"][0]["path"] for r in multi["reports"]], ["cv.txt", "offer.pdf.exe"])
        self.assertEqual([r["verdict"] for r in multi["reports"]], ["pass", "quarantine"])
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                              "Authorization: Bearer nope", "--data-binary", "x", f"{s.base}/v1/scan"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.stdout, "401")
        # One JSON log line per request, with the token id but never the token.
        # The line is written once the exchange is over (after the response
        # and the lingering close), so give a slow (sanitized) build a moment.
        deadline = time.time() + 10
        while True:
            lines = [json.loads(l) for l in s.log_text().splitlines() if '"event":"request"' in l]
            if len(lines) >= 3 or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(lines), 3)
        self.assertEqual(lines[1]["token"], "portal")
        self.assertNotIn(TOKEN, s.log_text())
        self.assertEqual(os.listdir(os.path.join(self.tmp, "var", "spool")), [])

    def test_1gb_streamed_upload_refused_without_memory_growth(self):
        s = self.start()
        time.sleep(0.2)
        before = s.rss_kib()
        # Announced: 413 at once, before any body byte.
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        sock.sendall(b"POST /v1/scan HTTP/1.1\r\nHost: t\r\nContent-Length: 1073741824\r\n\r\n")
        head = sock.recv(4096)
        self.assertTrue(head.startswith(b"HTTP/1.1 413"), head)
        sock.close()
        # Streamed (chunked, no length): refused once 32 MiB have passed.
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        sock.sendall(b"POST /v1/scan HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % (1 << 20) + b"\0" * (1 << 20) + b"\r\n"
        sent = 0
        answer = b""
        sock.setblocking(False)
        import select
        deadline = time.time() + 40
        while sent < (1 << 30) and time.time() < deadline:
            r, w, _ = select.select([sock], [sock], [], 1.0)
            if r:
                try:
                    data = sock.recv(65536)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                answer += data
                if not data or b"\r\n\r\n" in answer:
                    break
            if w:
                try:
                    sent += sock.send(chunk)
                except (BrokenPipeError, ConnectionResetError, BlockingIOError):
                    pass
        sock.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:200])
        self.assertLess(sent, 200 << 20)  # stopped long before 1 GB
        peak = s.rss_kib("VmHWM")
        self.assertLess(peak - before, 64 * 1024, f"RSS grew from {before} KiB to a peak of {peak} KiB")
        time.sleep(2.5)  # the lingering drain ends
        self.assertEqual(os.listdir(os.path.join(self.tmp, "var", "spool")), [])

    def test_slow_client_is_cut_off(self):
        s = self.start(limits="    body_timeout: 2\n    idle_timeout: 5\n")
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        sock.sendall(b"POST /v1/scan HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
        t0 = time.time()
        answer = b""
        sock.settimeout(1.0)
        for _ in range(12):  # one byte a second, at most 12 s
            try:
                sock.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                data = sock.recv(4096)
                answer += data
                if not data or b"\r\n\r\n" in answer:
                    break
            except socket.timeout:
                pass
        took = time.time() - t0
        sock.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 408"), answer)
        self.assertLess(took, 6)

    def test_concurrent_clients(self):
        s = self.start()
        results = []
        lock = threading.Lock()

        def client(i):
            for j in range(5):
                data = (f"file {i}-{j}\n" * 100).encode() if j % 2 == 0 else fake_pe()
                code, rep = post(f"{s.base}/v1/scan?filename=f{i}-{j}.txt", data)
                with lock:
                    results.append((code, rep.get("verdict"), j % 2))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(len(results), 80)
        for code, verdict, odd in results:
            self.assertEqual(code, 200)
            self.assertEqual(verdict, "quarantine" if odd else "pass")

    def test_scan_past_its_time_limit_is_quarantined_as_engine_timeout(self):
        # A policy whose time limit (1 ms) no real scan can meet: the report is
        # still a 200 with verdict quarantine and reason engine.timeout.
        os.makedirs(os.path.join(self.tmp, "policies"), exist_ok=True)
        shutil.copytree(os.path.join(SOURCE_ROOT, "policies"), os.path.join(self.tmp, "policies"),
                        ignore=shutil.ignore_patterns("*.cc", "*.h", "meson.build", "language"),
                        dirs_exist_ok=True)
        path = os.path.join(self.tmp, "policies", "default.yaml")
        with open(path) as f:
            text = f.read()
        # The upload profile's own limits override the top-level ones.
        self.assertIn("      seconds: 20", text)
        with open(path, "w") as f:
            f.write(text.replace("      seconds: 20", "      seconds: 0.001", 1))
        s = self.start()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for i in range(500):  # under the upload profile's 2000-object limit
                zf.writestr("doc-%d.txt" % i, ("line %d of a letter\n" % i) * 2000)
        code, rep = post(f"{s.base}/v1/scan?filename=many.zip", buf.getvalue(), timeout=60)
        self.assertEqual(code, 200, rep)
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertIn("limits.time", rep["limits"]["hit"])
        self.assertIn("engine.timeout", [r["rule"] for r in rep["reasons"]], rep["reasons"])
        metrics = urllib.request.urlopen(f"{s.base}/metrics", timeout=10).read().decode()
        self.assertRegex(metrics, r"sandgate_engine_timeouts_total [1-9]")

    def test_policy_reload_while_requests_run(self):
        s = self.start()
        stop = threading.Event()
        seen = []

        def client():
            for _ in range(2000):
                if stop.is_set():
                    break
                code, rep = post(f"{s.base}/v1/scan?filename=a.txt", b"hello\n")
                seen.append((code, rep.get("policy", {}).get("sha256")))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        old_sha = seen[0][1]
        path = os.path.join(s.policy_dir, "default.yaml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("description: Shipped policy", "description: Edited policy", 1))
        s.proc.send_signal(signal.SIGHUP)
        new_sha = None
        for _ in range(50):
            shas = set(sha for _, sha in seen[-4:]) - {old_sha}
            if shas:
                new_sha = shas.pop()
                break
            time.sleep(0.1)
        self.assertIsNotNone(new_sha, "the edited policy was never used")
        # A broken version is refused; the running one keeps serving.
        with open(path, "w") as f:
            f.write("name: [broken\n")
        s.proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join(30)
        self.assertTrue(seen)
        self.assertTrue(all(code == 200 for code, _ in seen), set(c for c, _ in seen))
        self.assertEqual(set(sha for _, sha in seen), {old_sha, new_sha})
        code, rep = post(f"{s.base}/v1/scan", b"after\n")
        self.assertEqual((code, rep["policy"]["sha256"]), (200, new_sha))
        metrics = urllib.request.urlopen(f"{s.base}/metrics", timeout=10).read().decode()
        self.assertRegex(metrics, r"sandgate_policy_reloads_total [1-9]")
        self.assertRegex(metrics, r"sandgate_policy_reload_failures_total [1-9]")

    def test_sighup_reloads_the_api_tokens(self):
        s = self.start()
        hdr = {"Authorization": f"Bearer {TOKEN}"}
        code, _ = post(f"{s.base}/v1/scan?filename=a.txt&profile=upload", b"x\n", headers=hdr)
        self.assertEqual(code, 200)
        # Revoke "portal", add "portal2" with a new token.
        new_token = "rotated-" + TOKEN
        with open(s.config) as f:
            text = f.read()
        old_hash = hashlib.sha256(TOKEN.encode()).hexdigest()
        self.assertIn(old_hash, text)
        with open(s.config, "w") as f:
            f.write(text.replace("id: portal\n", "id: portal2\n", 1)
                        .replace(old_hash, hashlib.sha256(new_token.encode()).hexdigest(), 1))
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "API tokens reloaded" not in s.log_text() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("API tokens reloaded", s.log_text())
        code, rep = post(f"{s.base}/v1/scan?filename=a.txt&profile=upload", b"x\n", headers=hdr)
        self.assertEqual(code, 401, rep)
        hdr2 = {"Authorization": f"Bearer {new_token}"}
        code, _ = post(f"{s.base}/v1/scan?filename=a.txt&profile=upload", b"x\n", headers=hdr2)
        self.assertEqual(code, 200)
        deadline = time.time() + 10  # the request's log line follows the answer
        while '"token":"portal2"' not in s.log_text() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn('"token":"portal2"', s.log_text())
        # A configuration that no longer validates keeps the tokens in force.
        with open(s.config, "a") as f:
            f.write("no_such_key: 1\n")
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "API tokens NOT reloaded" not in s.log_text() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("API tokens NOT reloaded", s.log_text())
        code, _ = post(f"{s.base}/v1/scan?filename=a.txt&profile=upload", b"x\n", headers=hdr2)
        self.assertEqual(code, 200)

    def test_tls(self):
        cert = os.path.join(self.tmp, "cert.pem")
        key = os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        s = self.start(tls=(cert, key))
        ctx = ssl.create_default_context(cafile=cert)
        code, rep = post(f"{s.base}/v1/scan?filename=a.txt", b"hello over tls\n", context=ctx)
        self.assertEqual((code, rep["verdict"]), (200, "pass"))
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                self.assertIn(tls.version(), ("TLSv1.2", "TLSv1.3"))
        # TLS 1.1 and below are refused.
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        try:
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            return
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
                old.wrap_socket(raw).do_handshake()

    def test_sigterm_finishes_requests_in_flight(self):
        s = self.start(env={"SANDGATE_TEST_SCAN_DELAY_MS": "1500"})
        result = {}

        def client():
            result["r"] = post(f"{s.base}/v1/scan?filename=a.txt", b"hello\n", timeout=30)

        t = threading.Thread(target=client)
        t.start()
        for _ in range(100):
            m = urllib.request.urlopen(f"{s.base}/metrics", timeout=10).read().decode()
            if "sandgate_http_in_flight 1\n" in m:
                break
            time.sleep(0.02)
        s.proc.send_signal(signal.SIGTERM)
        t.join(30)
        self.assertEqual(result["r"][0], 200)
        self.assertEqual(s.proc.wait(timeout=15), 0)
        self.assertIn('"event":"stopped"', s.log_text())
        # No longer accepting.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
