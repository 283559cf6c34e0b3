"""Synthetic upload files for the HTTP benchmarks (bench/http_scan.sh,
bench/isolation_overhead.sh): a one-page PDF and a small DOCX, each padded
with bytes from the caller's seeded random generator, so every run sends the
same files."""
import io
import zipfile


def pdf(rnd, size):
    """A valid one-page PDF of about `size` bytes (a content stream padded with random bytes)."""
    text = b"BT /F1 12 Tf 72 720 Td (Curriculum vitae) Tj ET\n"
    pad = bytes(rnd.getrandbits(8) for _ in range(size - 600))
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n" % (len(text) + len(pad)) + text + pad + b"\nendstream"]
    body, offs = b"%PDF-1.4\n", []
    for i, o in enumerate(objs, 1):
        offs.append(len(body))
        body += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    body += b"".join(b"%010d 00000 n \n" % o for o in offs)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return body


def docx(rnd, size):
    """A minimal DOCX with a one-word body and a stored PNG of `size` random bytes."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        z.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>CV</w:t></w:r></w:p></w:body></w:document>')
        z.writestr("word/media/image1.png", b"\x89PNG\r\n\x1a\n" + bytes(rnd.getrandbits(8) for _ in range(size)), zipfile.ZIP_STORED)
    return b.getvalue()
