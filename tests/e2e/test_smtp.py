# End-to-end tests of the SMTP intake: the real `sandgate serve` on free
# loopback ports, `swaks` as the client (raw sockets for the smuggling cases)
# and a small SMTP sink of this file's own as the next hop. Covers every policy
# action, the next hop being down, SMTP smuggling, and kill -9 during DATA
# and relay: a message the client got 250 for is always at the sink.
#
# The sink writes a message to disk BEFORE it answers 250, so "at the sink"
# includes messages whose 250 never reached Sandgate (a duplicate at worst,
# never a loss).

import base64
import email
import email.policy
import io
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request
import zipfile

SANDGATE = os.environ.get("SANDGATE") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build", "gateway", "sandgate")
SWAKS = shutil.which("swaks")

POLICY = """\
name: smtp-e2e
profiles:
  mail:
    on_error: tempfail
    on_limit: quarantine
    default: pass
    rules:
      - name: reject-bat
        when: {extension: [bat]}
        action: reject
      - name: hold-exe
        when: {extension: [exe]}
        action: quarantine
      - name: tag-marked
        when: {extension: [tagme]}
        action: tag
      - name: defer-marked
        when: {extension: [later]}
        action: tempfail
  upload:
    default: pass
"""


class Sink:
    """A minimal SMTP server (RFC 5321 subset) that stores each message as a
    file in `dir` before answering 250; `delay` seconds pass between the end
    of data and the 250 (to hold a relay open for the kill -9 test)."""

    def __init__(self, directory, delay=0.0):
        self.dir = directory
        self.delay = delay
        self.count = 0
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stopping = True
        self.srv.close()

    def messages(self):
        out = []
        for name in sorted(os.listdir(self.dir)):
            with open(os.path.join(self.dir, name), "rb") as f:
                out.append(f.read())
        return out

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        conn.settimeout(30)
        f = conn.makefile("rb")
        try:
            conn.sendall(b"220 sink ESMTP\r\n")
            mail, rcpts = None, []
            for _ in range(10000):
                line = f.readline(4096)
                if not line:
                    return
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO"):
                    conn.sendall(b"250-sink\r\n250-8BITMIME\r\n250-SIZE 100000000\r\n250 PIPELINING\r\n")
                elif cmd.startswith(b"MAIL"):
                    mail, rcpts = line.strip()[10:], []
                    conn.sendall(b"250 2.1.0 Ok\r\n")
                elif cmd.startswith(b"RCPT"):
                    rcpts.append(line.strip()[8:])
                    conn.sendall(b"250 2.1.5 Ok\r\n")
                elif cmd == b"DATA":
                    conn.sendall(b"354 go\r\n")
                    data = []
                    while True:
                        dl = f.readline(1 << 20)
                        if not dl:
                            return
                        if dl == b".\r\n":
                            break
                        data.append(dl[1:] if dl.startswith(b".") else dl)
                    body = b"".join(data)
                    with self.lock:
                        self.count += 1
                        n = self.count
                    env = b"X-Sink-Envelope: " + mail + b" -> " + b",".join(rcpts) + b"\r\n"
                    path = os.path.join(self.dir, "%06d.eml" % n)
                    with open(path + ".tmp", "wb") as out:
                        out.write(env + body)
                        out.flush()
                        os.fsync(out.fileno())
                    os.rename(path + ".tmp", path)
                    if self.delay:
                        time.sleep(self.delay)
                    conn.sendall(b"250 2.0.0 Ok: queued as SINK%d\r\n" % n)
                elif cmd == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 2.0.0 Ok\r\n")
        except OSError:
            return
        finally:
            conn.close()


class Gateway:
    def __init__(self, tmp, next_hop_port, policy_path):
        self.data = tempfile.mkdtemp(dir=tmp, prefix="data-")
        self.log_path = os.path.join(self.data, "serve.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [SANDGATE, "serve", "--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0", "--next-hop",
             "127.0.0.1:%d" % next_hop_port, "--data-dir", self.data, "--policy", policy_path],
            stderr=self.log, stdout=subprocess.DEVNULL)
        self.port = None
        self.http_port = None
        deadline = time.time() + 20
        while time.time() < deadline and self.port is None:
            with open(self.log_path, "rb") as f:
                text = f.read()
            m = re.search(rb'"smtp":"127\.0\.0\.1:(\d+)"', text)
            h = re.search(rb'"http":"http://127\.0\.0\.1:(\d+)"', text)
            if m and h:
                self.port = int(m.group(1))
                self.http_port = int(h.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError("sandgate serve did not start: " + open(self.log_path, "rb").read().decode(errors="replace"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def raw_session(port, chunks, timeout=10):
    """Sends `chunks` (bytes) on one connection, then reads until the server
    closes or the timeout passes; returns everything the server said."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        for c in chunks:
            s.sendall(c)
            time.sleep(0.05)
        end = time.time() + timeout
        while time.time() < end:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            got += d
            if b"221 " in got:
                break
    finally:
        s.close()
    return got


@unittest.skipUnless(os.path.exists(SANDGATE), "sandgate binary not built")
class SmtpEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sandgate-smtp-e2e-")
        cls.policy = os.path.join(cls.tmp, "policy.yaml")
        with open(cls.policy, "w") as f:
            f.write(POLICY)
        cls.sink_dir = os.path.join(cls.tmp, "sink")
        os.mkdir(cls.sink_dir)
        cls.sink = Sink(cls.sink_dir)
        cls.gw = Gateway(cls.tmp, cls.sink.port, cls.policy)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        cls.sink.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, "sandgate serve exited %r on SIGTERM" % rc

    def swaks(self, *args, port=None):
        if not SWAKS:
            self.skipTest("swaks is not installed")
        p = subprocess.run([SWAKS, "--server", "127.0.0.1", "--port", str(port or self.gw.port),
                            "--helo", "client.test", "--timeout", "30"] + list(args),
                           capture_output=True, timeout=60)
        return p.returncode, p.stdout.decode(errors="replace")

    def wait_sink(self, needle, timeout=5):
        end = time.time() + timeout
        while time.time() < end:
            for m in self.sink.messages():
                if needle in m:
                    return m
            time.sleep(0.05)
        return None

    def attach(self, name, content):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(content)
        return path

    def test_clean_message_is_relayed_with_verdict_header(self):
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test,carol@y.test",
                             "--header", "Subject: clean-1", "--body", ".leading dot\n..two\nend")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"<-  250 2\.0\.0 Ok: queued as SINK\d+")  # the next hop's own answer
        m = self.wait_sink(b"clean-1")
        self.assertIsNotNone(m)
        self.assertIn(b"X-Sink-Envelope: <alice@x.test> -> <bob@y.test>,<carol@y.test>", m)
        self.assertIn(b"X-Sandgate-Verdict: pass (action=pass)\r\n", m)
        self.assertIn(b"X-Sandgate-Report: id=", m)
        # Dot-unstuffed on receive and stuffed again on relay: the body is intact.
        self.assertIn(b"\r\n.leading dot\r\n..two\r\nend\r\n", m)

    def test_executable_is_held_in_quarantine_not_relayed(self):
        exe = self.attach("invoice.exe", b"MZ" + b"\x90" * 200 + b"This program cannot be run in DOS mode")
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--header", "Subject: exe-1",
                             "--attach", "@" + exe)
        # 250 only after the quarantine store (the directory store) took it.
        self.assertRegex(out, r"<-  250 2\.0\.0 Ok: held in quarantine as \S+")
        self.assertIsNone(self.wait_sink(b"exe-1", timeout=1))
        stored = [n for _, _, files in os.walk(os.path.join(self.gw.data, "quarantine", "objects")) for n in files]
        self.assertTrue(stored, "nothing in the quarantine directory")

    def test_nul_bytes_do_not_hide_a_message_from_the_scan(self):
        # A NUL in a header field (or a preamble) once made the whole message
        # opaque "data" to the scan: never unpacked, relayed with its executable.
        exe = base64.encodebytes(b"MZ" + b"\x90" * 200 + b"This program cannot be run in DOS mode")
        msg = (b"From: alice@x.test\r\nTo: bob@y.test\r\nSubject: nul-1\r\nX-Junk: \x00\x01\r\n"
               b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=A\r\n\r\n"
               b"preamble \x00\r\n--A\r\nContent-Type: application/octet-stream; name=\"invoice.exe\"\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n" + exe.replace(b"\n", b"\r\n") + b"--A--\r\n")
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test",
                             "--data", "@" + self.attach("nul.eml", msg))
        self.assertRegex(out, r"<-  250 2\.0\.0 Ok: held in quarantine as \S+")
        self.assertIsNone(self.wait_sink(b"nul-1", timeout=1))

    def test_reject_answers_550(self):
        bat = self.attach("run.bat", b"@echo off\r\ndel /q *\r\n")
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--header", "Subject: bat-1",
                             "--attach", "@" + bat)
        self.assertNotEqual(rc, 0)
        self.assertRegex(out, r"<\*\* 550 5\.7\.1 Message rejected by policy: reject-bat")
        self.assertIsNone(self.wait_sink(b"bat-1", timeout=1))

    def test_tag_prefixes_subject(self):
        f = self.attach("notes.tagme", b"just text\n")
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--header", "Subject: tag-1",
                             "--attach", "@" + f)
        self.assertEqual(rc, 0, out)
        m = self.wait_sink(b"tag-1")
        self.assertIsNotNone(m)
        self.assertIn(b"Subject: [SUSPICIOUS] tag-1\r\n", m)
        self.assertIn(b"X-Sandgate-Verdict: pass (action=tag)", m)

    def test_tempfail_answers_451(self):
        f = self.attach("data.later", b"x\n")
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--header", "Subject: later-1",
                             "--attach", "@" + f)
        self.assertRegex(out, r"<\*\* 451 4\.7\.1")
        self.assertIsNone(self.wait_sink(b"later-1", timeout=1))

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.gw.http_port, timeout=10) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def test_metrics_count_messages_by_action_and_reply(self):
        before = self.metrics()
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--header", "Subject: metrics-1")
        self.assertEqual(rc, 0, out)
        bat = self.attach("metrics.bat", b"@echo off\r\n")
        self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--header", "Subject: metrics-2",
                   "--attach", "@" + bat)
        after = self.metrics()
        delta = lambda k: after.get(k, 0) - before.get(k, 0)
        self.assertEqual(delta('sandgate_smtp_messages_total{action="pass",reply="2xx"}'), 1, after)
        self.assertEqual(delta('sandgate_smtp_messages_total{action="reject",reply="5xx"}'), 1, after)
        self.assertGreaterEqual(delta("sandgate_smtp_sessions_total"), 2)
        self.assertIn("sandgate_smtp_sessions_refused_total", after)
        end = time.time() + 5
        while time.time() < end and self.metrics().get("sandgate_smtp_sessions_active") != 0:
            time.sleep(0.05)
        self.assertEqual(self.metrics().get("sandgate_smtp_sessions_active"), 0)

    def test_size_limit_announced(self):
        rc, out = self.swaks("--quit-after", "EHLO")
        self.assertRegex(out, r"250-SIZE \d+")
        self.assertIn("250-PIPELINING", out)
        self.assertIn("250-XFORWARD", out)

    def test_pipelined_session(self):
        rc, out = self.swaks("--pipeline", "--from", "alice@x.test", "--to", "bob@y.test",
                             "--header", "Subject: pipe-1", "--body", "pipelined")
        self.assertEqual(rc, 0, out)
        self.assertIsNotNone(self.wait_sink(b"pipe-1"))

    def test_smuggling_sequences_never_end_the_data(self):
        for i, seq in enumerate([b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r\n.\r"]):
            marker = b"smuggle-%d" % i
            got = raw_session(self.gw.port, [
                b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n",
                b"Subject: " + marker + b"\r\n\r\nfirst" + seq +
                b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@y.test>\r\nDATA\r\nSubject: inner-" + marker +
                b"\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n"])
            # Exactly one message: 354 once and one 250 for the data.
            self.assertEqual(got.count(b"354 "), 1, got)
            self.assertEqual(len(re.findall(rb"\r\n250 2\.0\.0 Ok: queued", got)), 1, got)
            m = self.wait_sink(b"Subject: " + marker)
            self.assertIsNotNone(m)
            self.assertIn(b"MAIL FROM:<evil@x.test>", m)  # inside the one message, as text
            # The relayed message has no bare CR or LF left.
            self.assertEqual(m.replace(b"\r\n", b"").count(b"\n") + m.replace(b"\r\n", b"").count(b"\r"), 0)
        for m in self.sink.messages():
            self.assertNotIn(b"X-Sink-Envelope: <evil@x.test>", m)

    def test_next_hop_down_tempfails(self):
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        port = dead.getsockname()[1]
        dead.close()  # nothing listens there now
        gw = Gateway(self.tmp, port, self.policy)
        try:
            rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--body", "x", port=gw.port)
            self.assertRegex(out, r"<\*\* 451 4\.4\.2")
        finally:
            self.assertEqual(gw.stop(), 0)


STRIP_POLICY = """\
name: smtp-strip-e2e
profiles:
  mail:
    on_error: tempfail
    on_limit: quarantine
    default: pass
    rules:
      - name: strip-executables
        when: {type: [pe]}
        action: strip
  upload:
    default: pass
"""

PE = (b"MZ" + b"\x90" * 58 + b"\x80\x00\x00\x00" + b"\x00" * 64 + b"PE\x00\x00" + b"\x64\x86\x01\x00" +
      b"\x00" * 12 + b"\xf0\x00\x22\x00" + b"\x0b\x02" + b"\x00" * 400 + b"This program cannot be run in DOS mode")


@unittest.skipUnless(os.path.exists(SANDGATE), "sandgate binary not built")
class SmtpStrip(unittest.TestCase):
    """Policy action strip: the sink gets the message with each executable
    attachment replaced by a text/plain notice and every other attachment
    intact; the sender gets the next hop's 250; the original is held in the
    quarantine under the id the relayed headers name."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sandgate-smtp-strip-")
        cls.policy = os.path.join(cls.tmp, "policy.yaml")
        with open(cls.policy, "w") as f:
            f.write(STRIP_POLICY)
        cls.sink_dir = os.path.join(cls.tmp, "sink")
        os.mkdir(cls.sink_dir)
        cls.sink = Sink(cls.sink_dir)
        cls.gw = Gateway(cls.tmp, cls.sink.port, cls.policy)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        cls.sink.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, "sandgate serve exited %r on SIGTERM" % rc

    swaks = SmtpEndToEnd.swaks
    wait_sink = SmtpEndToEnd.wait_sink
    attach = SmtpEndToEnd.attach

    def quarantine(self, *args):
        p = subprocess.run([SANDGATE, "quarantine", "--data-dir", self.gw.data] + list(args),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def parts(self, raw):
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        return msg, [p for p in msg.walk() if not p.is_multipart()]

    def check_original_held(self, qid, needle):
        shown = json.loads(self.quarantine("show", qid))
        self.assertEqual(shown["state"], "held")
        self.assertEqual(shown["action"], "strip")
        out = os.path.join(self.tmp, qid + ".eml")
        self.quarantine("export", qid, "--out", out)
        with open(out, "rb") as f:
            original = f.read()
        _, parts = self.parts(original)
        self.assertIn(needle, [p.get_content() for p in parts if p.get_filename()])
        return original

    def test_executable_replaced_text_attachment_intact(self):
        cv = b"%PDF-ish curriculum vitae, as plain text.\nSecond line.\n"
        cv_path = self.attach("cv.pdf", cv)
        exe_path = self.attach("invoice.exe", PE)
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--header", "Subject: strip-1",
                             "--body", "Dear Bob, two files.", "--attach", "@" + cv_path, "--attach", "@" + exe_path)
        self.assertEqual(rc, 0, out)
        m = re.search(r"<-  250 2\.0\.0 Ok: queued as SINK\d+ \(1 attachment stripped; "
                      r"original held in quarantine as ([0-9a-f]{32})\)", out)
        self.assertIsNotNone(m, out)
        qid = m.group(1)
        raw = self.wait_sink(b"strip-1")
        self.assertIsNotNone(raw)
        self.assertIn(b"X-Sandgate-Verdict: quarantine (action=strip)\r\n", raw)
        self.assertRegex(raw, rb"X-Sandgate-Report: id=[^\r]*; quarantine=" + qid.encode() +
                         rb"; reasons=strip-executables")
        msg, parts = self.parts(raw[raw.index(b"\r\n") + 2:])  # without the sink's own line
        names = [p.get_filename() for p in parts]
        self.assertIn("cv.pdf", names)
        self.assertNotIn("invoice.exe", names)
        self.assertEqual([p.get_content() for p in parts if p.get_filename() == "cv.pdf"][0], cv)
        notices = [p for p in parts if p.get_content_type() == "text/plain" and
                   "Sandgate removed an attachment" in p.get_content()]
        self.assertEqual(len(notices), 1)
        text = notices[0].get_content()
        self.assertIn("File: invoice.exe", text)
        self.assertIn("Reason: strip-executables: ", text)
        self.assertIn(qid, text)
        self.assertEqual(notices[0].get_content_charset(), "utf-8")
        self.assertNotIn(b"TVqQ", raw)  # no base64 "MZ" anywhere
        self.assertEqual(msg["Subject"], "strip-1")
        # The original, whole, is in the quarantine under that id.
        self.check_original_held(qid, PE)

    def test_zip_holding_an_executable_is_stripped_whole(self):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("readme.txt", "read me\n")
            z.writestr("Job.pdf.exe", PE)
        zip_path = self.attach("offer.zip", buf.getvalue())
        note_path = self.attach("notes.txt", b"kept notes\n")
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--header", "Subject: strip-2",
                             "--attach", "@" + note_path, "--attach", "@" + zip_path)
        self.assertEqual(rc, 0, out)
        m = re.search(r"<-  250 .*original held in quarantine as ([0-9a-f]{32})", out)
        self.assertIsNotNone(m, out)
        raw = self.wait_sink(b"strip-2")
        self.assertIsNotNone(raw)
        _, parts = self.parts(raw[raw.index(b"\r\n") + 2:])
        names = [p.get_filename() for p in parts]
        self.assertIn("notes.txt", names)
        self.assertNotIn("offer.zip", names)
        notice = [p.get_content() for p in parts if "Sandgate removed" in str(p.get_content())]
        self.assertEqual(len(notice), 1)
        self.assertIn("File: offer.zip", notice[0])
        self.assertIn("offer.zip/Job.pdf.exe", notice[0])
        self.check_original_held(m.group(1), buf.getvalue())

    def test_executable_as_the_whole_message_is_held_whole(self):
        import base64
        data = self.attach("whole.eml", b"From: alice@x.test\r\nTo: bob@y.test\r\nSubject: strip-3\r\n"
                           b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
                           b"Content-Transfer-Encoding: base64\r\n\r\n" +
                           base64.encodebytes(PE).replace(b"\n", b"\r\n"))
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--data", "@" + data)
        self.assertRegex(out, r"<-  250 2\.0\.0 Ok: held in quarantine as [0-9a-f]{32} "
                         r"\(strip not possible: .*; held whole\)")
        self.assertIsNone(self.wait_sink(b"strip-3", timeout=1))


@unittest.skipUnless(os.path.exists(SANDGATE), "sandgate binary not built")
class SmtpKillNine(unittest.TestCase):
    """kill -9 of sandgate serve while messages are in DATA and being relayed:
    every message the client got 250 for must be at the sink."""

    def test_kill_during_data_and_relay_loses_nothing_acknowledged(self):
        tmp = tempfile.mkdtemp(prefix="sandgate-smtp-kill-")
        try:
            policy = os.path.join(tmp, "policy.yaml")
            with open(policy, "w") as f:
                f.write(POLICY)
            total_acked = total_inflight = 0
            for round_no, kill_after in enumerate((0.4, 0.9, 1.5)):
                sink_dir = os.path.join(tmp, "sink%d" % round_no)
                os.mkdir(sink_dir)
                sink = Sink(sink_dir, delay=0.5)  # holds each relay open for 0.5 s
                gw = Gateway(tmp, sink.port, policy)
                acked, failed = [], []
                lock = threading.Lock()

                def client(n):
                    for k in range(50):
                        tag = "kill-%d-%d-%d" % (round_no, n, k)
                        try:
                            with smtplib.SMTP("127.0.0.1", gw.port, timeout=10) as s:
                                s.ehlo("c")
                                # A slow DATA phase: some kills land in it.
                                s.mail("a@x.test")
                                s.rcpt("b@y.test")
                                code, _ = s.docmd("DATA")
                                if code != 354:
                                    raise smtplib.SMTPException("DATA %d" % code)
                                s.send(("Subject: %s\r\n\r\n" % tag).encode())
                                time.sleep(0.05)
                                s.send(b"x" * 5000 + b"\r\n")
                                code, msg = s.docmd(".")  # sends ".\r\n" and reads the reply
                                with lock:
                                    (acked if code == 250 else failed).append(tag)
                        except (OSError, smtplib.SMTPException):
                            with lock:
                                failed.append(tag)
                            return

                threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
                for t in threads:
                    t.start()
                time.sleep(kill_after)
                gw.proc.send_signal(signal.SIGKILL)
                gw.proc.wait()
                gw.log.close()
                for t in threads:
                    t.join(30)
                time.sleep(0.6)  # let the sink finish writing what it got
                received = b"\n".join(sink.messages())
                sink.close()
                for tag in acked:
                    self.assertIn(("Subject: %s\r\n" % tag).encode(), received,
                                  "acknowledged but lost: " + tag)
                total_acked += len(acked)
                total_inflight += len(failed)
            # The test proved something only if messages were both
            # acknowledged and cut off by the kill.
            self.assertGreater(total_acked, 0)
            self.assertGreater(total_inflight, 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
