#!/usr/bin/env python3
# End-to-end tests of decompression bombs (issue 2, "done when"): a
# single-entry high-ratio zip, a 42.zip-style recursive zip, and overlapping-
# entry zips (full overlap and Fifield's quoted overlap) must each be stopped
# with a finding and a quarantine verdict within 2 s of wall time and 64 MiB of
# peak RSS (GNU time's %M for the sandgate process; see harness.run_sandgate). Under ASan/UBSan builds the
# time bound is scaled (SANDGATE_E2E_TIME_FACTOR, default 10 there) and the
# RSS bound is not checked: the sanitizer's own memory dominates.

import unittest

from harness import SandgateCase, finding_ids, main, sanitized, time_factor
import fixtures as F

WALL_S = 2.0
RSS_KIB = 64 * 1024


class Bombs(SandgateCase):

    def scan_bomb(self, name, data):
        p = self.write(name, data)
        res, rep = self.scan1(p, timeout=60)
        figures = "%s: wall %.3f s (cpu %.3f s), max RSS %.1f MiB, findings %s, limits.hit %s" % (
            name, res.wall, res.cpu, res.maxrss_kib / 1024.0, sorted(finding_ids(rep)), rep["limits"]["hit"])
        print("\n  " + figures, end=" ")
        self.assertEqual(res.rc, 1, res.describe())
        self.assertEqual(rep["verdict"], "quarantine", figures)
        self.assertLess(res.wall, WALL_S * time_factor(), "too slow: " + figures)
        self.assertLess(res.cpu, WALL_S * time_factor(), "too much CPU: " + figures)
        if not sanitized():
            self.assertLess(res.maxrss_kib, RSS_KIB, "too much memory: " + figures)
        # Never inflated past the per-object and total limits.
        total = sum(o["size"] for o in rep["objects"][1:])
        self.assertLessEqual(total, (1024 << 20) + (256 << 20), figures)
        for o in rep["objects"]:
            self.assertLessEqual(o["size"], 256 << 20, "%s: %s" % (o["path"], figures))
        return res, rep

    def assert_limit(self, rep):
        ids = finding_ids(rep)
        limits = sorted(i for i in ids if i.startswith("limits."))
        self.assertTrue(limits, "a limits.* finding: %s" % sorted(ids))
        self.assertTrue(rep["limits"]["hit"], "limits.hit lists the limit")
        self.assertEqual(sorted(set(rep["limits"]["hit"])), limits)
        self.assertTrue(any(r["finding"].startswith("limits.") for r in rep["reasons"]), rep["reasons"])

    def test_single_entry_zip_1gib(self):
        res, rep = self.scan_bomb("bomb.zip", F.single_entry_bomb(1024))
        self.assert_limit(rep)
        self.assertEqual(rep["objects"][0]["type"]["label"], "zip")
        self.assertIn("bomb.zip/zeros.bin", [o["path"] for o in rep["objects"]])
        self.assertIn("limits.ratio", finding_ids(rep))

    def test_single_stream_gzip_1gib(self):
        res, rep = self.scan_bomb("zeros.gz", F.gzip_bomb(1024))
        self.assert_limit(rep)
        self.assertEqual(rep["objects"][0]["type"]["label"], "gzip")

    def test_single_entry_zip_300mib_made_by_zip_tool(self):
        if not F.have("zip"):
            self.skipTest("zip not installed")
        import subprocess
        p = self.path("zipbomb-tool.zip")
        head = subprocess.Popen(["head", "-c", str(300 << 20), "/dev/zero"], stdout=subprocess.PIPE)
        subprocess.run(["zip", "-q", "-1", p, "-"], stdin=head.stdout, check=True)
        head.wait()
        res, rep = self.scan_bomb("zipbomb-tool.zip", F.file_bytes(p))
        self.assert_limit(rep)

    def test_recursive_42_style(self):
        data = F.recursive_bomb(levels=4, fanout=16, leaf_mib=64)  # 4 TiB nominal
        res, rep = self.scan_bomb("42.zip", data)
        self.assert_limit(rep)
        # The nesting is real: the report goes at least a few levels down.
        self.assertGreaterEqual(max(o["depth"] for o in rep["objects"]), 4, self.tree(rep)[:20])

    def test_recursive_deep_nesting(self):
        # 20 levels of zip-in-zip around one small file: past max depth 12.
        blob = F.make_zip_py(self.path("leaf.zip"), {"a.txt": b"deep\n"})
        data = F.file_bytes(blob)
        import io
        import zipfile
        for i in range(20):
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
                zf.writestr("l%02d.zip" % i, data)
            data = buf.getvalue()
        res, rep = self.scan_bomb("deep.zip", data)
        self.assertIn("limits.depth", finding_ids(rep))
        self.assert_limit(rep)
        self.assertLessEqual(max(o["depth"] for o in rep["objects"]), 13, self.tree(rep))

    def test_many_objects(self):
        # 12000 tiny entries: past max objects 10000.
        import io
        import zipfile
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            for i in range(12000):
                zf.writestr("f%05d.txt" % i, b"x")
        res, rep = self.scan_bomb("many.zip", buf.getvalue())
        self.assertIn("limits.objects", finding_ids(rep))
        self.assert_limit(rep)
        # The zip itself is well formed: stopping at the object limit must not
        # turn the unread entries into "hidden data".
        self.assertNotIn("archive.zip.hidden_data", finding_ids(rep))
        self.assertLessEqual(len(rep["objects"]), 10001)

    def test_mail_part_count_past_the_parser_cap_is_a_limit(self):
        # The MIME reader stops at 10,000 parts. With the policy's object
        # limit raised past that, the parts after the cap (here an
        # executable) are never seen: that must still be a limit for
        # on_limit, never a pass.
        pol = self.write("objects30k.yaml", (
            "name: many-parts\n"
            "limits:\n  objects: 30000\n"
            "profiles:\n  mail:\n    on_limit: quarantine\n    default: pass\n").encode())
        parts = ["--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"] * 10001
        parts.append("--b\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Disposition: attachment; filename=\"Invoice.pdf.exe\"\r\n\r\n"
                     "MZ this program cannot be run in DOS mode\r\n--b--\r\n")
        msg = ("From: a@x.test\r\nTo: b@y.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + "".join(parts))
        p = self.write("many-parts.eml", msg.encode())
        res, rep = self.scan1(p, args=("--policy", pol, "--profile", "mail"), timeout=60)
        self.assertEqual(rep["verdict"], "quarantine", res.describe())
        self.assertIn("mime.too_many_parts", finding_ids(rep))
        self.assert_limit(rep)
        self.assertIn("limits.objects", rep["limits"]["hit"])

    def test_overlap_full(self):
        res, rep = self.scan_bomb("overlap-full.zip", F.overlap_bomb_full(1500, 100))
        ids = finding_ids(rep)
        self.assertIn("archive.zip.overlap", ids)
        self.assertTrue(any(r["finding"] in ("archive.zip.overlap",) or r["finding"].startswith("limits.")
                            for r in rep["reasons"]), rep["reasons"])

    def test_overlap_quoted_fifield(self):
        res, rep = self.scan_bomb("overlap-quoted.zip", F.overlap_bomb_quoted(1000, 100))
        ids = finding_ids(rep)
        self.assertIn("archive.zip.overlap", ids)
        self.assertTrue(any(r["finding"] in ("archive.zip.overlap",) or r["finding"].startswith("limits.")
                            for r in rep["reasons"]), rep["reasons"])


if __name__ == "__main__":
    main()
