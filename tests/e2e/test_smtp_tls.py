#!/usr/bin/env python3
# End-to-end: the SMTP intake's configuration file section and STARTTLS
# (RFC 3207). `sandgate serve --config` with an smtp: section (hostname,
# limits, headers, tls) and a certificate made here with openssl; driven by
# swaks (-tls) and by Python's ssl module for what swaks cannot do (plaintext
# pipelined behind STARTTLS must never be read as a command of the TLS
# session, the CVE-2011-0411 class; STARTTLS twice; STARTTLS mid-transaction).
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_smtp import Sink  # noqa: E402

SANDGATE = os.environ.get("SANDGATE", "build/gateway/sandgate")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLICY = os.path.join(ROOT, "policies", "default.yaml")


def read_reply(f):
    """One SMTP reply (all its lines) from a file-like socket reader."""
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise ConnectionError("closed; so far: %r" % lines)
        lines.append(line.decode(errors="replace").rstrip("\r\n"))
        if len(line) >= 4 and line[3:4] == b" ":
            return lines


class Service:
    def __init__(self, tmp, sink_port, smtp_section):
        self.tmp = tmp
        self.config = os.path.join(tmp, "sandgate.yaml")
        with open(self.config, "w") as f:
            f.write(f"policy: {POLICY}\n"
                    f"data_dir: {tmp}/var\n"
                    "http:\n  listen: 127.0.0.1:0\n"
                    "smtp:\n  listen: 127.0.0.1:0\n"
                    f"  next_hop: 127.0.0.1:{sink_port}\n" + smtp_section)
        self.log_path = os.path.join(tmp, "serve.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([SANDGATE, "serve", "--config", self.config],
                                     stderr=self.log, stdout=subprocess.DEVNULL)
        self.port = None
        deadline = time.time() + 20
        while time.time() < deadline:
            text = self.log_text()
            m = re.search(r'"smtp":"127\.0\.0\.1:(\d+)"', text)
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class SmtpConfigAndStartTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("openssl is not installed")
        cls.tmp = tempfile.mkdtemp(prefix="sg-smtp-tls-")
        cls.cert = os.path.join(cls.tmp, "cert.pem")
        cls.key = os.path.join(cls.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=filter.test", "-keyout", cls.key, "-out", cls.cert],
                       check=True, capture_output=True)
        os.makedirs(os.path.join(cls.tmp, "sink"))
        cls.sink = Sink(os.path.join(cls.tmp, "sink"))
        cls.svc = Service(cls.tmp, cls.sink.port,
                          "  hostname: filter.test\n"
                          f"  tls: {{cert: {cls.cert}, key: {cls.key}}}\n"
                          "  headers: {report: false}\n"
                          "  limits: {max_message: 200KiB, max_recipients: 3}\n")
        if cls.svc.port is None:
            text = cls.svc.log_text()
            cls.svc.stop()
            raise AssertionError("sandgate serve did not start:\n" + text)

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop()
        cls.sink.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.svc.port), timeout=10)
        f = s.makefile("rb")
        greeting = read_reply(f)
        self.assertTrue(greeting[0].startswith("220 filter.test"), greeting)
        return s, f

    def ehlo(self, s, f):
        s.sendall(b"EHLO client.test\r\n")
        return read_reply(f)

    def tls_context(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = False  # the certificate names filter.test, we dial 127.0.0.1
        return ctx

    def test_config_section_applies(self):
        s, f = self.connect()
        with s:
            lines = self.ehlo(s, f)
            self.assertEqual(lines[0], "250-filter.test")
            self.assertIn("250-SIZE %d" % (200 * 1024), lines)
            self.assertIn("STARTTLS", [l[4:] for l in lines])
            s.sendall(b"MAIL FROM:<a@example.org>\r\n")
            self.assertTrue(read_reply(f)[0].startswith("250"))
            for i in range(3):
                s.sendall(b"RCPT TO:<r%d@example.org>\r\n" % i)
                self.assertTrue(read_reply(f)[0].startswith("250"))
            s.sendall(b"RCPT TO:<r9@example.org>\r\n")
            self.assertRegex(read_reply(f)[0], r"^45[0-9] |^452 ")

    def test_swaks_delivers_over_starttls(self):
        before = len(self.sink.messages())
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(self.svc.port), "-tls",
                            "--from", "a@example.org", "--to", "b@example.org",
                            "--header", "Subject: over tls", "--body", "hello over TLS"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("TLS started", r.stdout + r.stderr)
        deadline = time.time() + 10
        while len(self.sink.messages()) == before and time.time() < deadline:
            time.sleep(0.05)
        msgs = self.sink.messages()
        self.assertEqual(len(msgs), before + 1)
        body = msgs[-1]
        self.assertIn(b"hello over TLS", body)
        self.assertIn(b"X-Sandgate-Verdict: pass", body)
        # headers: {report: false} in the config.
        self.assertNotIn(b"X-Sandgate-Report", body)

    def test_plaintext_pipelined_behind_starttls_is_not_executed(self):
        s, f = self.connect()
        self.ehlo(s, f)
        # STARTTLS and a command in one segment: the command must not be read
        # as if it came over TLS (it would then be answered inside TLS).
        s.sendall(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
        self.assertTrue(read_reply(f)[0].startswith("220 2.0.0"))
        tls = self.tls_context().wrap_socket(s, server_hostname="filter.test")
        tf = tls.makefile("rb")
        # Nothing may be waiting: the first reply inside TLS answers our NOOP
        # (an executed injected MAIL would have been answered first, 503).
        tls.sendall(b"NOOP\r\n")
        self.assertEqual(read_reply(tf), ["250 2.0.0 Ok"])
        tls.sendall(b"MAIL FROM:<x@example.org>\r\n")
        self.assertTrue(read_reply(tf)[0].startswith("503"), "EHLO must be required again after TLS")
        tls.sendall(b"EHLO client.test\r\n")
        lines = read_reply(tf)
        self.assertEqual(lines[0], "250-filter.test")
        self.assertNotIn("STARTTLS", [l[4:] for l in lines])
        tls.sendall(b"STARTTLS\r\n")
        self.assertTrue(read_reply(tf)[0].startswith("554"))
        tls.sendall(b"QUIT\r\n")
        self.assertTrue(read_reply(tf)[0].startswith("221"))
        tls.close()

    def test_starttls_refused_inside_a_transaction(self):
        s, f = self.connect()
        with s:
            self.ehlo(s, f)
            s.sendall(b"MAIL FROM:<a@example.org>\r\n")
            read_reply(f)
            s.sendall(b"STARTTLS\r\n")
            self.assertTrue(read_reply(f)[0].startswith("503"))

    def test_failed_handshake_ends_the_connection_only(self):
        s, f = self.connect()
        with s:
            self.ehlo(s, f)
            s.sendall(b"STARTTLS\r\n")
            read_reply(f)
            s.sendall(b"this is not a TLS ClientHello\r\n" * 4)
            s.settimeout(10)
            try:
                rest = s.recv(4096)
            except (ConnectionError, socket.timeout):
                rest = b""
            self.assertNotIn(b"250", rest)
        # The service is still there for the next client.
        s2, f2 = self.connect()
        s2.close()


class HeldMailNotices(unittest.TestCase):
    """smtp.notify: a held message produces one notice, with the null sender,
    to its recipients and the administrator; the message itself is not
    delivered, and hostile header text cannot inject into the notice."""

    def test_notice_to_recipient_and_admin(self):
        import smtplib
        from email.message import EmailMessage
        import fixtures as F
        tmp = tempfile.mkdtemp(prefix="sg-notice-")
        try:
            os.makedirs(os.path.join(tmp, "sink"))
            sink = Sink(os.path.join(tmp, "sink"))
            svc = Service(tmp, sink.port,
                          "  notify: {recipients: true, admin: security@example.org, from: gateway@example.org}\n")
            try:
                self.assertIsNotNone(svc.port, svc.log_text())
                m = EmailMessage()
                m["From"], m["To"] = "hr@evil.test", "jane@example.org"
                m["Subject"] = "Offer"
                m.set_content("see attached")
                m.add_attachment(F.minimal_pe(b"notice"), maintype="application",
                                 subtype="octet-stream", filename="Offer.pdf.exe")
                with smtplib.SMTP("127.0.0.1", svc.port, timeout=30) as c:
                    # A Subject whose decoded text carries CRLF and a header.
                    raw = m.as_bytes().replace(
                        b"Subject: Offer", b"Subject: =?utf-8?q?Offer=0D=0ABcc:_injected@evil.test?=", 1)
                    c.sendmail("hr@evil.test", ["jane@example.org"], raw)
                deadline = time.time() + 15
                while not sink.messages() and time.time() < deadline:
                    time.sleep(0.05)
                time.sleep(0.5)
                msgs = sink.messages()
                self.assertEqual(len(msgs), 1, msgs)
                notice = msgs[0]
                self.assertTrue(notice.startswith(
                    b"X-Sink-Envelope: <> -> <jane@example.org>,<security@example.org>"), notice[:200])
                self.assertIn(b"From: gateway@example.org\r\n", notice)
                self.assertIn(b"Auto-Submitted: auto-generated", notice)
                self.assertIn(b"Offer.pdf.exe", notice)
                self.assertIn(b"X-Sandgate-Quarantine-Id: ", notice)
                self.assertNotIn(b"\r\nBcc:", notice)
                self.assertNotIn(b"MZ", notice)  # the program itself is not in the notice
                self.assertIn('"event":"notice"', svc.log_text())
            finally:
                svc.stop()
                sink.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class DataDirectory(unittest.TestCase):
    """One service per data directory; spool files a killed run left behind
    (never acknowledged) are removed at start."""

    def test_second_instance_refused_and_stale_spool_cleared(self):
        tmp = tempfile.mkdtemp(prefix="sg-datadir-")
        try:
            os.makedirs(os.path.join(tmp, "sink"))
            sink = Sink(os.path.join(tmp, "sink"))
            first = Service(tmp, sink.port, "")
            try:
                self.assertIsNotNone(first.port, first.log_text())
                r = subprocess.run([SANDGATE, "serve", "--config", first.config],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("in use by another sandgate serve", r.stderr)
                self.assertIsNone(first.proc.poll(), "the running service must be untouched")
            finally:
                first.proc.kill()  # as a crash would: the lock goes with the process
                first.proc.wait()
                first.log.close()
            stale = os.path.join(tmp, "var", "spool", "smtp-99999-1-0")
            with open(stale, "w") as f:
                f.write("half a message")
            second = Service(tmp, sink.port, "")
            try:
                self.assertIsNotNone(second.port, second.log_text())
                self.assertFalse(os.path.exists(stale))
                self.assertIn("removed 1 spool file(s)", second.log_text())
            finally:
                second.stop()
                sink.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class SmtpConfigErrors(unittest.TestCase):
    def check(self, section, needle):
        tmp = tempfile.mkdtemp(prefix="sg-smtp-cfg-")
        try:
            cfg = os.path.join(tmp, "sandgate.yaml")
            with open(cfg, "w") as f:
                f.write("smtp:\n" + section)
            r = subprocess.run([SANDGATE, "serve", "--config", cfg, "--data-dir", tmp + "/var"],
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertRegex(r.stderr, re.escape(cfg) + r":\d+:\d+: ")
            self.assertIn(needle, r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_unknown_key(self):
        self.check("  listen: 127.0.0.1:0\n  max_size: 10\n", "max_size")

    def test_tls_needs_both(self):
        self.check("  tls: {cert: /etc/hostname}\n", "both cert and key")

    def test_bad_limit(self):
        self.check("  limits: {max_recipients: 0}\n", "max_recipients")


if __name__ == "__main__":
    unittest.main()
