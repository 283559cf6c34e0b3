# End-to-end test with a real Postfix 3.7 in front of `sandgate serve`, in
# both deployments of deploy/postfix/README.md, built from the snippets shipped
# there (read at test time, only the loopback ports substituted) so the test
# proves those snippets work:
#
#   after-queue:  swaks -> Postfix smtpd :A (content_filter = sandgate:...)
#                 -> queue -> sandgate :S -> Postfix re-injection smtpd :B
#                 -> queue -> relayhost = the sink of test_smtp.py
#   before-queue: swaks -> Postfix smtpd :C (smtpd_proxy_filter = sandgate)
#                 -> sandgate :S' -> Postfix after-filter smtpd :D -> queue
#                 -> relayhost = a sink
#
# Every Postfix instance runs with its own configuration, queue and data
# directories under a temporary directory, on free loopback ports, started
# with `postfix -c DIR start` and always stopped again (class cleanups run
# even when set-up or a test fails). Needs root, postfix and swaks; skipped
# (with the reason) only when one of those is missing.

import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fixtures  # noqa: E402
from test_smtp import SANDGATE, Gateway, Sink  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
SNIPPETS = os.path.join(ROOT, "deploy", "postfix")
POSTFIX = shutil.which("postfix") or ("/usr/sbin/postfix" if os.path.exists("/usr/sbin/postfix") else None)
POSTQUEUE = shutil.which("postqueue") or "/usr/sbin/postqueue"
POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"
SWAKS = shutil.which("swaks")
# Debian ships the pristine master.cf as master.cf.dist; postinst copies it to
# /etc/postfix/master.cf.proto.
MASTER_PROTO = next((p for p in ("/usr/share/postfix/master.cf.dist", "/etc/postfix/master.cf.proto")
                     if os.path.exists(p)), None)

SKIP_REASON = None
if not POSTFIX:
    SKIP_REASON = "postfix is not installed"
elif not SWAKS:
    SKIP_REASON = "swaks is not installed"
elif os.geteuid() != 0:
    SKIP_REASON = "a private Postfix instance needs root (postfix -c DIR start)"

# Mail profile: executables are held (after-queue) or refused (before-queue).
POLICY = """\
name: postfix-e2e-{name}
profiles:
  mail:
    on_error: tempfail
    on_limit: quarantine
    default: pass
    rules:
      - name: {name}-executables
        when: {{type: [pe]}}
        action: {action}
  upload:
    default: pass
"""

DELIVERY_TIMEOUT = 20  # seconds the sink is polled for a message Postfix queued


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def snippet(name):
    with open(os.path.join(SNIPPETS, name)) as f:
        return f.read()


def substitute(text, old, new, what):
    """Replaces `old` exactly once: a snippet that no longer has the line the
    test expects must fail the test, not silently run with other ports."""
    count = len(re.findall(old, text, flags=re.M))
    if count != 1:
        raise AssertionError("%s: expected one match of %r, found %d" % (what, old, count))
    return re.sub(old, new, text, flags=re.M)


def wait_port(port, timeout):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class FixedPortGateway(Gateway):
    """`sandgate serve` on a given SMTP port (to come back where Postfix's
    content_filter points), otherwise as test_smtp.Gateway."""

    def __init__(self, tmp, smtp_port, next_hop_port, policy_path):
        self.data = tempfile.mkdtemp(dir=tmp, prefix="data-")
        self.log_path = os.path.join(self.data, "serve.log")
        self.log = open(self.log_path, "wb")
        self.port = smtp_port
        self.proc = subprocess.Popen(
            [SANDGATE, "serve", "--http", "127.0.0.1:0", "--smtp", "127.0.0.1:%d" % smtp_port, "--next-hop",
             "127.0.0.1:%d" % next_hop_port, "--data-dir", self.data, "--policy", policy_path],
            stderr=self.log, stdout=subprocess.DEVNULL)
        if not wait_port(smtp_port, 20):
            self.stop()
            raise RuntimeError("sandgate serve did not start on port %d: %s" % (
                smtp_port, open(self.log_path, "rb").read().decode(errors="replace")))


class PostfixInstance:
    """A private Postfix: DIR/etc (main.cf, master.cf), DIR/spool (queue),
    DIR/lib (data), DIR/maillog. `main_extra` and `master_extra` are appended
    to the generated files; `master_smtp` replaces master.cf's `smtp inet`
    line (None: the line is rewritten to listen on `public_port`)."""

    def __init__(self, root, name, public_port, relay_port, main_extra, master_extra="", master_smtp=None):
        self.name = name
        self.dir = os.path.join(root, name)
        self.etc = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "lib")
        self.maillog = os.path.join(self.dir, "maillog")
        for d in (self.dir, self.etc, self.queue, self.data):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        try:
            pw = pwd.getpwnam("postfix")  # created by the Debian package
        except KeyError:
            raise RuntimeError("postfix is installed but there is no user postfix") from None
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        self.started = False

        main = "\n".join([
            "# generated by tests/e2e/test_postfix.py",
            "compatibility_level = 3.6",
            "myhostname = %s.sandgate.test" % name,
            "mydomain = sandgate.test",
            "myorigin = $myhostname",
            "queue_directory = " + self.queue,
            "data_directory = " + self.data,
            "maillog_file = " + self.maillog,
            "maillog_file_prefixes = " + self.dir,
            "syslog_name = postfix-" + name,
            "inet_interfaces = loopback-only",
            "inet_protocols = ipv4",
            "mydestination =",
            "local_recipient_maps =",
            "alias_maps =",
            "alias_database =",
            "relayhost = [127.0.0.1]:%d" % relay_port,
            "mynetworks = 127.0.0.0/8",
            "smtpd_relay_restrictions = permit_mynetworks, reject",
            "smtpd_peername_lookup = no",
            "biff = no",
            "append_dot_mydomain = no",
            # A deferred message (Sandgate's 451) is retried within seconds.
            "queue_run_delay = 2s",
            "minimal_backoff_time = 2s",
            "maximal_backoff_time = 4s",
            "",
        ]) + "\n" + main_extra
        with open(MASTER_PROTO) as f:
            master = f.read()
        if master_smtp is None:
            master = substitute(master, r"^smtp(\s+)inet", "127.0.0.1:%d\\1inet" % public_port,
                                MASTER_PROTO)
        else:
            master = substitute(master, r"^smtp\s+inet.*\n", master_smtp.replace("\\", "\\\\") + "\n",
                                MASTER_PROTO)
        master += "\n" + master_extra
        for fname, text in (("main.cf", main), ("master.cf", master)):
            with open(os.path.join(self.etc, fname), "w") as f:
                f.write(text)

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return "(no maillog at %s)" % self.maillog

    def postfix(self, *args, timeout=60):
        return subprocess.run([POSTFIX, "-c", self.etc] + list(args), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def check(self):
        """`postfix check` and `postconf -n` (README step 4): the generated
        configuration, snippets included, has no error and no warning (an
        unknown or misspelt parameter is an "unused parameter" warning)."""
        for argv in ([POSTFIX, "-c", self.etc, "check"], [POSTCONF, "-c", self.etc, "-n"]):
            p = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
            if p.returncode != 0 or p.stderr.strip():
                raise AssertionError("%s: rc %d\n%s\nmaillog:\n%s" % (" ".join(argv), p.returncode, p.stderr,
                                                                    self.log()))

    def start(self, ports):
        self.check()
        self.started = True  # stop() is safe on an instance that failed to start
        p = self.postfix("start")
        if p.returncode != 0 or not all(wait_port(port, 15) for port in ports):
            raise RuntimeError("postfix %s did not start (rc %d)\nstdout: %s\nstderr: %s\nmaillog:\n%s\nmain.cf:\n%s" % (
                self.name, p.returncode, p.stdout, p.stderr, self.log(),
                open(os.path.join(self.etc, "main.cf")).read()))

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def flush(self):
        subprocess.run([POSTQUEUE, "-c", self.etc, "-f"], capture_output=True, timeout=30)

    def stop(self):
        if not self.started:
            return
        self.started = False
        pid = self.master_pid()
        try:
            self.postfix("stop", timeout=30)
        except subprocess.TimeoutExpired:
            pass
        # `postfix stop` signals the master; wait until it and its children
        # are gone, and kill that master (by its pid file) if it lingers.
        end = time.time() + 15
        while pid and time.time() < end:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)
        if pid:
            try:
                self.postfix("abort", timeout=15)
                os.kill(pid, 9)
            except (OSError, subprocess.TimeoutExpired):
                pass


class PostfixCase(unittest.TestCase):
    """Shared set-up: a sink, a `sandgate serve` with POLICY(action), and one
    Postfix instance built by `make_postfix` (set by the subclass)."""

    ACTION = None
    NAME = None

    @classmethod
    def setUpClass(cls):
        if SKIP_REASON:
            raise unittest.SkipTest(SKIP_REASON)
        if not os.access(SANDGATE, os.X_OK):
            raise RuntimeError("sandgate binary not found at %s (set $SANDGATE)" % SANDGATE)
        if MASTER_PROTO is None:
            raise RuntimeError("no master.cf prototype (/usr/share/postfix/master.cf.dist)")
        cls.tmp = tempfile.mkdtemp(prefix="sandgate-postfix-e2e-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        os.chmod(cls.tmp, 0o755)  # Postfix daemons (user postfix) must traverse it
        cls.policy = os.path.join(cls.tmp, "policy.yaml")
        with open(cls.policy, "w") as f:
            f.write(POLICY.format(name=cls.NAME, action=cls.ACTION))
        cls.sink_dir = os.path.join(cls.tmp, "sink")
        os.mkdir(cls.sink_dir)
        cls.sink = Sink(cls.sink_dir)
        cls.addClassCleanup(cls.sink.close)
        cls.next_hop = free_port()  # Postfix's listener for mail Sandgate relays
        cls.gw = Gateway(cls.tmp, cls.next_hop, cls.policy)
        cls.addClassCleanup(cls.gw.stop)
        cls.pf = cls.make_postfix()
        cls.addClassCleanup(cls.pf.stop)
        cls.pf.start([cls.public, cls.next_hop])

    def swaks(self, *args):
        p = subprocess.run([SWAKS, "--server", "127.0.0.1", "--port", str(self.public), "--helo", "client.test",
                            "--timeout", "30"] + list(args), capture_output=True, timeout=90,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode(errors="replace")

    def attach(self, name, content):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(content)
        return path

    def wait_sink(self, needle, timeout=DELIVERY_TIMEOUT):
        end = time.time() + timeout
        flushed = False
        while time.time() < end:
            for m in self.sink.messages():
                if needle in m:
                    return m
            if not flushed and time.time() > end - timeout / 2:
                self.pf.flush()  # nudge a deferred message out of the queue
                flushed = True
            time.sleep(0.1)
        return None

    def quarantine_list(self):
        p = subprocess.run([SANDGATE, "quarantine", "--data-dir", self.gw.data, "list", "--json"],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.decode(errors="replace")

    def context(self):
        """What a failure message needs: Postfix's and Sandgate's logs."""
        with open(self.gw.log_path, "rb") as f:
            serve = f.read().decode(errors="replace")
        return "\n--- maillog (%s) ---\n%s\n--- sandgate serve log ---\n%s" % (
            self.pf.name, self.pf.log()[-6000:], serve[-4000:])

    def check_clean_message_arrives(self, subject, via_sandgate_reply=None):
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--header", "Subject: " + subject,
                             "--body", "Hello Bob,\n.a line with a leading dot\nbye\n")
        self.assertEqual(rc, 0, out + self.context())
        # Postfix's own answer to swaks: its queue id.
        self.assertRegex(out, r"<-  250 2\.0\.0 Ok: queued as [0-9A-Za-z]+")
        m = self.wait_sink(b"Subject: " + subject.encode())
        self.assertIsNotNone(m, "clean message never reached the final sink" + self.context())
        # Postfix passes SIZE (and BODY) on to the next hop.
        self.assertRegex(m, rb"^X-Sink-Envelope: <alice@x\.test>( [A-Z]+=\S+)* -> <bob@y\.test>\r\n")
        self.assertIn(b"X-Sandgate-Verdict: pass (action=pass)\r\n", m)
        self.assertIn(b"X-Sandgate-Report: id=", m)
        self.assertIn(b"\r\n.a line with a leading dot\r\nbye\r\n", m)
        # It went through this Postfix on both sides of Sandgate.
        self.assertGreaterEqual(m.count(b"by %s.sandgate.test (Postfix)" % self.pf.name.encode()), 2,
                                m.decode(errors="replace"))
        return out, m


@unittest.skipIf(SKIP_REASON, SKIP_REASON or "")
class PostfixAfterQueue(PostfixCase):
    """content_filter: main.cf.after-queue + master.cf.after-queue."""

    ACTION = "quarantine"
    NAME = "aq"

    @classmethod
    def make_postfix(cls):
        cls.public = free_port()
        main = substitute(snippet("main.cf.after-queue"), r"\[127\.0\.0\.1\]:10025",
                          "[127.0.0.1]:%d" % cls.gw.port, "main.cf.after-queue")
        master = substitute(snippet("master.cf.after-queue"), r"^127\.0\.0\.1:10026(\s+)inet",
                            "127.0.0.1:%d\\1inet" % cls.next_hop, "master.cf.after-queue")
        return PostfixInstance(cls.tmp, cls.NAME, cls.public, cls.sink.port, main, master)

    def test_clean_message_arrives_with_verdict(self):
        _, m = self.check_clean_message_arrives("pf-aq-clean")
        # Postfix told Sandgate the original client (XFORWARD) and Sandgate
        # passed it on to the re-injection listener, which logs the first
        # hop's queue id (IDENT) and the original client.
        first = re.search(rb"^Received: from client\.test .*\n\s+by aq\.sandgate\.test \(Postfix\) with ESMTP id ([0-9A-F]+)",
                          m, re.M)
        self.assertIsNotNone(first, m.decode(errors="replace"))
        self.assertRegex(self.pf.log(), r"postfix-aq/smtpd\[\d+\]: [0-9A-F]+: client=\S+, orig_queue_id=%s, "
                         r"orig_client=" % first.group(1).decode())
        # Postfix handed it to Sandgate through the sandgate transport, with
        # XFORWARD, and Sandgate's 250 is the re-injection listener's.
        log = self.pf.log()
        self.assertRegex(log, r"postfix-aq/smtp\[\d+\]: [0-9A-F]+: to=<bob@y\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d.*"
                         r"status=sent \(250 2\.0\.0 Ok: queued as " % self.gw.port)

    def test_executable_is_quarantined_not_delivered(self):
        exe = self.attach("invoice.exe", fixtures.minimal_pe(b"postfix-aq"))
        before = self.quarantine_list()
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--header", "Subject: pf-aq-exe",
                             "--attach", "@" + exe)
        # After-queue: Postfix accepts (queues) first, whatever the verdict.
        self.assertEqual(rc, 0, out + self.context())
        self.assertRegex(out, r"<-  250 2\.0\.0 Ok: queued as [0-9A-Za-z]+")
        # Postfix's sandgate transport gets Sandgate's "held in quarantine".
        pat = re.compile(r"postfix-aq/smtp\[\d+\]: [0-9A-F]+: to=<bob@y\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d.*"
                         r"status=sent \(250 2\.0\.0 Ok: held in quarantine as ([0-9a-f]+)" % self.gw.port)
        end = time.time() + DELIVERY_TIMEOUT
        while time.time() < end and not pat.search(self.pf.log()):
            time.sleep(0.2)
        m = pat.search(self.pf.log())
        self.assertIsNotNone(m, "Postfix never handed the message to Sandgate's quarantine" + self.context())
        qid = m.group(1)
        after = self.quarantine_list()
        self.assertNotIn(qid, before)
        self.assertIn(qid, after)
        # Nothing of it reaches the final sink.
        self.assertIsNone(self.wait_sink(b"pf-aq-exe", timeout=2))


    def test_sandgate_down_defers_then_delivers(self):
        """Never lose mail: with Sandgate stopped Postfix keeps the message
        queued (deferred), and delivers it once Sandgate is back."""
        port = self.gw.port
        self.assertEqual(self.gw.stop(), 0)
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--header", "Subject: pf-aq-down",
                             "--body", "while the filter was down")
        self.assertEqual(rc, 0, out)
        m = re.search(r"<-  250 2\.0\.0 Ok: queued as ([0-9A-F]+)", out)
        self.assertIsNotNone(m, out)
        qid = m.group(1)
        pat = re.compile(r"%s: to=<bob@y\.test>, relay=none, .*status=deferred \(connect to "
                         r"127\.0\.0\.1\[127\.0\.0\.1\]:%d: Connection refused\)" % (qid, port))
        end = time.time() + DELIVERY_TIMEOUT
        while time.time() < end and not pat.search(self.pf.log()):
            time.sleep(0.2)
        self.assertRegex(self.pf.log(), pat)
        self.assertIsNone(self.wait_sink(b"pf-aq-down", timeout=0.5))
        # Sandgate back on the same port; Postfix retries (flushed here).
        gw = FixedPortGateway(self.tmp, port, self.next_hop, self.policy)
        type(self).gw = gw
        self.addCleanup(gw.stop)
        self.pf.flush()
        m = self.wait_sink(b"Subject: pf-aq-down")
        self.assertIsNotNone(m, "deferred message never delivered after Sandgate came back" + self.context())
        self.assertIn(b"X-Sandgate-Verdict: pass (action=pass)\r\n", m)
        self.assertEqual(len([x for x in self.sink.messages() if b"Subject: pf-aq-down" in x]), 1)


@unittest.skipIf(SKIP_REASON, SKIP_REASON or "")
class PostfixBeforeQueue(PostfixCase):
    """smtpd_proxy_filter: main.cf.before-queue + master.cf.before-queue."""

    ACTION = "reject"
    NAME = "bq"

    @classmethod
    def make_postfix(cls):
        cls.public = free_port()
        master = snippet("master.cf.before-queue")
        master = substitute(master, r"^smtp(\s+)inet", "127.0.0.1:%d\\1inet" % cls.public, "master.cf.before-queue")
        master = substitute(master, r"smtpd_proxy_filter=127\.0\.0\.1:10025",
                            "smtpd_proxy_filter=127.0.0.1:%d" % cls.gw.port, "master.cf.before-queue")
        master = substitute(master, r"^127\.0\.0\.1:10026(\s+)inet", "127.0.0.1:%d\\1inet" % cls.next_hop,
                            "master.cf.before-queue")
        return PostfixInstance(cls.tmp, cls.NAME, cls.public, cls.sink.port, snippet("main.cf.before-queue"),
                               master_smtp=master)

    def test_clean_message_arrives_with_verdict(self):
        self.check_clean_message_arrives("pf-bq-clean")
        # Accepted through the proxy: the after-filter listener's queue id is
        # the answer the client got.
        self.assertRegex(self.pf.log(), r"proxy-accept: END-OF-MESSAGE: 250 2\.0\.0 Ok: queued as [0-9A-F]+; "
                         r"from=<alice@x\.test> to=<bob@y\.test>")

    def test_executable_is_rejected_in_the_senders_session(self):
        exe = self.attach("invoice.exe", fixtures.minimal_pe(b"postfix-bq"))
        rc, out = self.swaks("--from", "alice@x.test", "--to", "bob@y.test", "--header", "Subject: pf-bq-exe",
                             "--attach", "@" + exe)
        self.assertNotEqual(rc, 0, out)
        # Sandgate's 550 reaches swaks through Postfix's proxy, during DATA.
        self.assertRegex(out, r"<\*\* 550 5\.7\.1 Message rejected by policy: bq-executables",
                         out + self.context())
        self.assertIsNone(self.wait_sink(b"pf-bq-exe", timeout=2))
        log = self.pf.log()
        self.assertRegex(log, r"proxy-reject: END-OF-MESSAGE: 550 5\.7\.1 Message rejected by policy: "
                         r"bq-executables .*; from=<alice@x\.test> to=<bob@y\.test>")
        # Nothing of it was queued (every queued message of this class is the
        # clean one), so there is no bounce either.
        self.assertLessEqual(log.count("(queue active)"), 1, log)
        self.assertNotIn("status=bounced", log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
