# Harness for the end-to-end suites: runs the real `sandgate` binary (path in
# $SANDGATE, or build/gateway/sandgate), measures its wall time and peak RSS
# (os.wait4 on that one child, so fixture tools never pollute the figure),
# parses the JSON Lines output and checks every report against the contract
# in ARCHITECTURE.md and the built-in default decision.

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fixtures  # noqa: E402  (after sys.path)

SEVERITIES = ("info", "low", "medium", "high", "critical")
# Finding ids the built-in default quarantines on regardless of severity.
FAIL_CLOSED_IDS = ("archive.encrypted", "unpack.error", "unpack.unsupported", "engine.error")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def sandgate_path():
    path = os.environ.get("SANDGATE")
    if not path:
        root = os.path.dirname(os.path.dirname(HERE))
        path = os.path.join(root, "build", "gateway", "sandgate")
    return path


_SANITIZED = None


def sanitized():
    """True when the binary is built with ASan/UBSan: its time and memory
    figures then measure the sanitizer, not the engine."""
    global _SANITIZED
    if _SANITIZED is None:
        try:
            with open(sandgate_path(), "rb") as f:
                data = f.read()
            _SANITIZED = b"__asan_init" in data or b"AddressSanitizer" in data
        except OSError:
            _SANITIZED = False
    return _SANITIZED


def time_factor():
    f = float(os.environ.get("SANDGATE_E2E_TIME_FACTOR", "0") or 0)
    if f > 0:
        return f
    return 10.0 if sanitized() else 1.0


class Result:
    def __init__(self, argv, rc, stdout, stderr, wall, maxrss_kib, timed_out):
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.wall = wall
        self.maxrss_kib = maxrss_kib
        self.timed_out = timed_out
        self.reports = []
        self.parse_error = None
        for line in stdout.decode("utf-8", "replace").splitlines():
            if not line.strip():
                self.parse_error = "blank line in JSON Lines output"
                continue
            try:
                self.reports.append(json.loads(line))
            except ValueError as e:
                self.parse_error = "line %r: %s" % (line[:200], e)

    def describe(self):
        return ("argv=%r rc=%s wall=%.3fs cpu=%.3fs maxrss=%d KiB%s\nstderr: %s\nstdout: %s" % (
            self.argv, self.rc, self.wall, getattr(self, "cpu", 0.0), self.maxrss_kib, " TIMED OUT" if self.timed_out else "",
            self.stderr.decode("utf-8", "replace")[-2000:],
            self.stdout.decode("utf-8", "replace")[:6000]))


TIME = "/usr/bin/time"


def run_sandgate(args, timeout=120, cwd=None):
    """Runs `sandgate ARGS`; returns a Result with its wall time and peak RSS.

    Peak RSS comes from GNU time (%M) when installed: Linux carries the
    parent's RSS high-water mark across fork+exec into the child's
    ru_maxrss, so wait4 straight from this (large) Python process would
    report Python's footprint, not sandgate's. GNU time forks from a tiny
    process. Without it, wait4 is used and the figure is an upper bound."""
    argv = [sandgate_path()] + list(args)
    use_time = os.access(TIME, os.X_OK)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r", suffix=".time") as tf:
        cmd = ([TIME, "-f", "MAXRSS %M CPU %U %S", "-o", tf.name] if use_time else []) + argv
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd,
                                start_new_session=True)
        killed = []

        def kill():
            killed.append(True)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.monotonic() - start
        rc = os.waitstatus_to_exitcode(status)
        proc.returncode = rc  # reaped by wait4; keep Popen from waiting again
        maxrss = ru.ru_maxrss
        cpu = ru.ru_utime + ru.ru_stime
        if use_time and not killed:
            text = tf.read()
            m = re.search(r"terminated by signal (\d+)", text)
            if m:
                rc = -int(m.group(1))
            m = re.search(r"MAXRSS (\d+) CPU ([\d.]+) ([\d.]+)", text)
            if m:
                maxrss = int(m.group(1))
                cpu = float(m.group(2)) + float(m.group(3))
        out.seek(0)
        err.seek(0)
        res = Result(argv, rc, out.read(), err.read(), wall, maxrss, bool(killed))
        res.cpu = cpu
        return res


def all_findings(report):
    for obj in report.get("objects", []):
        for f in obj.get("findings", []):
            yield obj, f


def finding_ids(report):
    return {f["id"] for _, f in all_findings(report)}


def expected_builtin_verdict(report):
    """The built-in default decision, recomputed from the report's findings."""
    for _, f in all_findings(report):
        if f.get("severity") in ("high", "critical"):
            return "quarantine"
        fid = f.get("id", "")
        if fid in FAIL_CLOSED_IDS or fid.startswith("limits."):
            return "quarantine"
    if report.get("limits", {}).get("hit"):
        return "quarantine"
    return "pass"


class SandgateCase(unittest.TestCase):
    """Base class: a scratch directory per test class, plus helpers."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not os.access(sandgate_path(), os.X_OK):
            # A missing binary is a failure, never a silent skip.
            raise RuntimeError("sandgate binary not found at %s (set $SANDGATE)" % sandgate_path())
        cls.tmp = tempfile.mkdtemp(prefix="sandgate-e2e-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- paths and fixtures --------------------------------------------------

    def path(self, *parts):
        p = os.path.join(self.tmp, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def workdir(self, name):
        d = os.path.join(self.tmp, "work", name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        return d

    def write(self, name, data):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    # -- running -------------------------------------------------------------

    def scan(self, *paths, args=(), expect_rc=None, timeout=120, builtin=True):
        """Scans paths; checks the exit code (if given), one valid report per
        input in input order; returns (result, reports)."""
        res = run_sandgate(["scan", *args, *paths], timeout=timeout)
        self.assertFalse(res.timed_out, "sandgate hung:\n" + res.describe())
        self.assertGreaterEqual(res.rc, 0, "sandgate died of a signal:\n" + res.describe())
        if expect_rc is not None:
            self.assertEqual(res.rc, expect_rc, "exit code:\n" + res.describe())
        self.assertIsNone(res.parse_error, "stdout is not JSON Lines:\n" + res.describe())
        self.assertEqual(len(res.reports), len(paths), "one report per input:\n" + res.describe())
        for p, rep in zip(paths, res.reports):
            self.check_report(rep, os.path.basename(p), builtin=builtin, res=res)
        if res.rc in (0, 1):
            want = 1 if any(r["verdict"] == "quarantine" for r in res.reports) else 0
            self.assertEqual(res.rc, want, "exit code vs verdicts:\n" + res.describe())
        return res, res.reports

    def scan1(self, path, **kw):
        res, reps = self.scan(path, **kw)
        return res, reps[0]

    # -- report checks -------------------------------------------------------

    def check_report(self, rep, root_name, builtin=True, res=None):
        ctx = "\n" + (res.describe() if res else json.dumps(rep)[:4000])
        for key in ("id", "verdict", "action", "reasons", "policy", "objects", "limits", "duration_ms"):
            self.assertIn(key, rep, "report field %s missing%s" % (key, ctx))
        self.assertRegex(rep["id"], UUID_RE, "report id is a uuid" + ctx)
        self.assertIn(rep["verdict"], ("pass", "quarantine"), ctx)
        if rep["verdict"] == "pass":
            self.assertIn(rep["action"], ("pass", "tag"), ctx)
        else:
            self.assertNotIn(rep["action"], ("pass", "tag"), ctx)
        for k in ("name", "profile", "sha256"):
            self.assertIn(k, rep["policy"], ctx)
        self.assertIsInstance(rep["duration_ms"], (int, float), ctx)
        self.assertGreaterEqual(rep["duration_ms"], 0, ctx)
        hit = rep["limits"].get("hit")
        self.assertIsInstance(hit, list, ctx)
        for h in hit:
            self.assertTrue(h.startswith("limits."), "limits.hit entry %r%s" % (h, ctx))
        objs = rep["objects"]
        self.assertGreaterEqual(len(objs), 1, "at least the root object" + ctx)
        self.assertEqual(objs[0]["path"], root_name, "root path is the input's base name" + ctx)
        self.assertEqual(objs[0]["depth"], 0, ctx)
        stack = []
        paths = set()
        for o in objs:
            for k in ("path", "depth", "size", "sha256", "sha1", "md5", "type", "findings"):
                self.assertIn(k, o, "object field %s missing in %r%s" % (k, o.get("path"), ctx))
            self.assertRegex(o["sha256"], r"^[0-9a-f]{64}$", ctx)
            self.assertRegex(o["sha1"], r"^[0-9a-f]{40}$", ctx)
            self.assertRegex(o["md5"], r"^[0-9a-f]{32}$", ctx)
            self.assertIn("label", o["type"], ctx)
            self.assertIn("mime", o["type"], ctx)
            for f in o["findings"]:
                self.assertIn(f.get("severity"), SEVERITIES, "finding %r%s" % (f, ctx))
                self.assertTrue(f.get("id"), ctx)
                self.assertIn("message", f, ctx)
            # Pre-order: the parent of an object at depth d is the latest
            # object at depth d-1, and its path is the parent's path + "/".
            d = o["depth"]
            if d > 0:
                self.assertLessEqual(d, len(stack), "depth jumps in pre-order at %r%s" % (o["path"], ctx))
                parent = stack[d - 1]
                self.assertTrue(o["path"].startswith(parent + "/") and len(o["path"]) > len(parent) + 1,
                                "%r is not below its pre-order parent %r%s" % (o["path"], parent, ctx))
            del stack[d:]
            stack.append(o["path"])
            paths.add(o["path"])
        for r in rep["reasons"]:
            for k in ("rule", "object", "finding"):
                self.assertIn(k, r, ctx)
            if r["object"]:
                self.assertIn(r["object"], paths, "reason names an object not in the report" + ctx)
        if rep["verdict"] == "quarantine":
            self.assertTrue(rep["reasons"], "a quarantine carries reasons" + ctx)
        for h in hit:
            self.assertIn(h, finding_ids(rep), "limits.hit %s has no matching finding%s" % (h, ctx))
        if builtin:
            self.assertEqual(rep["verdict"], expected_builtin_verdict(rep),
                             "verdict disagrees with the built-in default decision" + ctx)

    def obj(self, rep, path):
        for o in rep["objects"]:
            if o["path"] == path:
                return o
        self.fail("no object %r in %s" % (path, [o["path"] for o in rep["objects"]]))

    def tree(self, rep):
        return [(o["path"], o["depth"], o["type"]["label"]) for o in rep["objects"]]

    def assertTree(self, rep, expected):
        self.assertEqual(self.tree(rep), expected, json.dumps(rep, indent=1)[:6000])

    def assertBytes(self, obj, data):
        """Object size and all three hashes match the original bytes."""
        import hashlib
        self.assertEqual(obj["size"], len(data), obj["path"])
        self.assertEqual(obj["sha256"], hashlib.sha256(data).hexdigest(), obj["path"])
        self.assertEqual(obj["sha1"], hashlib.sha1(data).hexdigest(), obj["path"])
        self.assertEqual(obj["md5"], hashlib.md5(data).hexdigest(), obj["path"])

    def assertFinding(self, obj, fid, severity=None):
        ids = [f["id"] for f in obj["findings"]]
        self.assertIn(fid, ids, "finding %s on %s" % (fid, obj["path"]))
        if severity:
            sev = [f["severity"] for f in obj["findings"] if f["id"] == fid]
            self.assertIn(severity, sev, "severity of %s on %s" % (fid, obj["path"]))

    def assertReason(self, rep, obj_path=None, finding=None):
        for r in rep["reasons"]:
            if (obj_path is None or r["object"] == obj_path) and (finding is None or r["finding"] == finding):
                return r
        self.fail("no reason (object=%r, finding=%r) in %s" % (obj_path, finding, rep["reasons"]))


def main():
    prog = unittest.main(module="__main__", verbosity=2, exit=False)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
