#!/usr/bin/env python3
# End-to-end tests of fail-closed behaviour: truncated and corrupted
# containers of each format (zip, 7z, tar.gz, iso, cab, cpio) must never crash
# or hang the scan, must carry an unpacker finding, must be quarantined, and
# must not stop the siblings from being scanned. Also the zip structure checks
# that libarchive does not do (local/central header mismatch, hidden data).

import os
import unittest

from harness import SandgateCase, finding_ids, main
import fixtures as F

GOOD = F.prose(4000, seed=21)
OTHER = F.prose(2000, seed=22)
# Big enough that a cut in the middle lands inside entry data, not padding.
BIG = F.prose(300000, seed=23)
PDF = F.minimal_pdf("truncated")

# Findings that say "could not look inside this".
UNPACK_FAILURES = {"unpack.error", "unpack.unsupported", "mime.malformed", "engine.error"}


def builders():
    """name -> (extension, expected root label, build(case, path) -> bytes, tools)."""
    files = {"big.txt": BIG, "cv.pdf": PDF, "z.txt": OTHER}

    def zip_(case, p):
        return F.file_bytes(F.make_zip_tool(p, files, case.workdir("tz")))

    def sevenz(case, p):
        return F.file_bytes(F.make_7z(p, files, case.workdir("t7")))

    def targz(case, p):
        F.make_tar(p, files, case.workdir("tg"), compressor="gzip")
        return F.file_bytes(p)

    def iso(case, p):
        return F.file_bytes(F.make_iso(p, files, case.workdir("ti")))

    def cab(case, p):
        return F.file_bytes(F.make_cab(p, files, case.workdir("tc")))

    def cpio(case, p):
        return F.file_bytes(F.make_cpio(p, files, case.workdir("tp")))

    return {
        "zip": ("zip", "zip", zip_, ("zip",)),
        "7z": ("7z", "7z", sevenz, ("7zz",)),
        "tar.gz": ("tar.gz", "gzip", targz, ("tar", "gzip")),
        "iso": ("iso", "iso9660", iso, ()),
        "cab": ("cab", "cab", cab, ("gcab",)),
        "cpio": ("cpio", "cpio", cpio, ("cpio",)),
    }


class Truncated(SandgateCase):

    def make(self, fmt):
        ext, label, build, tools = builders()[fmt]
        missing = [t for t in tools if not F.have(t)]
        if fmt == "iso" and not F.iso_tool():
            missing.append("genisoimage/xorriso")
        if missing:
            self.skipTest("fixture tool(s) missing: " + ", ".join(missing))
        full = build(self, self.path("full-" + fmt + "." + ext))
        return ext, label, full

    def assert_fail_closed(self, rep, where):
        ids = finding_ids(rep)
        self.assertTrue(ids & UNPACK_FAILURES,
                        "%s: no unpack failure finding (got %s)\n%s" % (where, ids, self.tree(rep)))
        self.assertEqual(rep["verdict"], "quarantine", where)

    def check_truncated_root(self, fmt):
        ext, label, full = self.make(fmt)
        cut = full[:len(full) // 2]
        p = self.write("cut-%s.%s" % (fmt.replace(".", "-"), ext), cut)
        res, rep = self.scan1(p, timeout=60)
        self.assertIn(res.rc, (0, 1), res.describe())
        self.assertEqual(res.rc, 1, "fail closed: a truncated %s is quarantined\n%s" % (fmt, res.describe()))
        root = rep["objects"][0]
        self.assertEqual(root["type"]["label"], label, self.tree(rep))
        self.assertBytes(root, cut)
        self.assert_fail_closed(rep, fmt)
        # The failure is reported on the container (or a container inside
        # it, such as the tar inside a gzip) or on the entry whose bytes were
        # cut short, and a reason names it.
        failed = [o["path"] for o in rep["objects"]
                  if set(f["id"] for f in o["findings"]) & UNPACK_FAILURES]
        self.assertTrue(failed, res.describe())
        self.assertTrue(any(r["object"] in failed for r in rep["reasons"]), rep["reasons"])

    def check_sibling(self, fmt):
        ext, label, full = self.make(fmt)
        cut = full[:len(full) // 2]
        inner = "bad." + ext
        outer = F.make_zip_py(self.path("outer-%s.zip" % fmt.replace(".", "-")),
                              {"a-good.txt": GOOD, inner: cut, "z-good.txt": OTHER}, deflate=False)
        root = os.path.basename(outer)
        res, rep = self.scan1(outer, timeout=60)
        self.assertEqual(res.rc, 1, res.describe())
        self.assertEqual(rep["objects"][0]["type"]["label"], "zip")
        self.assertBytes(self.obj(rep, root + "/a-good.txt"), GOOD)
        bad = self.obj(rep, root + "/" + inner)
        self.assertEqual(bad["depth"], 1)
        self.assertEqual(bad["type"]["label"], label)
        self.assertBytes(bad, cut)
        # Siblings after the broken container are still scanned.
        good = self.obj(rep, root + "/z-good.txt")
        self.assertEqual((good["depth"], good["type"]["label"]), (1, "text"))
        self.assertBytes(good, OTHER)
        self.assert_fail_closed(rep, fmt + " inside a zip")
        self.assertTrue(any(r["object"].startswith(root + "/" + inner) for r in rep["reasons"]),
                        "the reason names the broken container:\n%s" % rep["reasons"])


def _add_format_tests():
    for fmt in builders():
        slug = fmt.replace(".", "_")
        setattr(Truncated, "test_truncated_%s" % slug,
                lambda self, fmt=fmt: self.check_truncated_root(fmt))
        setattr(Truncated, "test_truncated_%s_with_siblings" % slug,
                lambda self, fmt=fmt: self.check_sibling(fmt))


_add_format_tests()


class Corrupted(SandgateCase):

    def test_zip_corrupt_deflate_data(self):
        data = bytearray(F.build_zip([{"name": "a.txt", "data": BIG}, {"name": "b.txt", "data": GOOD}]))
        # Flip bytes inside a.txt's compressed body (after its 30+5 byte header).
        for i in range(200, 260):
            data[i] ^= 0x5A
        p = self.write("corrupt.zip", bytes(data))
        res, rep = self.scan1(p, expect_rc=1, timeout=60)
        ids = finding_ids(rep)
        self.assertTrue(ids & UNPACK_FAILURES, "%s\n%s" % (ids, self.tree(rep)))
        self.assertBytes(self.obj(rep, "corrupt.zip/b.txt"), GOOD)

    def test_zip_bad_crc(self):
        raw = bytearray(F.build_zip([{"name": "a.txt", "data": GOOD, "method": 0}]))
        raw[40 + 100] ^= 1  # one bit of the stored body: CRC no longer matches
        p = self.write("badcrc.zip", bytes(raw))
        res, rep = self.scan1(p, expect_rc=1, timeout=60)
        self.assertIn("unpack.error", finding_ids(rep), self.tree(rep))

    def test_garbage_after_magic(self):
        import random
        rnd = random.Random(7)
        for magic, label in ((b"PK\x03\x04", "zip"), (b"7z\xbc\xaf\x27\x1c", "7z"),
                             (b"\x1f\x8b\x08\x00", "gzip"), (b"070701", "cpio")):
            with self.subTest(label=label):
                body = magic + bytes(rnd.getrandbits(8) for _ in range(4096))
                p = self.write("junk." + label, body)
                res, rep = self.scan1(p, timeout=60)
                if label == "cpio" and rep["objects"][0]["type"]["label"] == "data":
                    # The magic alone does not make a cpio: an exact header
                    # check may call it data, and data is a leaf.
                    continue
                self.assertEqual(rep["objects"][0]["type"]["label"], label, self.tree(rep))
                self.assertEqual(res.rc, 1, res.describe())
                self.assertTrue(finding_ids(rep) & UNPACK_FAILURES, self.tree(rep))

    def test_empty_and_tiny_files(self):
        for name, body in (("empty.zip", b""), ("one.7z", b"7"), ("eocd-only.zip", F.zip_eocd(0, 0, 0))):
            with self.subTest(name=name):
                p = self.write(name, body)
                res, rep = self.scan1(p, timeout=60)
                self.assertIn(res.rc, (0, 1), res.describe())
                self.assertBytes(rep["objects"][0], body)

    def test_zip_eocd_claims_too_many_entries(self):
        good = bytearray(F.build_zip([{"name": "a.txt", "data": GOOD}]))
        # EOCD: total entries = 65535, central directory size stays 1 entry.
        eocd = len(good) - 22
        good[eocd + 8:eocd + 12] = b"\xff\xff\xff\xff"
        p = self.write("manyentries.zip", bytes(good))
        res, rep = self.scan1(p, timeout=60)
        self.assertIn(res.rc, (0, 1), res.describe())


class ZipStructure(SandgateCase):
    """Checks libarchive does not do: local vs central headers, hidden bytes."""

    def test_header_name_mismatch(self):
        z = F.build_zip([{"name": "invoice.pdf", "local_name": "invoice.exe", "data": GOOD},
                         {"name": "b.txt", "data": OTHER}])
        p = self.write("mismatch.zip", z)
        res, rep = self.scan1(p, timeout=60)
        self.assertIn("archive.zip.header_mismatch", finding_ids(rep), self.tree(rep))

    def test_header_size_mismatch(self):
        z = F.build_zip([{"name": "a.txt", "data": GOOD, "local_usize": 17}])
        p = self.write("sizemismatch.zip", z)
        res, rep = self.scan1(p, timeout=60)
        self.assertIn("archive.zip.header_mismatch", finding_ids(rep), self.tree(rep))

    def test_hidden_data_between_entries(self):
        z = F.build_zip([{"name": "a.txt", "data": GOOD}, {"name": "b.txt", "data": OTHER}],
                        gap_after={0: F.minimal_pe(b"hidden")})
        p = self.write("hidden.zip", z)
        res, rep = self.scan1(p, timeout=60)
        self.assertIn("archive.zip.hidden_data", finding_ids(rep), self.tree(rep))
        self.assertBytes(self.obj(rep, "hidden.zip/b.txt"), OTHER)

    def test_hidden_data_before_cd(self):
        z = F.build_zip([{"name": "a.txt", "data": GOOD}], suffix_before_cd=b"X" * 5000)
        p = self.write("hidden2.zip", z)
        res, rep = self.scan1(p, timeout=60)
        self.assertIn("archive.zip.hidden_data", finding_ids(rep), self.tree(rep))

    def test_clean_hand_built_zip_has_no_structure_findings(self):
        z = F.build_zip([{"name": "a.txt", "data": GOOD}, {"name": "b.txt", "data": OTHER, "method": 0}])
        p = self.write("handmade.zip", z)
        res, rep = self.scan1(p, expect_rc=0, timeout=60)
        self.assertTree(rep, [("handmade.zip", 0, "zip"), ("handmade.zip/a.txt", 1, "text"),
                              ("handmade.zip/b.txt", 1, "text")])
        self.assertFalse([i for i in finding_ids(rep) if i.startswith("archive.zip.")], self.tree(rep))


if __name__ == "__main__":
    main()
