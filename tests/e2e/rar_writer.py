"""Minimal RAR writers for test fixtures: RAR 5 with stored (uncompressed) files,
optionally encrypted with a password, and RAR 4 (below) with the password flag.

No Debian package in main creates RAR archives (rar is non-free; 7-Zip and
libarchive only read them), so the tests make their own, following RARLAB's
"RAR 5.0 archive format" technote:

  signature  52 61 72 21 1A 07 01 00
  header     CRC32 (of what follows, up to the end of the extra area), size
             (vint), type, flags, [extra size], [data size], fields, extra
  main header (type 1), a file header (type 2) per file followed by its data,
  end of archive (type 5)

Encryption is the file encryption extra record (type 0x01): AES-256-CBC with
the key PBKDF2-HMAC-SHA256(password, salt, 2^kdf_count), and the password
check value: PBKDF2 with 32 more iterations, folded to 8 bytes by XOR, then
the first 4 bytes of its SHA-256. The data CRC32 is the plain one (the
"tweaked checksums" flag is not set). AES runs in `openssl enc`, so nothing
beyond the standard library and the openssl command is needed.

Whether the result is a RAR that real readers accept: libarchive reads the
plain archives back (tests/e2e/test_mail_formats.py). The encrypted form
follows the technote but no reader here can decrypt it (Debian's 7zz has no
RAR codec); where 7zz has one, the e2e tests expect it to open them.
"""

import hashlib
import os
import struct
import subprocess
import zlib

SIGNATURE = b"Rar!\x1a\x07\x01\x00"


def vint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def header(htype, flags, body, extra=b"", data_size=None):
    """One block header: CRC32, size, then type, flags, [extra size], [data size], body, extra."""
    hflags = flags | (0x01 if extra else 0) | (0x02 if data_size is not None else 0)
    inner = vint(htype) + vint(hflags)
    if extra:
        inner += vint(len(extra))
    if data_size is not None:
        inner += vint(data_size)
    inner += body + extra
    sized = vint(len(inner)) + inner
    return zlib.crc32(sized).to_bytes(4, "little") + sized


def aes256_cbc(key, iv, data):
    return subprocess.run(["openssl", "enc", "-aes-256-cbc", "-nopad", "-K", key.hex(), "-iv", iv.hex()],
                          input=data, stdout=subprocess.PIPE, check=True).stdout


def encryption_record(password, salt, iv, kdf_count):
    # version 0 (AES-256), flags 0x01 (password check present), KDF count, salt, IV, check.
    body = (vint(0x01) + vint(0) + vint(0x01) + bytes([kdf_count]) + salt + iv
            + check_value(password, salt, kdf_count))
    return vint(len(body)) + body


def check_value(password, salt, kdf_count):
    value = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, (1 << kdf_count) + 32)
    check = bytearray(8)
    for i, b in enumerate(value):
        check[i % 8] ^= b
    return bytes(check) + hashlib.sha256(bytes(check)).digest()[:4]


def rar5(files, password=None, kdf_count=15, encrypt_headers=False):
    """files: {name: bytes}. Returns the archive's bytes. With encrypt_headers
    (and a password) every header after the archive encryption header is
    encrypted too: a 16-byte IV, then the header AES-256-CBC encrypted and
    zero-padded to 16 bytes; names cannot be read without the password."""
    out = bytearray(SIGNATURE)
    wrap = lambda h: h
    if encrypt_headers:
        salt = os.urandom(16)
        key = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, 1 << kdf_count)
        # version 0, flags 0x01 (password check present), KDF count, salt, check value.
        out += header(4, 0, vint(0) + vint(0x01) + bytes([kdf_count]) + salt
                      + check_value(password, salt, kdf_count))

        def wrap(h):
            iv = os.urandom(16)
            return iv + aes256_cbc(key, iv, h + b"\0" * (-len(h) % 16))
    out += wrap(header(1, 0, vint(0)))  # main archive header, no archive flags
    for name, data in files.items():
        name_b = name.encode("utf-8")
        extra = b""
        stored = data
        if password is not None:
            salt, iv = os.urandom(16), os.urandom(16)
            key = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, 1 << kdf_count)
            padded = data + b"\0" * (-len(data) % 16)
            stored = aes256_cbc(key, iv, padded)
            extra = encryption_record(password, salt, iv, kdf_count)
        body = (vint(0x04)                       # file flags: CRC32 present
                + vint(len(data))                # unpacked size
                + vint(0x20)                     # attributes (archive)
                + zlib.crc32(data).to_bytes(4, "little")
                + vint(0)                        # compression: version 0, method 0 (store)
                + vint(0)                        # host OS: Windows
                + vint(len(name_b)) + name_b)
        out += wrap(header(2, 0, body, extra, data_size=len(stored)))
        out += stored
    out += wrap(header(5, 0, vint(0)))  # end of archive
    return bytes(out)


# -- RAR 4 (the RAR 2.9/3.x format), enough to mark entries encrypted ---------
#
# Blocks: HEAD_CRC (low 16 bits of the CRC32 of the rest of the header),
# HEAD_TYPE, HEAD_FLAGS, HEAD_SIZE, then the type's fields. A file header
# (0x74) with flag 0x04 is encrypted (its data is AES-128 in RAR 3.x; here it
# is random bytes: readers decide from the flag, before any data).

RAR4_SIGNATURE = b"Rar!\x1a\x07\x00"


def _rar4_block(htype, flags, fields):
    rest = struct.pack("<BHH", htype, flags, 7 + len(fields)) + fields
    return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest


def rar4(files, encrypted=False):
    """files: {name: bytes}, stored. With encrypted, every file header has the
    password flag and an 8-byte salt, and its data is replaced by random
    bytes of the same size."""
    out = bytearray(RAR4_SIGNATURE)
    out += _rar4_block(0x73, 0, b"\0" * 6)  # archive header: reserved fields
    for name, data in files.items():
        name_b = name.encode("ascii")
        body = os.urandom(len(data)) if encrypted else data
        flags = 0x8000 | (0x04 | 0x400 if encrypted else 0)  # LONG_BLOCK, PASSWORD, SALT
        fields = struct.pack("<IIBIIBBHI", len(body), len(data), 2, zlib.crc32(data),
                             0x5B7A0000, 29, 0x30, len(name_b), 0x20) + name_b
        if encrypted:
            fields += os.urandom(8)
        out += _rar4_block(0x74, flags, fields) + body
    out += _rar4_block(0x7B, 0x4000, b"")  # end of archive
    return bytes(out)
