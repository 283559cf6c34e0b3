# Fixture builders for the end-to-end suites: every input is made at test time,
# either by the real archivers (zip, 7zz, tar + compressors, genisoimage/xorriso,
# cpio, gcab) or byte by byte in Python where the point is a structure no tool
# writes (minimal PE, zip bombs, overlapping zip entries, forged headers).
# Python 3 standard library only.

import hashlib
import os
import shutil
import struct
import subprocess
import zlib

# ---------------------------------------------------------------------------
# Tools


def have(tool):
    return shutil.which(tool) is not None


def run(cmd, cwd=None, stdin=None, stdout=None):
    """Runs a fixture tool; raises with its stderr on failure."""
    proc = subprocess.run(cmd, cwd=cwd, stdin=stdin, stdout=stdout or subprocess.PIPE,
                          stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError("fixture tool failed: %r: %s" % (cmd, proc.stderr.decode(errors="replace")))
    return proc


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def stage(directory, files):
    """Writes {relative name: bytes} under directory; returns the names in order."""
    os.makedirs(directory, exist_ok=True)
    for name, data in files.items():
        p = os.path.join(directory, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    return list(files)


# ---------------------------------------------------------------------------
# Leaf content


def minimal_pe(marker=b""):
    """A minimal but well-formed PE32+ (x86-64 console) image: DOS header with
    e_lfanew, "PE\\0\\0", COFF header, full optional header with 16 data
    directories, one .text section. `marker` makes the bytes unique."""
    assert len(marker) <= 0x1F0
    dos = bytearray(0x80)
    struct.pack_into("<2sHHHHHHHHHHHHH", dos, 0, b"MZ", 0x90, 3, 0, 4, 0, 0xFFFF, 0,
                     0xB8, 0, 0, 0, 0x40, 0)
    struct.pack_into("<I", dos, 0x3C, 0x80)
    stub = bytes.fromhex("0e1fba0e00b409cd21b8014ccd21") + b"This program cannot be run in DOS mode.\r\r\n$"
    dos[0x40:0x40 + len(stub)] = stub
    coff = struct.pack("<HHIIIHH", 0x8664, 1, 0x5F000000, 0, 0, 240, 0x0022)
    opt = struct.pack("<HBBIIIII", 0x20B, 14, 0, 0x200, 0, 0, 0x1000, 0x1000)
    opt += struct.pack("<QIIHHHHHHIIIIHHQQQQII", 0x140000000, 0x1000, 0x200, 6, 0, 0, 0, 6, 0,
                       0, 0x2000, 0x200, 0, 3, 0x8160, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    opt += bytes(16 * 8)
    assert len(opt) == 240
    sec = struct.pack("<8sIIIIIIHHI", b".text", 0x200, 0x1000, 0x200, 0x200, 0, 0, 0, 0, 0x60000020)
    hdr = bytes(dos) + b"PE\0\0" + coff + opt + sec
    hdr += bytes(0x200 - len(hdr))
    code = b"\x31\xc0\xc3" + marker
    return hdr + code + bytes(0x200 - len(code))


def minimal_pdf(text="Hello"):
    """A small valid PDF 1.4 with one page showing `text` (correct xref)."""
    text = text.replace("\\", "").replace("(", "").replace(")", "")
    content = ("BT /F1 12 Tf 72 720 Td (%s) Tj ET\n" % text).encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


_WORDS = ("the of and to in is that for it as was with be by on not he this are or his "
          "from at which but have an they you were her she there been one all we their "
          "invoice contract applicant position salary meeting report quarterly attachment "
          "candidate interview schedule department manager confidential review summary").split()


def prose(n_bytes, seed=1):
    """Deterministic English-like text of n_bytes (compresses about 3:1)."""
    import random
    rnd = random.Random(seed)
    out = []
    size = 0
    while size < n_bytes:
        line = " ".join(rnd.choice(_WORDS) for _ in range(12)) + ".\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:n_bytes]


# ---------------------------------------------------------------------------
# Archivers (real tools)


def make_zip_py(out, files, deflate=True):
    """A zip written by Python's zipfile (no directory entries)."""
    import zipfile
    comp = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", comp) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out


def make_zip_tool(out, files, workdir, extra=()):
    """A zip written by Info-ZIP `zip` (-D: no directory entries)."""
    names = stage(workdir, files)
    run(["zip", "-q", "-D", "-X", *extra, os.path.abspath(out), *names], cwd=workdir)
    return out


def make_7z(out, files, workdir, extra=()):
    names = stage(workdir, files)
    run(["7zz", "a", "-bd", "-bso0", "-bsp0", *extra, os.path.abspath(out), *names], cwd=workdir)
    return out


def sevenz_order(path):
    """Entry names of a 7z in archive order (7zz sorts files for solid blocks)."""
    out = run(["7zz", "l", "-slt", "-ba", path]).stdout.decode()
    return [l[7:] for l in out.splitlines() if l.startswith("Path = ")]


def make_tar(out, files, workdir, compressor=None):
    """tar of the given files (no directory entries), optionally piped through
    gzip/bzip2/xz/zstd/lz4."""
    names = stage(workdir, files)
    tar = run(["tar", "--format=gnu", "-cf", "-", *names], cwd=workdir).stdout
    data = tar if compressor is None else compress_bytes(tar, compressor)
    with open(out, "wb") as f:
        f.write(data)
    return tar


COMPRESSORS = {
    "gzip": ["gzip", "-c", "-n"],
    "bzip2": ["bzip2", "-c"],
    "xz": ["xz", "-c"],
    "zstd": ["zstd", "-q", "-c"],
    "lz4": ["lz4", "-q", "-c"],
}


def compress_bytes(data, compressor):
    return subprocess.run(COMPRESSORS[compressor], input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=True).stdout


def make_cpio(out, files, workdir):
    names = stage(workdir, files)
    with open(out, "wb") as f:
        proc = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc"], cwd=workdir,
                              input=("\n".join(names) + "\n").encode(), stdout=f,
                              stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError("cpio failed: %s" % proc.stderr.decode(errors="replace"))
    return out


def make_cab(out, files, workdir, compress=True):
    names = stage(workdir, files)
    run(["gcab", "-c", "-n", *(["-z"] if compress else []), os.path.abspath(out), *names], cwd=workdir)
    return out


def iso_tool():
    if have("genisoimage"):
        return "genisoimage"
    if have("xorriso"):
        return "xorriso"
    return None


def make_iso(out, files, workdir):
    """ISO9660 with Rock Ridge and Joliet holding files (flat layout)."""
    stage(workdir, files)
    tool = iso_tool()
    if tool == "genisoimage":
        run(["genisoimage", "-quiet", "-R", "-J", "-no-pad", "-V", "SANDGATE", "-o",
             os.path.abspath(out), "."], cwd=workdir)
    else:
        run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "SANDGATE", "-o",
             os.path.abspath(out), "."], cwd=workdir)
    return out


# ---------------------------------------------------------------------------
# Zip by hand


def _dos_time():
    return (12 << 11) | (0 << 5), ((2024 - 1980) << 9) | (1 << 5) | 1


def zip_local_header(name, method, crc, csize, usize, flags=0, extra=b""):
    t, d = _dos_time()
    name = name.encode() if isinstance(name, str) else name
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, t, d, crc, csize, usize,
                       len(name), len(extra)) + name + extra


def zip_central_header(name, method, crc, csize, usize, offset, flags=0):
    t, d = _dos_time()
    name = name.encode() if isinstance(name, str) else name
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, flags, method, t, d, crc,
                       csize, usize, len(name), 0, 0, 0, 0, 0o100644 << 16, offset) + name


def zip_eocd(count, cd_size, cd_offset):
    return struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, cd_size, cd_offset, 0)


def raw_deflate(data, level=6):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def build_zip(entries, gap_after=None, prefix=b"", suffix_before_cd=b""):
    """Writes a zip by hand. entries: list of dicts with name, data, and optional
    method (0 or 8), local_name (forged name in the local header), local_usize
    (forged size in the local header). gap_after: {index: bytes} inserted after
    entry index's data. Returns the zip bytes."""
    out = bytearray(prefix)
    central = bytearray()
    gap_after = gap_after or {}
    for i, e in enumerate(entries):
        data = e["data"]
        method = e.get("method", 8)
        comp = raw_deflate(data) if method == 8 else data
        crc = zlib.crc32(data)
        off = len(out)
        out += zip_local_header(e.get("local_name", e["name"]), method, crc, len(comp),
                                e.get("local_usize", len(data)))
        out += comp
        out += gap_after.get(i, b"")
        central += zip_central_header(e["name"], method, crc, len(comp), len(data), off)
    out += suffix_before_cd
    cd_off = len(out)
    out += central + zip_eocd(len(entries), len(central), cd_off)
    return bytes(out)


# ---------------------------------------------------------------------------
# CRC-32 combination (zlib's crc32_combine), for streams too big to re-hash.

_CRC_OPS = None


def _gf2_times(mat, vec):
    s = 0
    i = 0
    while vec:
        if vec & 1:
            s ^= mat[i]
        vec >>= 1
        i += 1
    return s


def _gf2_square(mat):
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def _crc_ops():
    global _CRC_OPS
    if _CRC_OPS is None:
        bit = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
        op = _gf2_square(_gf2_square(_gf2_square(bit)))   # one zero byte
        ops = [op]
        for _ in range(63):
            ops.append(_gf2_square(ops[-1]))
        _CRC_OPS = ops
    return _CRC_OPS


def crc32_combine(crc1, crc2, len2):
    """CRC-32 of A+B given crc(A)=crc1, crc(B)=crc2 and len(B)=len2."""
    ops = _crc_ops()
    k = 0
    while len2:
        if len2 & 1:
            crc1 = _gf2_times(ops[k], crc1)
        len2 >>= 1
        k += 1
    return crc1 ^ crc2


def crc32_zeros(n):
    chunk = 1 << 20
    c = zlib.crc32(bytes(chunk))
    crc = 0
    full, rest = divmod(n, chunk)
    for _ in range(full):
        crc = crc32_combine(crc, c, chunk)
    return crc32_combine(crc, zlib.crc32(bytes(rest)), rest)


def deflate_zeros(n_mib):
    """Raw deflate stream of n_mib MiB of zeros, built from one compressed MiB
    repeated after full flushes (identical blocks), so 1 GiB takes a second."""
    z = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(z) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(z) + c.flush(zlib.Z_FULL_FLUSH)
    end = c.flush()
    return first + again * (n_mib - 1) + end


# ---------------------------------------------------------------------------
# Bombs


def single_entry_bomb(n_mib=1024, name="zeros.bin"):
    """A zip with one deflate entry of n_mib MiB of zeros (about 1 MB per GiB)."""
    comp = deflate_zeros(n_mib)
    usize = n_mib << 20
    crc = crc32_zeros(usize)
    lfh = zip_local_header(name, 8, crc, len(comp), usize)
    cd = zip_central_header(name, 8, crc, len(comp), usize, 0)
    return lfh + comp + cd + zip_eocd(1, len(cd), len(lfh) + len(comp))


def gzip_bomb(n_mib=1024):
    comp = deflate_zeros(n_mib)
    usize = n_mib << 20
    hdr = struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, 0, 2, 3)
    return hdr + comp + struct.pack("<II", crc32_zeros(usize), usize & 0xFFFFFFFF)


def recursive_bomb(levels=4, fanout=16, leaf_mib=64):
    """42.zip style: a leaf zip holding leaf_mib MiB of zeros, then `levels`
    layers of zips each holding `fanout` copies of the layer below (deflated).
    Nominal size: fanout**levels * leaf_mib MiB."""
    import io
    import zipfile
    blob = single_entry_bomb(leaf_mib, "0.bin")
    for level in range(levels):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for i in range(fanout):
                zf.writestr("%d-%x.zip" % (level, i), blob)
        blob = buf.getvalue()
    return blob


def overlap_bomb_full(n_entries=1500, kernel_mib=100):
    """Every central directory entry points at the same local header and body
    (the "full overlap" form of Fifield's zip bomb)."""
    comp = deflate_zeros(kernel_mib)
    usize = kernel_mib << 20
    crc = crc32_zeros(usize)
    name = "zeros.bin"
    lfh = zip_local_header(name, 8, crc, len(comp), usize)
    cd = b"".join(zip_central_header(name, 8, crc, len(comp), usize, 0) for _ in range(n_entries))
    return lfh + comp + cd + zip_eocd(n_entries, len(cd), len(lfh) + len(comp))


def overlap_bomb_quoted(n_entries=1000, kernel_mib=100):
    """Fifield's quoted-overlap zip bomb (https://www.bamsoftware.com/hacks/zipbomb/):
    each file's deflate data starts with a non-final stored block that quotes
    the next file's local header, then runs into the next file's data, ending
    in one shared kernel. All CRCs and sizes are correct, so only overlap
    detection or output limits can stop it."""
    kernel = deflate_zeros(kernel_mib)
    k_usize = kernel_mib << 20
    k_crc = crc32_zeros(k_usize)
    names = ["%05d" % i for i in range(n_entries)]
    crcs = [0] * n_entries
    csizes = [0] * n_entries
    usizes = [0] * n_entries
    lfhs = [b""] * n_entries
    crcs[-1], csizes[-1], usizes[-1] = k_crc, len(kernel), k_usize
    lfhs[-1] = zip_local_header(names[-1], 8, crcs[-1], csizes[-1], usizes[-1])
    for i in range(n_entries - 2, -1, -1):
        nxt = lfhs[i + 1]
        usizes[i] = len(nxt) + usizes[i + 1]
        csizes[i] = 5 + len(nxt) + csizes[i + 1]
        crcs[i] = crc32_combine(zlib.crc32(nxt), crcs[i + 1], usizes[i + 1])
        lfhs[i] = zip_local_header(names[i], 8, crcs[i], csizes[i], usizes[i])
    out = bytearray()
    offsets = []
    for i in range(n_entries):
        offsets.append(len(out))
        out += lfhs[i]
        if i + 1 < n_entries:
            ln = len(lfhs[i + 1])
            out += struct.pack("<BHH", 0, ln, ln ^ 0xFFFF)
    out += kernel
    cd_off = len(out)
    cd = b"".join(zip_central_header(names[i], 8, crcs[i], csizes[i], usizes[i], offsets[i])
                  for i in range(n_entries))
    out += cd + zip_eocd(n_entries, len(cd), cd_off)
    return bytes(out)


# ---------------------------------------------------------------------------
# Mail


def mail_with_attachment(attachment, filename, body="Please find my application attached.\n",
                         mime=("application", "zip")):
    from email.message import EmailMessage
    msg = EmailMessage()
    msg["From"] = "Applicant <applicant@example.org>"
    msg["To"] = "jobs@example.com"
    msg["Subject"] = "Application"
    msg["Message-ID"] = "<e2e-1@example.org>"
    msg.set_content(body)
    msg.add_attachment(attachment, maintype=mime[0], subtype=mime[1], filename=filename)
    return msg.as_bytes()


# ---------------------------------------------------------------------------
# OOXML (for the benchmark corpus)

_CT = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
       b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
       b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
       b'<Default Extension="xml" ContentType="application/xml"/>'
       b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
       b'officedocument.wordprocessingml.document.main+xml"/></Types>')
_RELS = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         b'relationships/officeDocument" Target="word/document.xml"/></Relationships>')


def minimal_docx(text):
    """A minimal WordprocessingML document; text becomes one paragraph per line."""
    import io
    import zipfile
    from xml.sax.saxutils import escape
    paras = "".join("<w:p><w:r><w:t>%s</w:t></w:r></w:p>" % escape(line)
                    for line in text.decode().splitlines())
    doc = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
           '<w:body>%s</w:body></w:document>' % paras).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CT)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("word/document.xml", doc)
    return buf.getvalue()
