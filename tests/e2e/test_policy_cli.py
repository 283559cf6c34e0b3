#!/usr/bin/env python3
# End-to-end: `sandgate scan --policy FILE --profile NAME` and
# `sandgate policy check|explain` with the shipped policy (issue 3).
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures as F  # noqa: E402
from harness import SandgateCase, main, run_sandgate  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = os.path.join(ROOT, "policies", "default.yaml")


class ShippedPolicy(SandgateCase):
    def scan_policy(self, path, profile, expect_rc):
        res, rep = self.scan1(path, args=("--policy", SHIPPED, "--profile", profile),
                              expect_rc=expect_rc, builtin=False)
        self.assertEqual(rep["policy"]["profile"], profile)
        with open(SHIPPED, "rb") as f:
            shipped = f.read()
        # The identity of the policy as loaded: its file's hash, or (with
        # includes) a hash over the files; never empty.
        self.assertRegex(rep["policy"]["sha256"], "^[0-9a-f]{64}$")
        self.assertNotEqual(rep["policy"]["name"], "builtin")
        return rep, shipped

    def test_zip_of_pdfs_passes_mail_and_is_quarantined_for_upload(self):
        z = F.make_zip_py(self.path("cv.zip"), {"cv.pdf": F.minimal_pdf("Curriculum vitae"),
                                                 "references.pdf": F.minimal_pdf("References")})
        mail, _ = self.scan_policy(z, "mail", expect_rc=0)
        self.assertIn(mail["verdict"], ("pass",))
        upload, _ = self.scan_policy(z, "upload", expect_rc=1)
        self.assertEqual(upload["verdict"], "quarantine")
        self.assertTrue(upload["reasons"], "a quarantine names its reasons")
        for r in upload["reasons"]:
            self.assertTrue(r["rule"] and r["object"] and r["finding"], r)

    def test_pdf_passes_upload(self):
        p = self.write("cv.pdf", F.minimal_pdf("Curriculum vitae"))
        rep, _ = self.scan_policy(p, "upload", expect_rc=0)
        self.assertEqual(rep["verdict"], "pass")

    def test_disguised_executable_is_quarantined_in_both_profiles(self):
        z = F.make_zip_py(self.path("offer.zip"), {"Job.pdf.exe": F.minimal_pe()})
        for profile in ("mail", "upload"):
            with self.subTest(profile=profile):
                rep, _ = self.scan_policy(z, profile, expect_rc=1)
                self.assertIn("offer.zip/Job.pdf.exe", [r["object"] for r in rep["reasons"]])

    def test_shipped_policy_checks_clean(self):
        res = run_sandgate(["policy", "check", SHIPPED])
        self.assertEqual(res.rc, 0, res.describe())

    def test_broken_policy_is_refused_with_positions(self):
        bad = self.write("bad.yaml", b"name: bad\nprofiles:\n  upload:\n    rules:\n"
                                     b"      - name: r1\n        when: {type: exe}\n"
                                     b"        action: quarantin\n")
        res = run_sandgate(["policy", "check", bad])
        self.assertEqual(res.rc, 1, res.describe())
        err = res.stdout.decode() + res.stderr.decode()
        self.assertRegex(err, r"bad\.yaml:6:\d+: ")
        self.assertRegex(err, r"bad\.yaml:7:\d+: .*quarantine")
        # scan refuses to run on an invalid policy (usage/I-O class error: 2)
        p = self.write("x.txt", b"hello\n")
        res = run_sandgate(["scan", "--policy", bad, p])
        self.assertEqual(res.rc, 2, res.describe())

    def test_explain_names_the_deciding_rule(self):
        z = F.make_zip_py(self.path("e.zip"), {"Job.pdf.exe": F.minimal_pe()})
        res = run_sandgate(["policy", "explain", "--policy", SHIPPED, "--profile", "upload", z])
        self.assertEqual(res.rc, 0, res.describe())
        out = res.stdout.decode()
        self.assertIn("e.zip/Job.pdf.exe", out)


if __name__ == "__main__":
    main()
